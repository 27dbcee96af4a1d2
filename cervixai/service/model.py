"""The model-service contract: what a model object is, and the one way a model service runs.

A model object (kserve's ``Model``, without gRPC) subclasses :class:`BundleModel` and implements
two methods: ``_load(bundle)`` — read and check its bundle entries (sha256 first), create the
onnxruntime sessions, return what it serves — and ``_warm_up()`` — one inference per graph. The
base class owns what every service shares: readiness (``ready`` turns true only after a warm-up
succeeded), the served entries (for the model-info metric and the replies) and the one timer of
inference (:meth:`BundleModel.timed`).

:func:`run_model_service` is config → logging → model → server → serve for any model service:
a service's ``__main__`` names its component, settings, model class, servicer and registration
(:class:`ModelService`) and calls it. ``python -m services.X --check`` loads and warms the model
up, prints one line and exits (0 servable, 2 not) without listening: how the launcher and an init
container ask whether a bundle would be served.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import grpc

from cervixai.bundle import Bundle, BundleError, ModelEntry, library_versions, load_bundle
from cervixai.errors import NotReady
from cervixai.service import metrics
from cervixai.service.components import Component
from cervixai.service.config import ServerConfig, integer_variable
from cervixai.service.logs import configure_logging
from cervixai.service.server import EXIT_BAD_BUNDLE, GrpcApp, create_server, serve

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
BUNDLE_VARIABLE = "CERVIXAI_BUNDLE"


@dataclass(frozen=True)
class ServedEntry:
    """One bundle entry a model object serves, and the onnxruntime provider it really runs on."""

    entry: ModelEntry
    provider: str = CPU


class BundleModel(ABC):
    """Base of the services' model objects: load from a bundle, warm up, then predict.

    ``__init__`` only stores parameters; ``load()`` may be called again (a reload replaces what is
    served and clears readiness until the next warm-up)."""

    service: ClassVar[str] = "model"   # the label of this model's inference metrics

    def __init__(self, bundle_path: Path) -> None:
        self.bundle_path = Path(bundle_path)
        self._served: tuple[ServedEntry, ...] = ()
        self._ready = False

    # -- the contract ----------------------------------------------------------------------------
    def load(self) -> None:
        """Read the manifest, check the files' sha256 and create the sessions; BundleError
        says what is wrong."""
        self._ready = False
        served = tuple(self._load(load_bundle(self.bundle_path)))
        if not served:
            raise BundleError(f"bundle {self.bundle_path} has no {self.service} model; train one "
                              f"with `cervixai train {self.service}`")
        self._served = served

    def warm_up(self) -> None:
        """One inference per graph, so the first request pays no start-up cost; then ready."""
        if not self._served:
            raise NotReady(f"the {self.service} model is not loaded; call load() first")
        self._warm_up()
        self._ready = True

    @property
    def ready(self) -> bool:
        """Loaded and warmed up: the only state in which requests are served."""
        return self._ready

    @property
    def served(self) -> tuple[ServedEntry, ...]:
        """What this object serves (empty before ``load()``)."""
        return self._served

    @contextmanager
    def timed(self, model: str) -> Iterator[None]:
        """Time one inference of ``model`` (a bundle entry name) into the shared histogram;
        warm-up inferences are not counted (they are not requests)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            if self._ready:
                metrics.MODEL_INFERENCE.labels(self.service, model).observe(
                    time.perf_counter() - start)

    # -- what a subclass implements --------------------------------------------------------------
    @abstractmethod
    def _load(self, bundle: Bundle) -> Iterable[ServedEntry]:
        """Load this service's entries of ``bundle``; raise BundleError for what cannot serve."""

    @abstractmethod
    def _warm_up(self) -> None:
        """Run one inference per graph on a neutral input; raise if an answer is not sane."""


class Settings(Protocol):
    """A service's own settings: a frozen dataclass read from ``PREFIX_*`` variables."""

    @classmethod
    def from_env(cls, prefix: str, env: Mapping[str, str]) -> Any: ...


@dataclass(frozen=True)
class OnnxSettings:
    """Settings of a service of small CPU graphs: ``PREFIX_THREADS``, onnxruntime intra-op
    threads per session (default 1: the graphs are small and requests run in parallel)."""

    threads: int = 1

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")

    @classmethod
    def from_env(cls, prefix: str, env: Mapping[str, str]) -> OnnxSettings:
        return cls(threads=integer_variable(env, f"{prefix}_THREADS", 1))


def cpu_session(content: bytes, threads: int, name: str) -> Any:
    """An onnxruntime session of a small graph on the CPU; a graph onnxruntime cannot load is a
    BundleError naming the entry."""
    from cervixai.onnxrt import ort  # only model services need it, not every user of this package

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(content, options, providers=[CPU])
    except Exception as e:  # onnxruntime raises its own types for a corrupt graph
        raise BundleError(f"model {name!r} cannot be loaded: {e}") from e


S = TypeVar("S")
M = TypeVar("M", bound=BundleModel)


@dataclass(frozen=True)
class ModelServiceConfig(Generic[S]):
    """Everything a model service reads at start: ``CERVIXAI_BUNDLE`` (required), the server's
    ``PREFIX_*`` variables (:class:`ServerConfig`) and the service's own settings."""

    bundle: Path
    server: ServerConfig
    settings: S

    @classmethod
    def from_env(cls, component: Component, settings: type[S],
                 env: Mapping[str, str] | None = None) -> ModelServiceConfig[S]:
        env = os.environ if env is None else env
        bundle = env.get(BUNDLE_VARIABLE, "")
        if not bundle:
            raise ValueError(f"{BUNDLE_VARIABLE} is not set; point it at a model bundle folder")
        return cls(Path(bundle), ServerConfig.from_env(component.prefix, env),
                   settings.from_env(component.prefix, env))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ModelService(Generic[S, M]):
    """What is a service's own: its component, settings, model class, servicer, registration."""

    component: Component
    settings: type[S]
    model: Callable[[Path, S], M]
    servicer: Callable[[M], object]
    add_to_server: Callable[[Any, grpc.Server], None]

    def config(self, env: Mapping[str, str] | None = None) -> ModelServiceConfig[S]:
        return ModelServiceConfig.from_env(self.component, self.settings, env)

    def create(self, config: ModelServiceConfig[S]) -> tuple[M, GrpcApp]:
        """The model object (not loaded) and the unstarted server around it (tests bind
        port 0 through ``config.server``)."""
        model = self.model(config.bundle, config.settings)
        app = create_server(config.server, self.component.name,
                            [(self.add_to_server, self.servicer(model))],
                            [self.component.service], ready=lambda: model.ready)
        return model, app


def publish(component: Component, model: BundleModel, address: str) -> None:
    """The model-info metric and the "serving" log line, once the model is warmed up."""
    for served in model.served:
        entry = served.entry
        metrics.MODEL_INFO.labels(
            component.name, entry.name, entry.version, entry.files["model"].sha256,
            entry.algorithm, entry.feature_set, served.provider).set(1)
    log.info("serving %s on %s: %s", component.name, address,
             ", ".join(f"{s.entry.name} {s.entry.version} ({s.provider})" for s in model.served),
             extra={"models": {s.entry.name: s.entry.version for s in model.served},
                    "providers": {s.entry.name: s.provider for s in model.served}})


def set_build_info(component: Component) -> None:
    """``cervixai_build_info``: this process's cervixai, Python and onnxruntime versions (from
    the installed distributions' metadata: nothing is imported; the gateway has none)."""
    versions = library_versions("onnxruntime", "onnxruntime-gpu")
    runtime = next((versions[n] for n in ("onnxruntime", "onnxruntime-gpu")
                    if versions[n] != "not installed"), "")
    metrics.BUILD_INFO.labels(component.name, versions["cervixai"], versions["python"],
                              runtime).set(1)


def run_model_service(service: ModelService[S, M], argv: Sequence[str] | None = None,
                      env: Mapping[str, str] | None = None) -> int:
    """Run a model service's whole life and return its exit status.

    Configuration errors and bundles that cannot be served exit with status 2 and one line on
    stderr; SIGTERM drains in-flight requests and exits 0 (:func:`cervixai.service.serve`)."""
    name = service.component.name
    parser = argparse.ArgumentParser(prog=f"python -m {service.component.module}",
                                     description=f"The {name} service (configuration from "
                                                 f"{BUNDLE_VARIABLE} and "
                                                 f"{service.component.prefix}_* variables).")
    parser.add_argument("--check", action="store_true",
                        help="load and warm up the bundle's model, say whether it can be served, "
                             "and exit (0: servable, 2: not) without listening")
    args = parser.parse_args(argv)
    try:
        config = service.config(env)
    except ValueError as e:
        print(f"{name}: configuration error: {e}", file=sys.stderr)
        return 2
    configure_logging(name, config.server.log_level)
    if args.check:
        return check(service, config)
    set_build_info(service.component)
    model, app = service.create(config)
    return serve(app, model, lambda: publish(service.component, model, app.address))


def check(service: ModelService[S, M], config: ModelServiceConfig[S]) -> int:
    """Load and warm up without serving: 0 and the served entries, or 2 and why not."""
    model = service.model(config.bundle, config.settings)
    try:
        model.load()
        model.warm_up()
    except Exception as e:  # the same causes serve() reports: file system to onnxruntime
        print(f"{service.component.name}: cannot serve the model bundle: {e}", file=sys.stderr)
        return EXIT_BAD_BUNDLE
    print(f"{service.component.name}: servable: "
          + ", ".join(f"{s.entry.name} {s.entry.version}" for s in model.served))
    return 0
