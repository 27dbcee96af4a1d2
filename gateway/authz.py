"""Authorization: which scope each endpoint needs, and where both APIs enforce it.

The one table (docs/security.md):

============================================  ===================
``POST /v1/assessments``,                     ``cervixai.assess``
gRPC ``cervix.v1.Gateway/Assess``,
``cervix.v1.Gateway/AssessStream``;
``PUT /v1/studies/{uid}/clinical``,
``PUT /v1/accessions/{n}/clinical`` (any
method but GET, HEAD, OPTIONS under
``/v1/studies/``, ``/v1/accessions/``),
gRPC ``cervix.v1.Studies/PutClinical``;
STOW-RS ``POST /dicom-web/studies``,
``POST /dicom-web/studies/{uid}`` (any
method but GET, HEAD, OPTIONS under
``/dicom-web/``), gRPC
``cervix.v1.Studies/StoreInstance``
gRPC ``cervix.v1.Studies/GetStudy``           ``cervixai.read``
every other HTTP path (``/v1/models``,
``/v1/schema``, ``/metrics``, ``/docs``,
``/openapi.json``, ``GET /v1/studies/{uid}``,
``GET /v1/accessions/{n}``, unknown paths)
``/healthz``, ``/readyz``, ``/``,             open
``/favicon.ico``, ``/static/*``; gRPC health
and reflection
============================================  ===================

Anything not listed needs a token (default deny). HTTP answers 401 (no or bad token, with
``WWW-Authenticate: Bearer``) or 403 (scope missing) in the gateway's error body; gRPC answers
UNAUTHENTICATED or PERMISSION_DENIED. The identity is kept in
:data:`gateway.auth.current_identity` while the request runs (the audit log reads it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import grpc
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import Authenticator, Identity, Unauthenticated, current_identity

log = logging.getLogger(__name__)

ASSESS = "cervixai.assess"
READ = "cervixai.read"
OPEN = None
REALM = "cervixai"

_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/favicon.ico", "/docs"})
# static code only (the page, Swagger UI): what they show comes from the API, which needs a token
_OPEN_PREFIXES = ("/static/", "/docs/assets/")
GRPC_SCOPES = {"/cervix.v1.Gateway/Assess": ASSESS, "/cervix.v1.Gateway/AssessStream": ASSESS,
               "/cervix.v1.Studies/PutClinical": ASSESS, "/cervix.v1.Studies/GetStudy": READ,
               "/cervix.v1.Studies/StoreInstance": ASSESS}
# a study's clinical record and its instances (STOW-RS) are written under these; only reading a
# status needs no more than cervixai.read
_STUDY_PREFIXES = ("/v1/studies/", "/v1/accessions/", "/dicom-web/")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_GRPC_OPEN_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


def http_scope(method: str, path: str) -> str | None:
    """The scope an HTTP request needs, or None when the path is open."""
    if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
        return OPEN
    if path == "/v1/assessments" and method == "POST":
        return ASSESS
    if path.startswith(_STUDY_PREFIXES) and method not in _SAFE_METHODS:
        return ASSESS
    return READ


def grpc_scope(method: str) -> str | None:
    """The scope a gRPC method needs (full name ``/package.Service/Method``), None if open;
    a method the table does not know needs ``cervixai.assess`` (default deny)."""
    if method.startswith(_GRPC_OPEN_PREFIXES):
        return OPEN
    return GRPC_SCOPES.get(method, ASSESS)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value (the scheme is
    case-insensitive), None when there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Forbidden(Exception):
    """The caller is authenticated but lacks the scope."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this request needs the scope {scope}")
        self.scope = scope


def authorize(authenticator: Authenticator, token: str | None, scope: str) -> Identity:
    """The caller's identity when ``token`` is valid and grants ``scope``; raises
    :class:`Unauthenticated` or :class:`Forbidden`."""
    if token is None:
        raise Unauthenticated("no bearer token")
    identity = authenticator.verify(token)
    if scope not in identity.scopes:
        raise Forbidden(scope)
    return identity


def _quoted(text: str) -> str:
    """A value safe inside a WWW-Authenticate quoted string (RFC 6750: no ``"`` nor ``\\``)."""
    return "".join(c for c in text if c.isprintable() and c not in '"\\')


class HttpAuthorization:
    """ASGI middleware: every HTTP request the table does not leave open needs a bearer token
    with its scope."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = http_scope(scope["method"], scope["path"])
        if needed is OPEN:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        token = bearer_token(headers.get("authorization"))
        try:
            # off the event loop: a key-set fetch may wait for the identity provider
            identity = await run_in_threadpool(authorize, self.authenticator, token, needed)
        except Unauthenticated as e:
            challenge = f'Bearer realm="{REALM}"'
            if token is not None:  # RFC 6750 §3.1: no error code when no token was sent
                challenge += f', error="invalid_token", error_description="{_quoted(e.reason)}"'
            log.info("HTTP %s %s refused: %s", scope["method"], needed, e.reason)
            await _reply(send, 401, "UNAUTHENTICATED", e.reason, challenge)
            return
        except Forbidden as e:
            challenge = (f'Bearer realm="{REALM}", error="insufficient_scope", '
                         f'error_description="{_quoted(str(e))}", scope="{e.scope}"')
            await _reply(send, 403, "PERMISSION_DENIED", str(e), challenge)
            return
        marker = current_identity.set(identity)
        try:
            scope.setdefault("state", {})["identity"] = identity
            await self.app(scope, receive, send)
        finally:
            current_identity.reset(marker)


async def _reply(send: Send, status: int, code: str, message: str, challenge: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge.encode("latin-1"))]})
    await send({"type": "http.response.body", "body": body})


Behavior = Callable[[Any, grpc.ServicerContext], Any]


class GrpcAuthorization(grpc.ServerInterceptor):  # type: ignore[misc]
    """gRPC server interceptor: ``authorization: Bearer <token>`` metadata with the method's
    scope, or UNAUTHENTICATED / PERMISSION_DENIED. Health and reflection stay open."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def intercept_service(self, continuation: Callable[[Any], Any],
                          details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        needed = grpc_scope(details.method)
        if handler is None or needed is OPEN:
            return handler
        metadata = dict(details.invocation_metadata or ())
        token = bearer_token(metadata.get("authorization"))
        wrap = self._wrap(token, needed, details.method)
        for kind in ("unary_unary", "stream_unary", "unary_stream", "stream_stream"):
            behavior = getattr(handler, kind)
            if behavior is not None:
                factory = getattr(grpc, f"{kind}_rpc_method_handler")
                return factory(wrap(behavior), request_deserializer=handler.request_deserializer,
                               response_serializer=handler.response_serializer)
        return handler

    def _wrap(self, token: str | None, needed: str,
              method: str) -> Callable[[Behavior], Behavior]:
        authenticator = self.authenticator

        def wrap(behavior: Behavior) -> Behavior:
            def checked(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    identity = authorize(authenticator, token, needed)
                except Unauthenticated as e:
                    log.info("gRPC %s refused: %s", method, e.reason)
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, e.reason)
                except Forbidden as e:
                    context.abort(grpc.StatusCode.PERMISSION_DENIED, str(e))
                marker = current_identity.set(identity)
                try:
                    return behavior(request, context)
                finally:
                    current_identity.reset(marker)
            return checked
        return wrap
