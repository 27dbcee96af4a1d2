"""What a training command hands back: :class:`TrainingResult`, one type for all three trainers.

Each trainer's entry point is ``train(options) -> TrainingResult`` in its ``run`` module
(:mod:`cervixai.segmentation.training.run`, :mod:`cervixai.classification.training.run`,
:mod:`cervixai.survival.training.run`); the figures are in the entries, as the bundle records
them, so a caller reads one thing whichever model it trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cervixai.bundle import BundleError, ModelEntry


@dataclass(frozen=True)
class TrainingResult:
    """The bundle a trainer wrote into, the entries it wrote (as written, in the order written),
    the reports it wrote, and what it could not train (model or task name → why)."""

    bundle: Path
    entries: tuple[ModelEntry, ...]
    reports: tuple[Path, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    def entry(self, name: str) -> ModelEntry:
        """The written entry ``name``; BundleError names those written when it is not one."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise BundleError(f"this training run wrote no {name!r} into {self.bundle}; it wrote "
                          f"{', '.join(self.names) or 'nothing'}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: where it went and each entry's identity (not its metrics)."""
        return {
            "bundle": str(self.bundle),
            "entries": [{"name": e.name, "version": e.version, "algorithm": e.algorithm,
                         "feature_set": e.feature_set, "threshold": e.threshold}
                        for e in self.entries],
            "reports": [str(p) for p in self.reports],
            "skipped": dict(self.skipped),
            "seconds": self.seconds,
        }
