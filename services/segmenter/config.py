"""The segmenter's configuration, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cervixai.service import ServerConfig

PREFIX = "CERVIXAI_SEGMENTER"
# A 64-slice 256×256 float32 volume is 16 MiB; the 64 MiB message limit leaves room for its
# probabilities in the reply. Series in the study have 18–30 slices.
DEFAULT_MAX_SLICES = 64
PROVIDERS = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class InferenceSettings:
    """How onnxruntime runs the network.

    ``intra_op_threads`` 0 lets onnxruntime use one thread per physical core; ``concurrency`` is
    how many inferences run at once (more than one on a CPU only splits the same cores).
    """

    provider: str = "auto"
    intra_op_threads: int = 0
    inter_op_threads: int = 1
    concurrency: int = 1
    max_slices: int = DEFAULT_MAX_SLICES
    warmup_runs: int = 1

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}, got {self.provider!r}")
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise ValueError("thread counts must be ≥ 0")
        if self.concurrency < 1 or self.max_slices < 1 or self.warmup_runs < 1:
            raise ValueError(f"concurrency, max_slices and warmup_runs must be ≥ 1, got "
                             f"{self.concurrency}, {self.max_slices}, {self.warmup_runs}")


@dataclass(frozen=True)
class SegmenterConfig:
    """Environment: ``CERVIXAI_BUNDLE`` (required), ``CERVIXAI_SEGMENTER_PROVIDER``
    (auto | cpu | cuda), ``_INTRA_OP_THREADS``, ``_INTER_OP_THREADS``, ``_CONCURRENCY``,
    ``_MAX_SLICES``, ``_WARMUP_RUNS`` (inferences before SERVING; more lets a GPU settle), and
    the server's ``CERVIXAI_SEGMENTER_*`` variables (see ServerConfig)."""

    bundle: Path
    server: ServerConfig
    inference: InferenceSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SegmenterConfig:
        env = os.environ if env is None else env
        bundle = env.get("CERVIXAI_BUNDLE", "")
        if not bundle:
            raise ValueError("CERVIXAI_BUNDLE is not set; point it at a model bundle folder")

        def integer(name: str, default: int) -> int:
            raw = env.get(f"{PREFIX}_{name}", "")
            if raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{PREFIX}_{name} must be an integer, got {raw!r}") from None

        inference = InferenceSettings(
            provider=env.get(f"{PREFIX}_PROVIDER", "") or "auto",
            intra_op_threads=integer("INTRA_OP_THREADS", 0),
            inter_op_threads=integer("INTER_OP_THREADS", 1),
            concurrency=integer("CONCURRENCY", 1),
            max_slices=integer("MAX_SLICES", DEFAULT_MAX_SLICES),
            warmup_runs=integer("WARMUP_RUNS", 1),
        )
        return cls(Path(bundle), ServerConfig.from_env(PREFIX, env), inference)
