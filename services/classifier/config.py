"""Configuration of the classifier service, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cervixai.service import ServerConfig

PREFIX = "CERVIXAI_CLASSIFIER"


@dataclass(frozen=True)
class ClassifierConfig:
    """``CERVIXAI_BUNDLE`` (required): the model bundle; ``CERVIXAI_CLASSIFIER_THREADS``:
    onnxruntime intra-op threads per model (default 1: the models are small and requests run
    in parallel); plus the server variables of :class:`ServerConfig` with prefix
    ``CERVIXAI_CLASSIFIER``."""

    bundle: Path
    server: ServerConfig
    threads: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClassifierConfig:
        env = os.environ if env is None else env
        bundle = env.get("CERVIXAI_BUNDLE", "")
        if not bundle:
            raise ValueError("CERVIXAI_BUNDLE is not set: it must name a model bundle folder")
        raw_threads = env.get(f"{PREFIX}_THREADS") or "1"
        try:
            threads = int(raw_threads)
        except ValueError:
            raise ValueError(f"{PREFIX}_THREADS must be an integer, got {raw_threads!r}") from None
        if threads < 1:
            raise ValueError(f"{PREFIX}_THREADS must be at least 1, got {threads}")
        return cls(Path(bundle), ServerConfig.from_env(PREFIX, env), threads)
