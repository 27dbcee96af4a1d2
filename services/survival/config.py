"""Configuration of the survival service, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cervixai.service import ServerConfig

PREFIX = "CERVIXAI_SURVIVAL"


@dataclass(frozen=True)
class SurvivalConfig:
    """``CERVIXAI_BUNDLE`` (required): the model bundle; ``CERVIXAI_SURVIVAL_THREADS``:
    onnxruntime intra-op threads (default 1: the models are tiny, requests run in parallel);
    plus the server variables of :meth:`ServerConfig.from_env` with prefix ``CERVIXAI_SURVIVAL``."""

    bundle: Path
    server: ServerConfig
    threads: int = 1

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"{PREFIX}_THREADS must be at least 1, got {self.threads}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SurvivalConfig:
        env = os.environ if env is None else env
        bundle = env.get("CERVIXAI_BUNDLE", "")
        if not bundle:
            raise ValueError("CERVIXAI_BUNDLE is not set: point it at a model bundle folder")
        raw_threads = env.get(f"{PREFIX}_THREADS") or "1"
        try:
            threads = int(raw_threads)
        except ValueError:
            raise ValueError(f"{PREFIX}_THREADS must be an integer, got {raw_threads!r}") from None
        return cls(Path(bundle), ServerConfig.from_env(PREFIX, env), threads)
