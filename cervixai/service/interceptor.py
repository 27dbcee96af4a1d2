"""The one place where exceptions become gRPC status codes, and where RPCs are counted and timed.

InvalidInput → INVALID_ARGUMENT with google.rpc.BadRequest field violations; NotReady and
DependencyUnavailable → UNAVAILABLE; Overloaded → RESOURCE_EXHAUSTED (a ``retry-after``
trailer); anything else → INTERNAL with the traceback logged and a generic message sent (the
caller never sees internals).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from cervixai.errors import DependencyUnavailable, InvalidInput, NotReady, Overloaded
from cervixai.service import metrics
from cervixai.service.status import invalid_argument_status

log = logging.getLogger(__name__)

Behavior = Callable[[Any, grpc.ServicerContext], Any]


class ServiceInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Maps cervixai exceptions to status codes and records request metrics."""

    def __init__(self, service_label: str, ready: Callable[[], bool] | None = None) -> None:
        self._service = service_label
        # the one readiness check of a model service: no RPC reaches a model not warmed up
        self._ready = ready

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        full = handler_call_details.method
        if full.startswith(("/grpc.health.", "/grpc.reflection.")):
            return handler  # not counted: probes would drown the request metrics
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap(handler.stream_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # streaming responses are not used by cervixai services

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        service = self._service
        ready = self._ready

        def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            metrics.GRPC_IN_FLIGHT.labels(service).inc()
            code = grpc.StatusCode.OK
            try:
                if ready is not None and not ready():
                    raise NotReady(f"the {service} model is still loading")
                return behavior(request, context)
            except InvalidInput as e:
                code = grpc.StatusCode.INVALID_ARGUMENT
                log.info("rejected %s: %d field violation(s)", method, len(e.violations))
                context.abort_with_status(invalid_argument_status(e))
            except Overloaded as e:
                code = grpc.StatusCode.RESOURCE_EXHAUSTED
                log.warning("%s shed: %s", method, e)
                context.set_trailing_metadata((("retry-after", str(e.retry_after_seconds)),))
                context.abort(code, str(e))
            except (NotReady, DependencyUnavailable) as e:
                code = grpc.StatusCode.UNAVAILABLE
                log.warning("%s unavailable: %s", method, e)
                context.abort(code, str(e))
            except Exception:
                already = context.code() if hasattr(context, "code") else None
                if already is not None:  # the servicer aborted on purpose
                    code = already
                    raise
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s", method)
                context.abort(code, "internal error; see the server log")
            finally:
                metrics.GRPC_IN_FLIGHT.labels(service).dec()
                metrics.GRPC_REQUESTS.labels(service, method, code.name).inc()
                metrics.GRPC_LATENCY.labels(service, method).observe(time.perf_counter() - start)

        return wrapper
