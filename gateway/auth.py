"""Authentication: OAuth 2.0 bearer tokens (JWTs) checked against an identity provider's keys.

``Authenticator.verify(token)`` returns the caller's :class:`Identity` or raises
:class:`Unauthenticated` with a reason that is safe to send back (it never quotes the token).
A token is accepted only when it is signed with an asymmetric algorithm of the allowed list
(never ``none``, never HMAC: a public key must not double as a shared secret) by a key of the
JWKS, and carries ``exp``, ``iss`` and ``aud`` matching the configuration (30 s leeway).

The JWKS comes from a file (read once at start) or a URL (fetched with httpx when first needed,
cached for ``jwks_cache_seconds``, and fetched again when a token names a ``kid`` the cache does
not hold — the identity provider rotated its keys — at most once every ``jwks_refresh_seconds``,
so that tokens with made-up ``kid`` values cannot make the gateway hammer the provider).
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from cervixai.service.config import number_variable

log = logging.getLogger(__name__)

JWT = "jwt"
NONE = "none"
MODES = (JWT, NONE)
DEFAULT_ALGORITHMS = ("RS256", "ES256", "PS256")
# Asymmetric algorithms only, by the key type (JWK ``kty``) each needs.
KEY_TYPES = {**{f"RS{n}": "RSA" for n in (256, 384, 512)},
             **{f"PS{n}": "RSA" for n in (256, 384, 512)},
             **{f"ES{n}": "EC" for n in (256, 384, 512)}, "EdDSA": "OKP"}
REQUIRED_CLAIMS = ("exp", "iss", "aud")

# The identity of the request being handled (set by the API's authorization, read by the audit
# log): a context variable, so it follows the request into the worker thread that runs it.
current_identity: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "current_identity", default=None)


class Unauthenticated(Exception):
    """The request carries no valid bearer token; ``reason`` may be shown to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """Who the token says the caller is: ``sub`` (or ``client_id`` / ``azp`` for a client
    acting for itself) and the scopes it was granted."""

    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)


def is_loopback(host: str) -> bool:
    """Whether a listen (or fetch) address reaches this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AuthConfig:
    """Environment (defaults in brackets): ``CERVIXAI_GATEWAY_AUTH`` [unset: no authentication,
    allowed on loopback only] ``jwt`` or ``none``; for ``jwt``: ``..._AUTH_ISSUER``,
    ``..._AUTH_AUDIENCE`` (both required), ``..._AUTH_JWKS_URL`` (https, or http on loopback)
    or ``..._AUTH_JWKS_FILE`` (one of them), ``..._AUTH_ALGORITHMS`` [RS256,ES256,PS256],
    ``..._AUTH_LEEWAY_SECONDS`` [30], ``..._AUTH_JWKS_CACHE_SECONDS`` [300],
    ``..._AUTH_JWKS_REFRESH_SECONDS`` [60] (the least time between two fetches for an unknown
    ``kid``), ``..._AUTH_JWKS_TIMEOUT_SECONDS`` [5].
    """

    mode: str | None = None        # None: the variable is unset
    issuer: str | None = None
    audience: str | None = None
    jwks_url: str | None = None
    jwks_file: str | None = None
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_seconds: float = 30.0
    jwks_cache_seconds: float = 300.0
    jwks_refresh_seconds: float = 60.0
    jwks_timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        p = "CERVIXAI_GATEWAY_AUTH"
        if self.mode is not None and self.mode not in MODES:
            raise ValueError(f"{p} must be jwt or none, got {self.mode!r}")
        refused = [a for a in self.algorithms if a not in KEY_TYPES]
        if refused or not self.algorithms:
            raise ValueError(f"{p}_ALGORITHMS: {', '.join(refused) or 'nothing'} not allowed; "
                             f"asymmetric algorithms only: {', '.join(KEY_TYPES)}")
        for name in ("leeway_seconds", "jwks_cache_seconds", "jwks_refresh_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{p}_{name.upper()} must not be negative")
        if self.jwks_timeout_seconds <= 0:
            raise ValueError(f"{p}_JWKS_TIMEOUT_SECONDS must be positive")
        if self.mode != JWT:
            return
        if not self.issuer or not self.audience:
            raise ValueError(f"{p}=jwt needs {p}_ISSUER and {p}_AUDIENCE")
        if bool(self.jwks_url) == bool(self.jwks_file):
            raise ValueError(f"{p}=jwt needs one of {p}_JWKS_URL and {p}_JWKS_FILE")
        if self.jwks_url:
            url = urlsplit(self.jwks_url)
            if not (url.scheme == "https" or (url.scheme == "http"
                                              and is_loopback(url.hostname or ""))):
                raise ValueError(f"{p}_JWKS_URL must be https (http only on loopback), got "
                                 f"{self.jwks_url!r}")

    @property
    def enabled(self) -> bool:
        return self.mode == JWT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthConfig:
        p = "CERVIXAI_GATEWAY_AUTH"

        def number(name: str, default: float) -> float:
            return number_variable(env, f"{p}_{name}", default)

        algorithms = tuple(a.strip() for a in (env.get(f"{p}_ALGORITHMS") or "").split(",")
                           if a.strip()) or DEFAULT_ALGORITHMS
        return cls(mode=(env.get(p) or "").strip().lower() or None,
                   issuer=env.get(f"{p}_ISSUER") or None,
                   audience=env.get(f"{p}_AUDIENCE") or None,
                   jwks_url=env.get(f"{p}_JWKS_URL") or None,
                   jwks_file=env.get(f"{p}_JWKS_FILE") or None,
                   algorithms=algorithms,
                   leeway_seconds=number("LEEWAY_SECONDS", 30.0),
                   jwks_cache_seconds=number("JWKS_CACHE_SECONDS", 300.0),
                   jwks_refresh_seconds=number("JWKS_REFRESH_SECONDS", 60.0),
                   jwks_timeout_seconds=number("JWKS_TIMEOUT_SECONDS", 5.0))


Fetch = Callable[[], Mapping[str, Any]]


class KeySet:
    """The identity provider's public keys by ``kid``, fetched again as :class:`AuthConfig`
    says; thread-safe (gRPC workers and HTTP requests share it)."""

    def __init__(self, config: AuthConfig, fetch: Fetch | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        if fetch is not None:
            self._fetch = fetch
        elif config.jwks_file:
            document = json.loads(Path(config.jwks_file).read_text())
            self._fetch = lambda: document
        else:
            self._fetch = self._from_url
        if config.jwks_file and fetch is None:
            self._refresh()  # a bad file is a configuration error: fail at start

    def _from_url(self) -> Mapping[str, Any]:
        assert self._config.jwks_url is not None
        reply = httpx.get(self._config.jwks_url, timeout=self._config.jwks_timeout_seconds,
                          follow_redirects=False)
        reply.raise_for_status()
        document: Mapping[str, Any] = reply.json()
        return document

    def _refresh(self) -> None:
        self._fetched_at = self._clock()  # before fetching: a failure also waits its turn
        document = self._fetch()
        keys: dict[str | None, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("use", "sig") != "sig" or entry.get("kty") not in KEY_TYPES.values():
                continue
            try:
                keys[entry.get("kid")] = jwt.PyJWK(entry)
            except jwt.PyJWTError as e:  # one unusable key does not disable the others
                log.warning("JWKS key %r skipped: %s", entry.get("kid"), e)
        self._keys = keys
        log.info("JWKS loaded: %d signing key(s)", len(keys))

    def load(self) -> None:
        """Fetch the keys now (at start: the log says at once whether the provider answers);
        a failure is logged, and the next token tries again."""
        with self._lock:
            self._try_refresh()
            if not self._keys:
                self._fetched_at = None

    def _try_refresh(self) -> None:
        try:
            self._refresh()
        except (httpx.HTTPError, ValueError, OSError) as e:
            # the keys held stay in use: an identity provider's outage must not lock every
            # caller out at once
            log.warning("JWKS fetch failed (%s: %s); %d cached key(s) stay in use",
                        type(e).__name__, e, len(self._keys))

    def key(self, kid: str | None) -> jwt.PyJWK:
        """The key ``kid`` names (the only key, when the token names none)."""
        with self._lock:
            now = self._clock()
            stale = (self._fetched_at is None
                     or now - self._fetched_at >= self._config.jwks_cache_seconds)
            unknown = (kid not in self._keys if kid is not None else len(self._keys) != 1)
            may_fetch = (self._fetched_at is None
                         or now - self._fetched_at >= self._config.jwks_refresh_seconds)
            if stale or (unknown and may_fetch):
                self._try_refresh()
            if not self._keys:
                raise Unauthenticated("the identity provider's keys could not be fetched")
            if kid is None:
                if len(self._keys) == 1:
                    return next(iter(self._keys.values()))
                raise Unauthenticated("the token names no key (kid)")
            found = self._keys.get(kid)
            if found is None:
                raise Unauthenticated("the token is signed by an unknown key")
            return found


class Authenticator:
    """Verifies bearer tokens: signature, algorithm, ``exp``/``nbf``, ``iss``, ``aud``."""

    def __init__(self, config: AuthConfig, keys: KeySet | None = None) -> None:
        if not config.enabled:
            raise ValueError("an Authenticator needs CERVIXAI_GATEWAY_AUTH=jwt")
        self.config = config
        self.keys = keys or KeySet(config)

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.config.algorithms:
            raise Unauthenticated(f"algorithm {str(algorithm)[:16]!r} is not accepted")
        kid = header.get("kid")
        key = self.keys.key(kid if isinstance(kid, str) else None)
        declared = key._jwk_data.get("alg")  # the JWK's own alg, when it names one
        if key.key_type != KEY_TYPES[algorithm] or (declared and declared != algorithm):
            raise Unauthenticated("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(token, key.key, algorithms=[algorithm],
                                audience=self.config.audience, issuer=self.config.issuer,
                                leeway=self.config.leeway_seconds,
                                options={"require": list(REQUIRED_CLAIMS)})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is not meant for this audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token's issuer is not trusted") from None
        except jwt.MissingRequiredClaimError as e:
            raise Unauthenticated(f"the token lacks the {e.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is invalid") from None
        return identity_from(claims)


def identity_from(claims: Mapping[str, Any]) -> Identity:
    """The subject and scopes of verified claims: ``scope`` (space-separated, RFC 8693 / 9068),
    ``scp`` (a list, or Entra ID's space-separated string) and ``roles`` (Entra ID's
    application permissions, for clients acting for themselves)."""
    subject = next((str(claims[c]) for c in ("sub", "client_id", "azp")
                    if isinstance(claims.get(c), str) and claims[c]), None)
    if subject is None:
        raise Unauthenticated("the token names no subject (sub, client_id or azp)")
    scopes: set[str] = set()
    for name in ("scope", "scp", "roles"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(s for s in value if isinstance(s, str))
    return Identity(subject, frozenset(scopes))
