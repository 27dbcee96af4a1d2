"""Bearer-token authentication and scope authorization (gateway/auth.py, gateway/authz.py):
the verifier's case table, both APIs' refusals, key rotation, the audit's caller, and the
refusal to listen beyond loopback without an authentication decision."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cervix.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from cervixai.clinical.proto import record_to_proto
from cervixai.clinical.schema import Stage
from cervixai.clinical.validate import validate_record
from gateway.auth import AuthConfig, Authenticator, KeySet, Unauthenticated, identity_from
from gateway.authz import grpc_scope, http_scope
from gateway.config import GatewayConfig
from gateway.http_api import create_app
from gateway.service import Gateway

with warnings.catch_warnings():  # starlette's notice about httpx2; the client works the same
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ISSUER = "https://idp.test/realms/hospital"
AUDIENCE = "cervixai-gateway"
BOTH = "cervixai.assess cervixai.read"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NEW_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # rotated in later
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(private_key: Any, kid: str) -> dict[str, Any]:
    public = private_key.public_key()
    algorithm = jwt.algorithms.ECAlgorithm if isinstance(public, ec.EllipticCurvePublicKey) \
        else jwt.algorithms.RSAAlgorithm
    return {**json.loads(algorithm.to_jwk(public)), "kid": kid, "use": "sig"}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "dr-house", "iat": now, "exp": now + 300,
            "scope": BOTH}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any] | None = None, *, key: Any = RSA_KEY, kid: str | None = "k1",
         algorithm: str = "RS256") -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(payload or claims(), key, algorithm=algorithm, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any] | None = None) -> str:
    """``alg: none``: no signature at all."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
    return f"{header}.{_b64(json.dumps(payload or claims()).encode())}."


def hmac_with_public_key() -> str:
    """The classic confusion attack: HS256 keyed with the server's own public key PEM."""
    secret = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    signing = (f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'}).encode())}."
               f"{_b64(json.dumps(claims()).encode())}")
    mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(mac)}"


def config(**changes: Any) -> AuthConfig:
    values: dict[str, Any] = {"mode": "jwt", "issuer": ISSUER, "audience": AUDIENCE,
                              "jwks_url": "https://idp.test/certs"}
    values.update(changes)
    return AuthConfig(**values)


def authenticator(*keys: dict[str, Any]) -> Authenticator:
    document = {"keys": list(keys) or [jwk(RSA_KEY, "k1"), jwk(EC_KEY, "e1")]}
    return Authenticator(config(), KeySet(config(), fetch=lambda: document))


# ------------------------------------------------------------------------------ the verifier

REFUSED = [
    ("garbage", lambda: "not-a-token", "not a JWT"),
    ("bad signature", lambda: sign(key=NEW_KEY), "signature does not verify"),
    ("wrong issuer", lambda: sign(claims(iss="https://evil.test")), "issuer is not trusted"),
    ("wrong audience", lambda: sign(claims(aud="other-api")), "not meant for this audience"),
    ("expired", lambda: sign(claims(exp=int(time.time()) - 31)), "expired"),
    ("not yet valid", lambda: sign(claims(nbf=int(time.time()) + 120)), "not valid yet"),
    ("no exp", lambda: sign(claims(exp=None)), "lacks the exp claim"),
    ("no aud", lambda: sign(claims(aud=None)), "lacks the aud claim"),
    ("alg none", unsigned, "algorithm 'none' is not accepted"),
    ("HS256 keyed with the public key", hmac_with_public_key,
     "algorithm 'HS256' is not accepted"),
    ("unknown kid", lambda: sign(key=NEW_KEY, kid="k9"), "unknown key"),
    ("no kid among two keys", lambda: sign(kid=None), "names no key"),
    ("RS256 header on the EC key", lambda: sign(kid="e1"), "does not match its key"),
    ("no subject", lambda: sign(claims(sub=None)), "names no subject"),
]


@pytest.mark.parametrize(("case", "token", "reason"), REFUSED, ids=[c[0] for c in REFUSED])
def test_the_verifier_refuses(case: str, token: Any, reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        authenticator().verify(token())


ACCEPTED = [
    ("RS256, scope string", lambda: sign(), "dr-house", {"cervixai.assess", "cervixai.read"}),
    ("ES256", lambda: sign(key=EC_KEY, kid="e1", algorithm="ES256"), "dr-house",
     {"cervixai.assess", "cervixai.read"}),
    ("PS256", lambda: sign(algorithm="PS256"), "dr-house", {"cervixai.assess", "cervixai.read"}),
    ("expired within the leeway", lambda: sign(claims(exp=int(time.time()) - 10)), "dr-house",
     {"cervixai.assess", "cervixai.read"}),
    ("scp list, client_id", lambda: sign(claims(sub=None, scope=None, client_id="his-1",
                                                scp=["cervixai.assess"])),
     "his-1", {"cervixai.assess"}),
]


@pytest.mark.parametrize(("case", "token", "subject", "scopes"), ACCEPTED,
                         ids=[c[0] for c in ACCEPTED])
def test_the_verifier_accepts(case: str, token: Any, subject: str, scopes: set[str]) -> None:
    identity = authenticator().verify(token())
    assert (identity.subject, set(identity.scopes)) == (subject, scopes)


def test_a_single_key_needs_no_kid() -> None:
    assert authenticator(jwk(RSA_KEY, "k1")).verify(sign(kid=None)).subject == "dr-house"


@pytest.mark.parametrize(("claim_set", "subject", "scopes"), [
    ({"sub": "u", "scp": "a b"}, "u", {"a", "b"}),          # Entra ID delegated: a string
    ({"azp": "app", "roles": ["cervixai.read"]}, "app", {"cervixai.read"}),
    ({"sub": "u", "scope": "", "scp": [1, "x"]}, "u", {"x"}),
])
def test_identity_from_claims(claim_set: dict[str, Any], subject: str,
                              scopes: set[str]) -> None:
    identity = identity_from(claim_set)
    assert (identity.subject, set(identity.scopes)) == (subject, scopes)


@pytest.mark.parametrize(("changes", "message"), [
    ({"mode": "basic"}, "must be jwt or none"),
    ({"algorithms": ("RS256", "HS256")}, "HS256 not allowed"),
    ({"algorithms": ("none",)}, "none not allowed"),
    ({"issuer": None}, "needs CERVIXAI_GATEWAY_AUTH_ISSUER"),
    ({"audience": ""}, "needs CERVIXAI_GATEWAY_AUTH_ISSUER and CERVIXAI_GATEWAY_AUTH_AUDIENCE"),
    ({"jwks_url": None}, "one of CERVIXAI_GATEWAY_AUTH_JWKS_URL"),
    ({"jwks_file": "/keys.json"}, "one of CERVIXAI_GATEWAY_AUTH_JWKS_URL"),
    ({"jwks_url": "http://idp.test/certs"}, "must be https"),
    ({"leeway_seconds": -1}, "LEEWAY_SECONDS must not be negative"),
])
def test_bad_auth_configuration_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(**changes)


def test_auth_configuration_from_the_environment() -> None:
    env = {"CERVIXAI_GATEWAY_AUTH": "JWT", "CERVIXAI_GATEWAY_AUTH_ISSUER": ISSUER,
           "CERVIXAI_GATEWAY_AUTH_AUDIENCE": AUDIENCE,
           "CERVIXAI_GATEWAY_AUTH_JWKS_URL": "http://127.0.0.1:9/certs",
           "CERVIXAI_GATEWAY_AUTH_ALGORITHMS": "ES256, RS256",
           "CERVIXAI_GATEWAY_AUTH_JWKS_REFRESH_SECONDS": "5"}
    auth = GatewayConfig.from_env(env).auth
    assert (auth.enabled, auth.algorithms, auth.jwks_refresh_seconds, auth.leeway_seconds) == (
        True, ("ES256", "RS256"), 5.0, 30.0)
    assert GatewayConfig.from_env({}).auth.mode is None


def test_an_unknown_kid_fetches_the_keys_again_at_most_every_refresh_interval() -> None:
    now = [0.0]
    fetches: list[float] = []
    served = {"keys": [jwk(RSA_KEY, "k1")]}

    def fetch() -> dict[str, Any]:
        fetches.append(now[0])
        return served

    keys = KeySet(config(jwks_refresh_seconds=60), fetch=fetch, clock=lambda: now[0])
    keys.load()
    auth = Authenticator(config(), keys)
    rotated = sign(key=NEW_KEY, kid="k2")
    now[0] = 61.0
    with pytest.raises(Unauthenticated, match="unknown key"):
        auth.verify(rotated)              # fetched again: k2 is not published yet
    served["keys"].append(jwk(NEW_KEY, "k2"))
    now[0] = 90.0
    with pytest.raises(Unauthenticated, match="unknown key"):
        auth.verify(rotated)              # too soon to fetch again
    now[0] = 122.0
    assert auth.verify(rotated).subject == "dr-house"
    assert auth.verify(sign()).subject == "dr-house"   # the old key still works
    assert fetches == [0.0, 61.0, 122.0]


def test_keys_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(RSA_KEY, "k1"), {"kty": "oct", "k": "c2VjcmV0"}]}))
    auth = Authenticator(config(jwks_url=None, jwks_file=str(path)))
    assert auth.verify(sign()).subject == "dr-house"   # the symmetric key was left out
    path.write_text("{not json")
    with pytest.raises(ValueError, match="Expecting property name"):
        Authenticator(config(jwks_url=None, jwks_file=str(path)))


def test_keys_that_cannot_be_fetched_are_said_so_and_fetched_again() -> None:
    now = [0.0]
    served: list[Any] = []

    def fetch() -> dict[str, Any]:
        if not served:
            raise OSError("connection refused")
        return {"keys": served}

    keys = KeySet(config(jwks_refresh_seconds=10), fetch=fetch, clock=lambda: now[0])
    keys.load()                                   # at start: the provider is down, logged
    auth = Authenticator(config(), keys)
    with pytest.raises(Unauthenticated, match="keys could not be fetched"):
        auth.verify(sign())                       # tried again at once: load() failed
    served.append(jwk(RSA_KEY, "k1"))
    with pytest.raises(Unauthenticated, match="keys could not be fetched"):
        auth.verify(sign())                       # too soon after that try
    now[0] = 10.0
    assert auth.verify(sign()).subject == "dr-house"


# ---------------------------------------------------------- the scope table, HTTP in-process

@pytest.mark.parametrize(("method", "path", "scope"), [
    ("POST", "/v1/assessments", "cervixai.assess"),
    ("GET", "/v1/assessments", "cervixai.read"),
    ("GET", "/v1/models", "cervixai.read"),
    ("GET", "/v1/schema", "cervixai.read"),
    ("GET", "/metrics", "cervixai.read"),
    ("GET", "/docs", None),
    ("GET", "/docs/assets/swagger-ui-bundle.js", None),
    ("GET", "/openapi.json", "cervixai.read"),
    ("GET", "/nowhere", "cervixai.read"),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/", None),
    ("GET", "/static/app.js", None),
])
def test_the_http_scope_table(method: str, path: str, scope: str | None) -> None:
    assert http_scope(method, path) == scope


@pytest.mark.parametrize(("method", "scope"), [
    ("/cervix.v1.Gateway/Assess", "cervixai.assess"),
    ("/cervix.v1.Gateway/AssessStream", "cervixai.assess"),
    ("/cervix.v1.Gateway/Unknown", "cervixai.assess"),
    ("/grpc.health.v1.Health/Check", None),
    ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", None),
])
def test_the_grpc_scope_table(method: str, scope: str | None) -> None:
    assert grpc_scope(method) == scope


@pytest.fixture
def app_client() -> Iterator[TestClient]:
    gateway = Gateway(GatewayConfig.from_env({}))
    with TestClient(create_app(gateway, authenticator())) as client:
        yield client
    gateway.close()


@pytest.mark.parametrize(("case", "token", "reason"),
                         [("no token", lambda: None, None), *REFUSED],
                         ids=["no token", *[c[0] for c in REFUSED]])
def test_http_answers_401_to_a_missing_or_invalid_token(app_client: TestClient, case: str,
                                                        token: Any, reason: str | None) -> None:
    value = token()
    headers = {"Authorization": f"Bearer {value}"} if value else {}
    reply = app_client.get("/v1/schema", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "UNAUTHENTICATED"
    challenge = reply.headers["www-authenticate"]
    if reason is None:
        assert challenge == 'Bearer realm="cervixai"'   # RFC 6750: no error without a token
    else:
        assert challenge.startswith('Bearer realm="cervixai", error="invalid_token", '
                                    'error_description="')
        assert reason.replace("'", "") in challenge.replace("'", "")
        assert value not in challenge and value not in reply.text


@pytest.mark.parametrize(("path", "method", "granted", "status"), [
    ("/v1/schema", "GET", "cervixai.assess", 403),
    ("/metrics", "GET", "cervixai.assess", 403),
    ("/openapi.json", "GET", "cervixai.assess", 403),
    ("/v1/assessments", "POST", "cervixai.read", 403),
    ("/v1/schema", "GET", "cervixai.read", 200),
    ("/metrics", "GET", "cervixai.read", 200),
    ("/openapi.json", "GET", "cervixai.read", 200),
])
def test_http_needs_the_scope_of_the_table(app_client: TestClient, path: str, method: str,
                                           granted: str, status: int) -> None:
    reply = app_client.request(method, path,
                               headers={"Authorization": f"Bearer {sign(claims(scope=granted))}"})
    assert reply.status_code == status
    if status == 403:
        assert reply.json()["error"]["code"] == "PERMISSION_DENIED"
        assert 'error="insufficient_scope"' in reply.headers["www-authenticate"]


@pytest.mark.parametrize("path", ["/healthz", "/", "/static/app.js"])
def test_http_leaves_probes_and_the_page_open(app_client: TestClient, path: str) -> None:
    assert app_client.get(path).status_code == 200


def test_the_openapi_document_declares_the_bearer_scheme(app_client: TestClient) -> None:
    document = app_client.get("/openapi.json",
                              headers={"Authorization": f"Bearer {sign()}"}).json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assess = document["paths"]["/v1/assessments"]["post"]
    assert assess["security"] == [{"bearer": ["cervixai.assess"]}]
    assert {"401", "403"} <= assess["responses"].keys()
    assert document["paths"]["/healthz"]["get"]["security"] == []


# ------------------------------------------------------------------ the real gateway process

class Jwks:
    """A JWKS endpoint on loopback whose key list a test can change while it runs."""

    def __init__(self) -> None:
        self.keys = [jwk(RSA_KEY, "k1")]
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    served = Jwks()
    yield served
    served.server.shutdown()


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], jwks: Jwks) -> dict[str, str]:
    """The conftest's environment with bearer-token authentication against :class:`Jwks`
    (the served_gateway fixture picks it up)."""
    return {**gateway_env, "CERVIXAI_GATEWAY_AUTH": "jwt", "CERVIXAI_GATEWAY_AUTH_ISSUER": ISSUER,
            "CERVIXAI_GATEWAY_AUTH_AUDIENCE": AUDIENCE,
            "CERVIXAI_GATEWAY_AUTH_JWKS_URL": jwks.url,
            "CERVIXAI_GATEWAY_AUTH_JWKS_REFRESH_SECONDS": "0"}


def _post(http: Any, files: list[tuple[str, bytes]], record: dict[str, object],
          token: str | None) -> Any:
    return http.post("/v1/assessments", data={"stage": "preoperative",
                                              "clinical": json.dumps(record)},
                     files=[("files", (n, d, "application/dicom")) for n, d in files],
                     headers={"Authorization": f"Bearer {token}"} if token else {})


def test_the_served_gateway_authenticates_http(served_gateway: Any, jwks: Jwks,
                                               series_files: list[tuple[str, bytes]],
                                               preoperative: dict[str, object]) -> None:
    _, http, audit, fakes = served_gateway
    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code == 200
    refused = _post(http, series_files, preoperative, None)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHENTICATED"
    assert fakes.received["segmenter"] == []      # refused before anything reached a backend
    expired = _post(http, series_files, preoperative,
                    sign(claims(exp=int(time.time()) - 120)))
    assert expired.status_code == 401 and "expired" in expired.headers["www-authenticate"]
    assert _post(http, series_files, preoperative,
                 sign(claims(scope="cervixai.read"))).status_code == 403

    reply = _post(http, series_files, preoperative, sign(claims(sub="dr-quinn")))
    assert reply.status_code == 200, reply.text
    line = json.loads(audit.read_text().splitlines()[-1])
    assert (line["request_id"], line["caller"], line["code"]) == (reply.json()["request_id"],
                                                                  "dr-quinn", "OK")
    assert "scope" not in audit.read_text() and ISSUER not in audit.read_text()

    # the identity provider rotates: a new key, published after the gateway started
    rotated = sign(claims(sub="his-2"), key=NEW_KEY, kid="k2")
    assert http.get("/v1/schema", headers={"Authorization": f"Bearer {rotated}"}
                    ).status_code == 401
    jwks.keys.append(jwk(NEW_KEY, "k2"))
    assert http.get("/v1/schema", headers={"Authorization": f"Bearer {rotated}"}
                    ).status_code == 200
    assert 'code="401"' in http.get("/metrics", headers={
        "Authorization": f"Bearer {sign()}"}).text


def test_the_served_gateway_authenticates_grpc(served_gateway: Any,
                                               series_files: list[tuple[str, bytes]],
                                               preoperative: dict[str, object]) -> None:
    process, _, audit, _ = served_gateway
    request = gateway_pb2.AssessRequest(
        stage=common_pb2.STAGE_PREOPERATIVE,
        clinical=record_to_proto(validate_record(preoperative, Stage.PREOPERATIVE)),
        dicom_files=[gateway_pb2.DicomFile(name=n, data=d) for n, d in series_files])
    with grpc.insecure_channel(process.address, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024)]) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING   # open
        stub = gateway_pb2_grpc.GatewayStub(channel)
        for metadata, code in [
                ((), grpc.StatusCode.UNAUTHENTICATED),
                ((("authorization", f"Bearer {unsigned()}"),), grpc.StatusCode.UNAUTHENTICATED),
                ((("authorization", f"Bearer {sign(claims(aud='x'))}"),),
                 grpc.StatusCode.UNAUTHENTICATED),
                ((("authorization", f"Bearer {sign(claims(scope='cervixai.read'))}"),),
                 grpc.StatusCode.PERMISSION_DENIED)]:
            with pytest.raises(grpc.RpcError) as info:
                stub.Assess(request, timeout=30, metadata=metadata)
            assert info.value.code() is code, (metadata, info.value.details())
        with pytest.raises(grpc.RpcError) as info:
            stub.AssessStream(iter([gateway_pb2.AssessChunk(header=gateway_pb2.AssessHeader(
                stage=common_pb2.STAGE_PREOPERATIVE))]), timeout=30)
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
        reply = stub.Assess(request, timeout=30, metadata=(
            ("authorization", f"Bearer {sign(claims(sub=None, client_id='his-1'))}"),))
    assert reply.request_id
    line = json.loads(audit.read_text().splitlines()[-1])
    assert (line["api"], line["caller"], line["code"]) == ("grpc", "his-1", "OK")


@pytest.mark.parametrize(("auth", "refused"), [(None, True), ("none", False)])
def test_a_gateway_beyond_loopback_needs_an_authentication_decision(
        gateway_env: dict[str, str], unused_port: Any, auth: str | None, refused: bool) -> None:
    env = {k: v for k, v in {**os.environ, **gateway_env}.items()
           if not k.startswith("CERVIXAI_GATEWAY_AUTH")}
    env.update({"CERVIXAI_GATEWAY_HTTP_HOST": "0.0.0.0", "CERVIXAI_GATEWAY_HOST": "127.0.0.1",
                "CERVIXAI_GATEWAY_PORT": str(unused_port())})
    if auth:
        env["CERVIXAI_GATEWAY_AUTH"] = auth
    process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, stderr = process.communicate(timeout=20 if refused else 4)
    except subprocess.TimeoutExpired:   # still serving: it started
        process.terminate()
        _, stderr = process.communicate(timeout=30)
        assert not refused, stderr
        assert "authentication is OFF" in stderr
        return
    assert refused, stderr
    assert process.returncode == 2
    assert stderr.strip().splitlines() == [
        "gateway: refusing to listen on HTTP 0.0.0.0 / gRPC 127.0.0.1 without authentication: "
        "set CERVIXAI_GATEWAY_AUTH=jwt (with its issuer, audience and JWKS; docs/security.md), "
        "or CERVIXAI_GATEWAY_AUTH=none to accept every caller"]
