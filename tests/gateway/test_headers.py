"""HTTP hardening: security headers on every reply, no server banner, cross-origin writes
refused unless the origin is configured (then CORS for it)."""

from __future__ import annotations

import pytest

from cervixai.processes import free_port


@pytest.fixture
def started(start_service, gateway_env, gateway_client):  # type: ignore[no-untyped-def]
    def start(**extra: str):  # type: ignore[no-untyped-def]
        env = {**gateway_env, **extra}
        start_service("gateway", prefix="CERVIXAI_GATEWAY", env=env)
        return gateway_client(env, timeout=30)
    return start


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/v1/schema", "/openapi.json",
                                  "/healthz", "/no/such/page"])
def test_every_reply_carries_the_security_headers(started, path: str) -> None:
    http = started()
    reply = http.get(path)
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["x-frame-options"] == "DENY"
    assert "server" not in reply.headers                 # no version banner
    assert "strict-transport-security" not in reply.headers   # plain HTTP here
    assert "access-control-allow-origin" not in reply.headers


def test_the_page_has_no_inline_script_and_https_gets_hsts(started) -> None:
    http = started()
    page = http.get("/").text
    assert "<script>" not in page and 'src="/static/app.js"' in page
    assert "onclick=" not in page and "style=" not in page
    hsts = http.get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers
    assert hsts["strict-transport-security"].startswith("max-age=")
    docs = http.get("/docs")   # Swagger UI from the gateway itself: no CDN, no inline script
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "http" not in policy and "<script>" not in docs.text
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
                  "/static/docs.js"):
        assert http.get(asset).status_code == 200, asset


def test_a_cross_origin_write_is_refused_unless_configured(started, preoperative) -> None:
    http = started()
    form = {"stage": "preoperative", "clinical": "{}"}
    foreign = http.post("/v1/assessments", data=form,
                        headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert foreign.json()["error"]["code"] == "PERMISSION_DENIED"
    own = http.post("/v1/assessments", data=form,
                    headers={"Origin": str(http.base_url).rstrip("/")})
    assert own.status_code == 400          # reached the API: the form lacks its files
    assert http.get("/v1/schema", headers={"Origin": "http://evil.example"}).status_code == 200
    allowed = started(CERVIXAI_GATEWAY_ALLOWED_ORIGINS="https://his.example",
                      CERVIXAI_GATEWAY_HTTP_PORT=str(free_port()))
    ok = allowed.post("/v1/assessments", data=form, headers={"Origin": "https://his.example"})
    assert ok.status_code == 400 and ok.headers["access-control-allow-origin"] == \
        "https://his.example"
    preflight = allowed.options("/v1/assessments", headers={
        "Origin": "https://his.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert allowed.post("/v1/assessments", data=form,
                        headers={"Origin": "http://evil.example"}).status_code == 403


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "expected"), [
    ("10.0.0.5", "", (), "10.0.0.5"),                               # no proxy
    ("10.0.0.5", "203.0.113.7", (), "10.0.0.5"),                    # untrusted peer: ignored
    ("10.0.0.5", "203.0.113.7", ("10.0.0.5",), "203.0.113.7"),      # the Ingress
    ("10.0.0.5", "1.2.3.4, 203.0.113.7", ("10.0.0.5",), "203.0.113.7"),   # 1.2.3.4 forged
    ("10.0.0.5", "203.0.113.7, 10.0.0.9", ("10.0.0.5", "10.0.0.9"), "203.0.113.7"),
    ("10.0.0.5", "", ("10.0.0.5",), "10.0.0.5"),
])
def test_the_audited_client_believes_only_trusted_proxies(peer, forwarded, trusted,
                                                          expected) -> None:
    from starlette.requests import Request

    from gateway.headers import client_address

    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": headers,
                       "client": (peer, 50000)})
    assert client_address(request, trusted) == expected
