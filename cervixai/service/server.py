"""Bootstrap of a cervixai gRPC server: health, reflection, limits, errors, metrics, shutdown.

The model services do not call it directly: :func:`cervixai.service.model.run_model_service`
does (config → logging → model → ``create_server`` → ``serve``); the gateway uses
``create_server`` for its own gRPC API. Usage::

    app = create_server(config, "segmenter", [(add_SegmenterServicer_to_server, servicer)],
                        [SEGMENTER_SERVICE_NAME], ready=lambda: model.ready)
    return serve(app, model, on_ready)   # SIGTERM / SIGINT drain in-flight requests, then return

Health starts NOT_SERVING, for the whole server ("") and for each service name, and turns SERVING
only when the caller says the model is ready.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from types import FrameType
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from cervixai.bundle import BundleError
from cervixai.service.config import ServerConfig
from cervixai.service.interceptor import ServiceInterceptor
from cervixai.service.tls import server_credentials

log = logging.getLogger(__name__)

Registration = tuple[Callable[[Any, grpc.Server], None], Any]
# After the server reports that it has stopped, the last replies may still sit in the socket's
# send buffer; exiting at once can reset the connection under them.
LINGER_SECONDS = 0.5
# Longer than any call a cervixai client makes (the gateway bounds a whole request by 120 s).
LONGEST_CALL_SECONDS = 130.0
# Exit status of a service whose model bundle cannot be served (missing, tampered, incompatible).
EXIT_BAD_BUNDLE = 2


class Servable(Protocol):
    """A service's model object: loading checks the bundle, warm-up runs one inference."""

    def load(self) -> None: ...

    def warm_up(self) -> None: ...


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Options that raise gRPC's 4 MiB default limits, for servers and client channels alike."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


class GrpcApp:
    """A created (not yet started) server with its health servicer."""

    def __init__(
        self,
        server: grpc.Server,
        health_servicer: health.HealthServicer,
        service_names: Sequence[str],
        config: ServerConfig,
        port: int,
        label: str = "service",
        health_server: grpc.Server | None = None,
    ) -> None:
        self.label = label
        self.health_server = health_server
        self.server = server
        self.health = health_servicer
        self.service_names = tuple(service_names)
        self.config = config
        self.port = port
        self._stopped = threading.Event()

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.port}"

    def start(self) -> None:
        self.server.start()
        if self.health_server is not None:
            self.health_server.start()
        log.info("listening on %s", self.address)

    def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ("", *self.service_names):
            self.health.set(name, status)

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` has begun (health stays NOT_SERVING from then on)."""
        return self._stopped.is_set()

    def stop(self, grace: float | None = None) -> None:
        """Turn health NOT_SERVING, refuse new RPCs, let in-flight ones finish within ``grace``."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.set_serving(False)
        grace = self.config.grace_seconds if grace is None else grace
        log.info("stopping: draining in-flight requests for up to %.1f s", grace)
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(0)
        log.info("stopped")

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the server gracefully (call from the main thread)."""

        def handle(signum: int, frame: FrameType | None) -> None:
            log.info("received %s", signal.Signals(signum).name)
            threading.Thread(target=self.stop, name="graceful-stop", daemon=True).start()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def wait_for_termination(self) -> None:
        self.server.wait_for_termination()


# grpcio-reflection serves only v1alpha; grpcurl, Postman and newer clients ask v1 first. The two
# protos are the same messages under two package names (identical on the wire), so one servicer
# answers both.
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def add_reflection(servicer: reflection.ReflectionServicer, server: grpc.Server) -> None:
    """Server reflection under grpc.reflection.v1 and grpc.reflection.v1alpha."""
    from grpc_reflection.v1alpha import reflection_pb2

    for name in (REFLECTION_V1, reflection.SERVICE_NAME):
        handlers = {"ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))


def create_server(
    config: ServerConfig,
    service_label: str,
    registrations: Sequence[Registration],
    service_names: Sequence[str],
    *,
    ready: Callable[[], bool] | None = None,
    extra_interceptors: Sequence[grpc.ServerInterceptor] = (),
) -> GrpcApp:
    """Build an unstarted server serving ``registrations`` plus grpc.health.v1 and reflection.

    ``service_label`` names the process in metrics and logs (``segmenter``); ``service_names``
    are the full proto names (``cervix.v1.Segmenter``) for health and reflection. Binding port 0
    picks a free port (``GrpcApp.port`` tells which). ``ready`` (a model's readiness) gates
    every RPC but health and reflection: UNAVAILABLE until it says true. ``extra_interceptors``
    run inside the error-mapping one (the gateway's authorization: its refusals are counted).
    """
    options: list[tuple[str, int]] = channel_options(config.max_message_bytes)
    if config.max_connection_age_seconds > 0:
        # the grace lets the longest call on a connection finish: an age-closed connection never
        # cuts a call in flight (the gateway's whole request is bounded by 120 s)
        grace = max(config.grace_seconds, LONGEST_CALL_SECONDS)
        options += [("grpc.max_connection_age_ms", int(config.max_connection_age_seconds * 1000)),
                    ("grpc.max_connection_age_grace_ms", int(grace * 1000))]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers,
                                   thread_name_prefix=f"{service_label}-rpc"),
        interceptors=[ServiceInterceptor(service_label, ready), *extra_interceptors],
        options=options,
        maximum_concurrent_rpcs=config.max_workers * 4,
    )
    for add, servicer in registrations:
        add(servicer, server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if config.reflection:
        names = (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME, REFLECTION_V1)
        add_reflection(reflection.ReflectionServicer(names), server)
    if config.tls_cert and config.tls_key:
        credentials = server_credentials(config.tls_cert, config.tls_key, config.tls_client_ca)
        port = server.add_secure_port(config.address, credentials)
    else:
        port = server.add_insecure_port(config.address)
    if port == 0:
        raise OSError(f"could not bind {config.address}")
    health_server = None
    if config.health_port:
        # health only, in plaintext: the kubelet's gRPC probe speaks no TLS. The same servicer,
        # so both ports always say the same.
        health_server = grpc.server(futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix=f"{service_label}-health"))
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        if health_server.add_insecure_port(f"{config.host}:{config.health_port}") == 0:
            raise OSError(f"could not bind {config.host}:{config.health_port}")
    if config.metrics_port:
        start_http_server(config.metrics_port, addr=config.host)
        log.info("metrics on http://%s:%d/metrics", config.host, config.metrics_port)
    app = GrpcApp(server, health_servicer, service_names, config, port, service_label,
                  health_server)
    app.set_serving(False)
    return app


def serve(app: GrpcApp, model: Servable, on_ready: Callable[[], None]) -> int:
    """Run a service's lifecycle and return its exit status.

    Listen at once with health NOT_SERVING; load the model (sha256 checks) and warm it up; call
    ``on_ready`` (model-info metrics, the "serving" log line); turn SERVING; on SIGTERM or SIGINT
    drain in-flight requests and return 0. A bundle that cannot be served — missing, tampered,
    or failing in onnxruntime — stops the server and returns :data:`EXIT_BAD_BUNDLE` with one line
    on stderr (the traceback goes to the log when the cause is not a :class:`BundleError`).
    """
    app.install_signal_handlers()
    app.start()
    try:
        model.load()
        model.warm_up()
    except Exception as e:  # anything from the file system to onnxruntime's own error types
        log.error("cannot serve the model bundle: %s", e, exc_info=not isinstance(e, BundleError))
        app.stop(0)
        print(f"{app.label}: cannot serve the model bundle: {e}", file=sys.stderr)
        return EXIT_BAD_BUNDLE
    on_ready()
    app.set_serving(True)
    app.wait_for_termination()
    time.sleep(LINGER_SECONDS)
    return 0
