"""Certificates as the cert-manager component asks for them (names, usages, key type) work with
the services' own TLS: a server configured as the production overlay configures it accepts its
caller for the name the caller dials, refuses a wrong name and, under mutual TLS, every
certificate but a client one of its CA (and none at all); its plaintext health port answers the
kubelet's probe."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cervixai.processes import free_port
from cervixai.service.config import ServerConfig
from cervixai.service.server import create_server
from cervixai.service.tls import ClientTLS

Manifest = dict[str, Any]
Key = ec.EllipticCurvePrivateKey
WITH_CERT_MANAGER = "production+cert-manager"   # conftest.py renders it
# cert-manager's usages that are X.509 extended key usages
EXTENDED_USAGES = {"server auth": ExtendedKeyUsageOID.SERVER_AUTH,
                   "client auth": ExtendedKeyUsageOID.CLIENT_AUTH}
SERVING = health_pb2.HealthCheckResponse.SERVING
REFUSED = grpc.StatusCode.UNAVAILABLE   # a failed handshake
# (server, its secret, whose ConfigMap names the address dialled, the variable, the client's
# secret: the gateway's client certificate, or none where the server asks for none)
CALLS = [
    ("segmenter", "cervixai-segmenter-tls", "gateway", "CERVIXAI_SEGMENTER_ADDRESS",
     "cervixai-gateway-client-tls"),
    ("classifier", "cervixai-classifier-tls", "gateway", "CERVIXAI_CLASSIFIER_ADDRESS",
     "cervixai-gateway-client-tls"),
    ("survival", "cervixai-survival-tls", "gateway", "CERVIXAI_SURVIVAL_ADDRESS",
     "cervixai-gateway-client-tls"),
    ("listener", "cervixai-listener-tls", "gateway", "CERVIXAI_LISTENER_ADDRESS",
     "cervixai-gateway-client-tls"),
    ("gateway", "cervixai-gateway-tls", "listener", "CERVIXAI_LISTENER_GATEWAY_ADDRESS", None),
]


def config_data(objects: list[Manifest], service: str) -> dict[str, str]:
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"
                     and o["metadata"]["name"].startswith(f"cervixai-{service}-")]
    data: dict[str, str] = config_map["data"]
    return data


def _builder(subject: str, issuer: str, key: Key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1)))


class Authority:
    """The internal CA, signing what a Certificate spec asks for as cert-manager's CA issuer
    does: the spec's common name, DNS names and usages, the CA certificate as ca.crt."""

    def __init__(self, spec: Manifest) -> None:
        assert spec["isCA"] is True
        self.name = spec["commonName"]
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = _builder(self.name, self.name, self.key).add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(
            self.key, hashes.SHA256())

    def issue(self, spec: Manifest, folder: Path) -> Path:
        """The secret's files (tls.crt, tls.key, ca.crt) in ``folder``."""
        assert spec["privateKey"]["algorithm"] == "ECDSA" and spec["privateKey"]["size"] == 256
        key = ec.generate_private_key(ec.SECP256R1())
        usages = spec["usages"]
        builder = _builder(spec["commonName"], self.name, key).add_extension(x509.KeyUsage(
            digital_signature="digital signature" in usages, content_commitment=False,
            key_encipherment="key encipherment" in usages, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
            decipher_only=False), critical=True).add_extension(x509.ExtendedKeyUsage(
                [EXTENDED_USAGES[u] for u in usages if u in EXTENDED_USAGES]), critical=False)
        if spec.get("dnsNames"):
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(name) for name in spec["dnsNames"]]), critical=False)
        folder.mkdir()
        pem = serialization.Encoding.PEM
        (folder / "tls.crt").write_bytes(builder.sign(self.key, hashes.SHA256()).public_bytes(pem))
        (folder / "tls.key").write_bytes(key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (folder / "ca.crt").write_bytes(self.cert.public_bytes(pem))
        return folder


def check(port: int, trust: Path, client: Path | None, name: str) -> Any:
    """Health over TLS as a cervixai client calls it (ClientTLS): trusting ``trust``'s ca.crt,
    presenting ``client``'s certificate if any, verifying the server as ``name``; or the code."""
    tls = ClientTLS(str(trust / "ca.crt"), *(
        (str(client / "tls.crt"), str(client / "tls.key")) if client else (None, None)))
    options = [("grpc.ssl_target_name_override", name)]
    with grpc.secure_channel(f"127.0.0.1:{port}", tls.credentials(), options=options) as channel:
        try:
            return health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5).status
        except grpc.RpcError as e:
            return e.code()


@pytest.mark.parametrize(("server", "secret", "caller", "variable", "client_secret"), CALLS,
                         ids=[c[0] for c in CALLS])
def test_issued_certificates_work_for_the_names_dialled(
        rendered: dict[str, list[Manifest]], tmp_path: Path, server: str, secret: str,
        caller: str, variable: str, client_secret: str | None) -> None:
    objects = rendered[WITH_CERT_MANAGER]
    specs = {o["spec"]["secretName"]: o["spec"] for o in objects if o["kind"] == "Certificate"}
    (ca,) = [spec for spec in specs.values() if spec.get("isCA")]
    authority = Authority(ca)
    files = authority.issue(specs[secret], tmp_path / "server")
    client = authority.issue(specs[client_secret], tmp_path / "client") if client_secret else None
    health_port = free_port()
    app = create_server(ServerConfig(
        host="127.0.0.1", port=0, tls_cert=str(files / "tls.crt"), tls_key=str(files / "tls.key"),
        tls_client_ca=str(files / "ca.crt") if client else None, health_port=health_port,
        reflection=False), server, [], [])
    app.start()
    app.set_serving(True)
    try:
        name = config_data(objects, caller)[variable].rpartition("/")[2].rpartition(":")[0]
        assert check(app.port, files, client, name) == SERVING
        assert check(app.port, files, client, "cervixai-elsewhere") == REFUSED
        if client is not None:
            # Only a client certificate is one: the server's own (server auth only) is refused,
            # and so is no certificate at all.
            assert check(app.port, files, files, name) == REFUSED
            assert check(app.port, files, None, name) == REFUSED
        with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:   # the kubelet
            assert health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5).status == SERVING
    finally:
        app.stop(0)
