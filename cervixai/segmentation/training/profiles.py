"""Named training configurations: how wide and deep the network is and how long it trains."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Profile:
    """Network shape and training schedule. Steps are optimiser steps on ``batch`` crops."""

    name: str
    channels: tuple[int, ...]
    planar_levels: int
    crop: tuple[int, int, int]           # (slices, rows, columns) of a training crop
    batch: int
    max_steps: int
    eval_every: int                      # steps between validation passes
    patience: int                        # validation passes without improvement before stopping
    learning_rate: float
    ungated_levels: int = 0              # top levels without a squeeze-and-excitation gate
    lesion_share: float = 0.7            # share of crops centred near the lesion
    validation_patients: int = 16        # whole volumes scored at each validation pass
    calibration_batches: int = 25        # batches averaged into batch norm's statistics

    def __post_init__(self) -> None:
        if min(self.batch, self.max_steps, self.eval_every, self.patience,
               self.calibration_batches) < 1:
            raise ValueError(f"profile {self.name!r}: batch, max_steps, eval_every, patience and "
                             "calibration_batches must be ≥ 1")
        if not 0 <= self.lesion_share <= 1:
            raise ValueError(f"profile {self.name!r}: lesion_share must be in [0, 1], got "
                             f"{self.lesion_share}")

    def with_overrides(self, **changes: Any) -> Profile:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES = {
    # Tests: seconds on a CPU.
    "tiny": Profile("tiny", channels=(4, 8, 16), planar_levels=1, crop=(8, 64, 64), batch=2,
                    max_steps=6, eval_every=3, patience=2, learning_rate=3e-3,
                    validation_patients=2, calibration_batches=2),
    # `make run`'s default bundle: ~4 CPU-minutes of steps (2–3 minutes on 2 idle cores). It
    # keeps one planar level and every gate: in 250 steps that shape got further (validation
    # Dice 0.69–0.71) than `small`'s did in 375, which took longer (0.51; docs/segmenter.md).
    "quick": Profile("quick", channels=(8, 16, 32, 64), planar_levels=1, crop=(16, 96, 96),
                     batch=2, max_steps=250, eval_every=125, patience=2, learning_rate=3e-3,
                     validation_patients=6),
    # The report's CPU model: ~10 minutes on 2 idle CPU cores. Two planar levels and no gate at
    # full resolution: a step costs 0.65× the one-planar-level, all-gated network's (hence 900
    # steps, not 600) and serving ≈0.85× (docs/segmenter.md).
    "small": Profile("small", channels=(8, 16, 32, 64), planar_levels=2, ungated_levels=1,
                     crop=(16, 96, 96), batch=2, max_steps=900, eval_every=150, patience=3,
                     learning_rate=3e-3, validation_patients=12),
    # The segmenter the repository ships (models/segmenter/): `small`'s network in one long CPU
    # run (about 35 minutes on 2 idle cores) on larger crops, trained on a cohort of its own so
    # that it contours every patient of `make run`'s cohort out of sample.
    "long": Profile("long", channels=(8, 16, 32, 64), planar_levels=2, ungated_levels=1,
                    crop=(16, 128, 128), batch=2, max_steps=3000, eval_every=250, patience=4,
                    learning_rate=3e-3, validation_patients=24),
    # For a GPU: the reference width, larger crops. Two planar levels and no gate at full
    # resolution, so that a CPU serves it at ≥ 70 % of its matmul rate; on a GPU it trains to
    # the same Dice as the isotropic, all-gated network (docs/segmenter.md).
    "full": Profile("full", channels=(16, 32, 64, 128), planar_levels=2, ungated_levels=1,
                    crop=(24, 160, 160), batch=4, max_steps=6000, eval_every=250, patience=6,
                    learning_rate=1e-3, validation_patients=40),
}
