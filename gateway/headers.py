"""HTTP hardening: security headers on every reply and no cross-origin writes.

* ``Content-Security-Policy``: scripts, styles and connections from the gateway itself only (the
  web page has no inline code), images also from ``data:``/``blob:`` (its slice previews),
  no plugins, no framing (``frame-ancestors 'none'``), no ``<base>``, forms to itself. The
  ``/docs`` page is Swagger UI 5 served by the gateway itself (the fastapi-offline package's
  files: no CDN, no inline script); its policy differs only in allowing inline styles, which
  Swagger UI sets on its elements.
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY`` (for browsers without ``frame-ancestors``),
  ``Cross-Origin-Opener-Policy: same-origin``; ``Strict-Transport-Security`` when the request
  came over HTTPS (directly, or as a TLS-terminating proxy says with ``X-Forwarded-Proto``).
* A request carrying an ``Origin`` other than the gateway's own, and not in
  ``CERVIXAI_GATEWAY_ALLOWED_ORIGINS``, that would change state (anything but GET, HEAD,
  OPTIONS) is refused with 403: a page elsewhere cannot submit studies through a clinician's
  browser, even to a loopback gateway without authentication. CORS headers only for configured
  origins (Starlette's ``CORSMiddleware``, added by :func:`gateway.http_api.create_app`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
          "connect-src 'self' blob:; font-src 'self'; object-src 'none'; base-uri 'none'; "
          "form-action 'self'; frame-ancestors 'none'")
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SecurityHeaders:
    """ASGI middleware adding the headers above and refusing cross-origin writes."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        https = scope.get("scheme") == "https" or headers.get("x-forwarded-proto") == "https"
        origin = headers.get("origin", "").rstrip("/").lower()
        own = f"{'https' if https else 'http'}://{headers.get('host', '')}".lower()
        path = scope.get("path", "")
        added = self._headers(path, https)
        if origin and origin != own and origin not in self.allowed \
                and scope.get("method", "GET") not in SAFE_METHODS:
            body = json.dumps({"error": {"code": "PERMISSION_DENIED", "message":
                               "cross-origin requests that change state are refused; "
                               "configure CERVIXAI_GATEWAY_ALLOWED_ORIGINS to allow one"}}
                              ).encode()
            await send({"type": "http.response.start", "status": 403, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()), *added]})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in added if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _headers(path: str, https: bool) -> list[tuple[bytes, bytes]]:
        policy = DOCS_POLICY if path == "/docs" else POLICY
        out = [(b"content-security-policy", policy.encode()),
               (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"no-referrer"),
               (b"x-frame-options", b"DENY"),
               (b"cross-origin-opener-policy", b"same-origin")]
        if https:
            out.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        return out


def client_address(request: Request, trusted_proxies: Iterable[str]) -> str:
    """Who sent ``request``, for the audit log: the direct peer, or, when that peer is a
    configured trusted proxy (``CERVIXAI_GATEWAY_TRUSTED_PROXIES``, e.g. the Ingress
    controller), the nearest address in ``X-Forwarded-For`` that is not one (the proxy appends
    the address it saw; anything left of a trusted hop could be forged by the caller)."""
    peer = request.client.host if request.client else "unknown"
    trusted = set(trusted_proxies)
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer
