"""The result of one evaluation: every figure, how it was obtained, and the patients that failed."""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cervixai.evaluate import summaries
from cervixai.evaluate import survival_metrics as sm
from cervixai.evaluate.cohort import (
    AGE_BANDS,
    NOT_GIVEN,
    OUTCOMES,
    age_band,
    figo_group,
    survival_outcome,
    task_outcome,
)
from cervixai.evaluate.serving import PatientResult

log = logging.getLogger(__name__)

TASK_ORDER = ("parametrial_invasion", "lymph_node_metastasis", "recurrence", "death")
SUBGROUP_KINDS = ("figo_stage_group", "age_band", "matrix")


def api_label(api: str) -> str:
    """``http`` → HTTP, ``grpc`` → gRPC."""
    return {"http": "HTTP", "grpc": "gRPC"}.get(api, api)


@dataclass(frozen=True)
class Settings:
    """How the evaluation was run (shown in every report)."""

    cohort: str
    cohort_path: str
    split: str
    api: str                    # http or grpc
    target: str                 # "bundle PATH" or "gateway URL"
    bootstrap_rounds: int
    seed: int
    concurrency: int
    timeout_seconds: float
    limit: int | None = None
    command: str = ""


@dataclass
class Evaluation:
    """Figures of the served system on one cohort split. ``to_json()`` is evaluation.json,
    ``markdown()`` evaluation.md; ``write(out_dir)`` writes both and the reliability plots."""

    settings: Settings
    patients: int                                   # sent to the gateway
    served: int                                     # answered
    failures: list[dict[str, Any]]
    tasks: dict[str, dict[str, Any]]
    survival: dict[str, dict[str, Any]]
    segmentation: dict[str, Any]
    subgroups: dict[str, dict[str, dict[str, Any]]]
    models: dict[str, list[str]]
    per_patient: list[dict[str, Any]]
    seconds: float = 0.0
    # (outcome, probability) per task, for the reliability plots; not part of the JSON
    reliability: dict[str, tuple[npt.NDArray[np.int_], npt.NDArray[np.float64]]] = field(
        default_factory=dict, repr=False)

    def source(self) -> str:
        """The one sentence that says where the figures come from."""
        s = self.settings
        return (f"cervixai evaluate through the gateway ({api_label(s.api)} API) on {self.served} "
                f"patients of split {s.split} of cohort {s.cohort}")

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        return {
            "source": self.source(),
            "settings": {"cohort": s.cohort, "cohort_path": s.cohort_path, "split": s.split,
                         "api": s.api, "target": s.target, "bootstrap_rounds": s.bootstrap_rounds,
                         "seed": s.seed, "concurrency": s.concurrency,
                         "timeout_seconds": s.timeout_seconds, "limit": s.limit,
                         "command": s.command},
            "patients": {"sent": self.patients, "served": self.served,
                         "failed": len([f for f in self.failures if f["stage"] != "truth"]),
                         "without_dice": len([f for f in self.failures
                                              if f["stage"] == "truth"])},
            "failures": self.failures,
            "models": self.models,
            "classification": self.tasks,
            "survival": self.survival,
            "segmentation": self.segmentation,
            "subgroups": self.subgroups,
            "per_patient": self.per_patient,
            "seconds": round(self.seconds, 1),
        }

    def markdown(self) -> str:
        from cervixai.evaluate.markdown import render

        return render(self)

    def write(self, out_dir: Path) -> list[Path]:
        """evaluation.json, evaluation.md and reliability-<task>.png under ``out_dir``."""
        from cervixai.evaluate.plots import reliability_plot

        out_dir.mkdir(parents=True, exist_ok=True)
        written = [out_dir / "evaluation.json", out_dir / "evaluation.md"]
        written[0].write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        written[1].write_text(self.markdown())
        if importlib.util.find_spec("matplotlib") is None:
            log.warning("matplotlib is not installed (it comes with cervixai[train]): no "
                        "reliability plots")
            return written
        for task, (y, p) in self.reliability.items():
            path = out_dir / f"reliability-{task}.png"
            s = self.settings
            reliability_plot(y, p, path, title=f"{task.replace('_', ' ')} — served through the "
                                               f"{api_label(s.api)} API, split {s.split} of "
                                               f"{s.cohort}")
            written.append(path)
        return written


def build(results: Sequence[PatientResult], settings: Settings, *,
          oracle: Mapping[str, Mapping[str, float]] | None = None,
          seconds: float = 0.0) -> Evaluation:
    """Every figure from the per-patient results."""
    rounds, seed = settings.bootstrap_rounds, settings.seed
    served = [r for r in results if r.served is not None]
    failures = [r.failure.to_json() for r in results if r.failure is not None]
    tasks: dict[str, dict[str, Any]] = {}
    survival: dict[str, dict[str, Any]] = {}
    reliability: dict[str, tuple[npt.NDArray[np.int_], npt.NDArray[np.float64]]] = {}
    grids = _grids(served)
    for task in _tasks(served):
        y, p, t, o = _task_arrays(served, task, oracle)
        tasks[task] = summaries.classification(y, p, t, oracle=o, rounds=rounds, seed=seed)
        reliability[task] = (y, p)
    for outcome in _outcomes(served):
        survival[outcome] = _survival_summary(served, outcome, grids.get(outcome), oracle,
                                              rounds, seed)
    scored = [r for r in served if r.dice is not None]
    segmentation = summaries.segmentation([r.dice for r in scored if r.dice is not None],
                                          rounds=rounds, seed=seed)
    subgroups = {kind: _subgroups(served, kind, grids, oracle, rounds, seed)
                 for kind in SUBGROUP_KINDS}
    models: dict[str, set[str]] = {}
    for r in served:
        assert r.served is not None
        for name, version in r.served.models.items():
            models.setdefault(name, set()).add(version)
    per_patient = [{"index": r.patient.index, "patient_id": r.patient.patient_id,
                    "served": r.served is not None,
                    "dice": None if r.dice is None else round(r.dice, 6),
                    "figo_stage_group": figo_group(r.patient.row),
                    "age_band": age_band(r.patient.row),
                    "matrix": _matrix(r)} for r in results]
    return Evaluation(settings, len(results), len(served), failures, tasks, survival,
                      segmentation, subgroups, {k: sorted(v) for k, v in models.items()},
                      per_patient, seconds, reliability)


def _tasks(served: Sequence[PatientResult]) -> list[str]:
    names = {t for r in served if r.served for t in r.served.predictions}
    return sorted(names, key=lambda t: (TASK_ORDER.index(t) if t in TASK_ORDER else 99, t))


def _outcomes(served: Sequence[PatientResult]) -> list[str]:
    names = {o for r in served if r.served for o in r.served.survival}
    return sorted(names, key=lambda o: (OUTCOMES.index(o) if o in OUTCOMES else 99, o))


def _task_arrays(results: Sequence[PatientResult], task: str,
                 oracle: Mapping[str, Mapping[str, float]] | None
                 ) -> tuple[npt.NDArray[np.int_], npt.NDArray[np.float64],
                            npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    rows = [r for r in results if r.served and task in r.served.predictions]
    y = np.array([task_outcome(r.patient, task) for r in rows], dtype=int)
    p = np.array([r.served.predictions[task].probability for r in rows if r.served], float)
    t = np.array([r.served.predictions[task].threshold for r in rows if r.served], float)
    return y, p, t, _oracle_values(rows, task, oracle)


def _oracle_values(rows: Sequence[PatientResult], column: str,
                   oracle: Mapping[str, Mapping[str, float]] | None
                   ) -> npt.NDArray[np.float64] | None:
    if oracle is None:
        return None
    try:
        return np.array([oracle[r.patient.patient_id][column] for r in rows], float)
    except KeyError:
        return None


def _grids(served: Sequence[PatientResult]) -> dict[str, npt.NDArray[np.float64]]:
    """One integrated-Brier grid per outcome, from all served patients (subgroups share it)."""
    grids = {}
    for outcome in _outcomes(served):
        months = [survival_outcome(r.patient, outcome)[0] for r in served
                  if r.served and outcome in r.served.survival]
        try:
            grids[outcome] = sm.evaluation_grid(months)
        except (ValueError, IndexError):
            continue
    return grids


def _survival_summary(results: Sequence[PatientResult], outcome: str,
                      grid: npt.NDArray[np.float64] | None,
                      oracle: Mapping[str, Mapping[str, float]] | None, rounds: int,
                      seed: int) -> dict[str, Any]:
    rows = [r for r in results if r.served and outcome in r.served.survival]
    times = np.array([survival_outcome(r.patient, outcome)[0] for r in rows], float)
    events = np.array([survival_outcome(r.patient, outcome)[1] for r in rows], int)
    estimates = [r.served.survival[outcome] for r in rows if r.served]
    risk = np.array([e.risk_score for e in estimates], float)
    curves = sm.curve_matrix([e.curve for e in estimates], grid) if grid is not None else None
    return summaries.survival(times, events, risk, curves, grid,
                              oracle=_oracle_values(rows, f"{outcome}_risk", oracle),
                              rounds=rounds, seed=seed)


def _matrix(result: PatientResult) -> str:
    if result.served is None:
        return NOT_GIVEN
    rows, columns = result.served.matrix
    return f"{rows}" if rows == columns else f"{rows}x{columns}"


SUBGROUP_KEYS: dict[str, Callable[[PatientResult], str]] = {
    "figo_stage_group": lambda r: figo_group(r.patient.row),
    "age_band": lambda r: age_band(r.patient.row),
    "matrix": _matrix,
}
_ORDER = {"figo_stage_group": ["I", "II"], "age_band": [label for _, label in AGE_BANDS],
          "matrix": ["256", "320"]}


def _subgroups(served: Sequence[PatientResult], kind: str,
               grids: Mapping[str, npt.NDArray[np.float64]],
               oracle: Mapping[str, Mapping[str, float]] | None, rounds: int,
               seed: int) -> dict[str, dict[str, Any]]:
    key = SUBGROUP_KEYS[kind]
    labels = sorted({key(r) for r in served},
                    key=lambda g: (_ORDER[kind].index(g) if g in _ORDER[kind] else 99, g))
    out: dict[str, dict[str, Any]] = {}
    for label in labels:
        members = [r for r in served if key(r) == label]
        group: dict[str, Any] = {"patients": len(members), "classification": {},
                                 "survival": {}}
        for task in _tasks(members):
            y, p, t, o = _task_arrays(members, task, oracle)
            group["classification"][task] = summaries.classification(
                y, p, t, oracle=o, rounds=rounds, seed=seed)
        for outcome in _outcomes(members):
            group["survival"][outcome] = _survival_summary(members, outcome, grids.get(outcome),
                                                           oracle, rounds, seed)
        group["segmentation"] = summaries.segmentation(
            [r.dice for r in members if r.dice is not None], rounds=rounds, seed=seed)
        out[label] = group
    return out
