"""TLS and mutual TLS between the system's processes, with certificates made here (cryptography):
a server that requires client certificates refuses a client without one, or with one from
another CA; a rotated certificate is served to new connections without a restart; the plaintext
health port answers the kubelet; the gateway presents its client certificate to the listener."""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cervixai.processes import ServiceProcess, free_port


def check(port: int, root: bytes | None, client: tuple[bytes, bytes] | None = None) -> Any:
    """The health status over TLS (``root``: the CA trusted; ``client``: its cert and key), or
    the gRPC error."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root, certificate_chain=client[0] if client else None,
        private_key=client[1] if client else None)
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        try:
            return health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=3).status
        except grpc.RpcError as e:
            return e.code()


SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def pki(tmp_path: Path, certificates: Any) -> dict[str, Any]:
    c = certificates
    ca, other = c.ca("cervixai test CA"), c.ca("another CA")
    server_cert, server_key = c.issue(ca, "cervixai-listener", server=True)
    return {"ca": ca, "other": other, "certs": c,
            "ca_file": c.write(tmp_path / "ca.pem", c.pem(ca[1])),
            "cert_file": c.write(tmp_path / "tls.crt", server_cert),
            "key_file": c.write(tmp_path / "tls.key", server_key),
            "client": c.issue(ca, "cervixai-gateway", server=False),
            "stranger": c.issue(other, "someone", server=False)}


def start_listener(tmp_path: Path, pki: dict[str, Any]) -> tuple[ServiceProcess, int]:
    """The listener (a gRPC server of the system that needs no model bundle) with mutual TLS
    and a plaintext health port; waits on that port."""
    port, health_port = free_port(), free_port()
    env = {**os.environ, "CERVIXAI_LISTENER_SPOOL": str(tmp_path / "spool"),
           "CERVIXAI_LISTENER_HOST": "127.0.0.1", "CERVIXAI_LISTENER_PORT": str(port),
           "CERVIXAI_LISTENER_DICOM_PORT": str(free_port()),
           "CERVIXAI_LISTENER_HEALTH_PORT": str(health_port),
           "CERVIXAI_LISTENER_TLS_CERT": str(pki["cert_file"]),
           "CERVIXAI_LISTENER_TLS_KEY": str(pki["key_file"]),
           "CERVIXAI_LISTENER_TLS_CLIENT_CA": str(pki["ca_file"])}
    process = ServiceProcess("listener", health_port, env, tmp_path / "listener.log")
    process.wait_serving("cervix.v1.Studies", timeout=60)   # on the plaintext health port
    return process, port


def test_mutual_tls_refuses_clients_without_a_trusted_certificate_and_rotates(
        tmp_path: Path, pki: dict[str, Any]) -> None:
    process, port = start_listener(tmp_path, pki)
    try:
        ca = pki["certs"].pem(pki["ca"][1])
        assert check(port, ca, pki["client"]) == SERVING
        assert check(port, ca) == grpc.StatusCode.UNAVAILABLE                  # no certificate
        assert check(port, ca, pki["stranger"]) == grpc.StatusCode.UNAVAILABLE  # another CA's
        # the server's certificate rotated in place (now from the other CA): new connections get
        # it, without a restart; a client trusting only the old CA no longer connects
        other_ca = pki["certs"].pem(pki["other"][1])
        assert check(port, other_ca, pki["client"]) == grpc.StatusCode.UNAVAILABLE
        cert, key = pki["certs"].issue(pki["other"], "cervixai-listener", server=True)
        pki["certs"].write(pki["key_file"], key)
        pki["certs"].write(pki["cert_file"], cert)
        time.sleep(0.1)
        assert check(port, other_ca, pki["client"]) == SERVING
        assert check(port, ca, pki["client"]) == grpc.StatusCode.UNAVAILABLE
        assert process.process.poll() is None
    finally:
        process.stop()


def test_the_gateway_presents_its_client_certificate(tmp_path: Path, pki: dict[str, Any]
                                                     ) -> None:
    listener, port = start_listener(tmp_path, pki)
    cert_file = pki["certs"].write(tmp_path / "gateway.crt", pki["client"][0])
    key_file = pki["certs"].write(tmp_path / "gateway.key", pki["client"][1])
    gateways = []
    try:
        answers = {}
        for name, client in (("with", {"CERVIXAI_BACKEND_TLS_CERT": str(cert_file),
                                       "CERVIXAI_BACKEND_TLS_KEY": str(key_file)}),
                             ("without", {})):
            http_port = free_port()
            env = {**os.environ, "CERVIXAI_GATEWAY_PORT": str(free_port()),
                   "CERVIXAI_GATEWAY_HTTP_PORT": str(http_port),
                   "CERVIXAI_LISTENER_ADDRESS": f"127.0.0.1:{port}",
                   "CERVIXAI_BACKEND_TLS_CA": str(pki["ca_file"]), **client}
            gateway = ServiceProcess("gateway", int(env["CERVIXAI_GATEWAY_PORT"]), env,
                                     tmp_path / f"gateway-{name}.log")
            gateways.append(gateway)
            gateway.wait_serving("", timeout=60)
            reply = httpx.get(f"{gateway.wait_http(http_port)}v1/studies/1.2.3", timeout=10)
            answers[name] = (reply.status_code, reply.json()["error"]["code"])
        # through mutual TLS the listener answers (it knows no such study); without the
        # client certificate the handshake fails and the listener is unavailable
        assert answers == {"with": (404, "NOT_FOUND"), "without": (503, "UNAVAILABLE")}
    finally:
        for gateway in gateways:
            gateway.stop()
        listener.stop()


def test_the_gateway_serves_https_and_picks_up_a_rotated_certificate(
        tmp_path: Path, pki: dict[str, Any]) -> None:
    http_port = free_port()
    env = {**os.environ, "CERVIXAI_GATEWAY_PORT": str(free_port()),
           "CERVIXAI_GATEWAY_HTTP_PORT": str(http_port),
           "CERVIXAI_GATEWAY_HTTP_TLS_CERT": str(pki["cert_file"]),
           "CERVIXAI_GATEWAY_HTTP_TLS_KEY": str(pki["key_file"])}
    gateway = ServiceProcess("gateway", int(env["CERVIXAI_GATEWAY_PORT"]), env,
                             tmp_path / "gateway.log")
    url = f"https://127.0.0.1:{http_port}/healthz"
    certs = pki["certs"]
    ca_file, other_file = pki["ca_file"], certs.write(tmp_path / "other.pem",
                                                      certs.pem(pki["other"][1]))

    def get(trusted: Path) -> httpx.Response | str:
        try:
            return httpx.get(url, verify=ssl.create_default_context(cafile=str(trusted)),
                             timeout=5)
        except httpx.ConnectError as e:
            return type(e).__name__

    try:
        gateway.wait_serving("", timeout=60)
        for _ in range(50):
            reply = get(ca_file)
            if isinstance(reply, httpx.Response):
                break
            time.sleep(0.2)
        assert isinstance(reply, httpx.Response) and reply.status_code == 200
        assert reply.headers["strict-transport-security"].startswith("max-age=")
        assert get(other_file) == "ConnectError"        # the client verifies the certificate
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("https", "http", 1), timeout=5)   # no plaintext beside it
        cert, key = pki["certs"].issue(pki["other"], "cervixai-gateway", server=True)
        pki["certs"].write(pki["key_file"], key)
        pki["certs"].write(pki["cert_file"], cert)
        for _ in range(40):   # checked every 5 s
            if isinstance(get(other_file), httpx.Response):
                break
            time.sleep(0.5)
        assert get(other_file).status_code == 200          # type: ignore[union-attr]
        assert get(ca_file) == "ConnectError"
        assert gateway.process.poll() is None
    finally:
        gateway.stop()
