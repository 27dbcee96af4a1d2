"""The segmenter's own settings, read once from ``CERVIXAI_SEGMENTER_*`` variables at start
(the bundle and the server's variables are every model service's:
:class:`cervixai.service.ModelServiceConfig`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cervixai.grid import MODEL_MAX_SLICES
from cervixai.service.config import integer_variable

DEFAULT_MAX_SLICES = MODEL_MAX_SLICES
PROVIDERS = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class InferenceSettings:
    """How onnxruntime runs the network.

    Environment: ``CERVIXAI_SEGMENTER_PROVIDER`` (auto | cpu | cuda), ``_INTRA_OP_THREADS``
    (0: one per physical core), ``_CONCURRENCY`` (inferences at once; more than one on a CPU only
    splits the same cores), ``_MAX_SLICES``, ``_WARMUP_RUNS`` (inferences before SERVING; more
    lets a GPU settle). The graph runs sequentially, so there is no inter-op thread setting.
    """

    provider: str = "auto"
    intra_op_threads: int = 0
    concurrency: int = 1
    max_slices: int = DEFAULT_MAX_SLICES
    warmup_runs: int = 1

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}, got {self.provider!r}")
        if self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be ≥ 0, got {self.intra_op_threads}")
        if self.concurrency < 1 or self.max_slices < 1 or self.warmup_runs < 1:
            raise ValueError(f"concurrency, max_slices and warmup_runs must be ≥ 1, got "
                             f"{self.concurrency}, {self.max_slices}, {self.warmup_runs}")

    @classmethod
    def from_env(cls, prefix: str, env: Mapping[str, str]) -> InferenceSettings:
        return cls(
            provider=env.get(f"{prefix}_PROVIDER", "") or "auto",
            intra_op_threads=integer_variable(env, f"{prefix}_INTRA_OP_THREADS", 0),
            concurrency=integer_variable(env, f"{prefix}_CONCURRENCY", 1),
            max_slices=integer_variable(env, f"{prefix}_MAX_SLICES", DEFAULT_MAX_SLICES),
            warmup_runs=integer_variable(env, f"{prefix}_WARMUP_RUNS", 1),
        )
