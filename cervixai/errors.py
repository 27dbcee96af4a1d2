"""The exceptions that cervixai raises, shared by the library, the services and the gateway.

Hierarchy::

    CervixError                      base of everything raised on purpose
    ├── InvalidInput                 the caller sent something wrong; carries field violations
    │   └── (DicomError, ...)        specialised by the modules that detect them
    ├── NotReady                     a model or dependency is not loaded yet
    ├── DependencyUnavailable        a backend this process calls is down or timed out
    └── Overloaded                   no capacity now: retry after a delay (load shedding)

The gRPC interceptor in :mod:`cervixai.service` maps ``InvalidInput`` to INVALID_ARGUMENT with a
``google.rpc.BadRequest`` detail, ``NotReady`` and ``DependencyUnavailable`` to UNAVAILABLE,
``Overloaded`` to RESOURCE_EXHAUSTED (HTTP 429 with Retry-After), and
everything else to INTERNAL (traceback logged, never sent). The HTTP API maps them to 400 / 503 /
500 with the same field violations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One problem with one field of a request.

    ``field`` is a dotted path into the request (``clinical.age_years``, ``dicom_files[3]``);
    ``description`` says what is wrong, quoting the bad value where that is safe. Clinical values
    are echoed back to the caller that sent them but never logged.
    """

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class CervixError(Exception):
    """Base of all exceptions that cervixai raises on purpose."""


class InvalidInput(CervixError):
    """The request is wrong; ``violations`` lists every problem found, not only the first."""

    def __init__(self, violations: Iterable[FieldViolation] | FieldViolation) -> None:
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        if not self.violations:
            raise ValueError("InvalidInput needs at least one FieldViolation")
        super().__init__("; ".join(str(v) for v in self.violations))

    @classmethod
    def single(cls, field: str, description: str) -> InvalidInput:
        """An error about one field."""
        return cls(FieldViolation(field, description))


class NotReady(CervixError):
    """The service cannot answer yet (model not loaded, warm-up not done)."""


class DependencyUnavailable(CervixError):
    """A backend that this process calls is down, refused, or did not answer within its deadline."""

    def __init__(self, dependency: str, detail: str) -> None:
        self.dependency = dependency
        self.detail = detail
        super().__init__(f"{dependency} unavailable: {detail}")


class Overloaded(CervixError):
    """No capacity for this request now (too many in flight here, or at a backend): refused at
    once rather than queued, with the delay after which a retry may succeed."""

    def __init__(self, where: str, retry_after_seconds: int = 1) -> None:
        self.where = where
        self.retry_after_seconds = retry_after_seconds
        super().__init__(f"{where} is at capacity; retry after {retry_after_seconds} s")
