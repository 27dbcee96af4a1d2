"""The training report in the layout of the study's Tables 2 (preoperative tasks) and 3
(postoperative tasks): every algorithm × task × feature set, as Markdown and CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cervixai.classification.training.metrics import METRICS
from cervixai.evaluation import MIN_RELIABLE_COUNT

TABLES = (("Table 2 — preoperative tasks", ("parametrial_invasion", "lymph_node_metastasis")),
          ("Table 3 — postoperative tasks", ("recurrence", "death")))
SHORT = {"sensitivity": "Sens", "specificity": "Spec", "accuracy": "Acc", "precision": "Prec",
         "f1": "F1", "weighted_accuracy": "WA", "auc": "AUC"}


@dataclass
class CandidateResult:
    """One row of the report."""

    task: str
    feature_set: str
    algorithm: str
    cv_auc: float = math.nan
    threshold: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    oracle_auc: float = math.nan
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    chosen: bool = False
    error: str = ""
    notes: list[str] = field(default_factory=list)
    ideal_auc: float | None = None    # refit and scored on ground-truth-mask features
    positives: int = 0                # in the test split
    negatives: int = 0


def _num(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _cell(result: CandidateResult, name: str) -> str:
    value = result.metrics.get(name, math.nan)
    lo, hi = result.ci.get(name, (math.nan, math.nan))
    if not math.isfinite(value):
        return "n/a"
    basis = {"sensitivity": result.positives, "specificity": result.negatives}.get(
        name, min(result.positives, result.negatives))
    if basis < MIN_RELIABLE_COUNT:   # no interval a handful of cases cannot support
        kind = "negatives" if name == "specificity" else "positives"
        return f"{value:.2f} (unreliable: {basis} {kind})"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{value:.2f}"
    return f"{value:.2f} ({lo:.2f}–{hi:.2f})"


def markdown(results: Sequence[CandidateResult], header: str) -> str:
    """Both tables; the chosen model of each task in bold."""
    lines = [header, ""]
    columns = ["task", "features", "algorithm", *(SHORT[m] for m in METRICS), "CV AUC",
               "threshold", "oracle AUC"]
    for title, tasks in TABLES:
        rows = [r for r in results if r.task in tasks]
        if not rows:
            continue
        lines += [f"### {title}", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        for r in rows:
            name = f"**{r.algorithm}**" if r.chosen else r.algorithm
            if r.error:
                cells = [r.task, r.feature_set, name, f"failed: {r.error}"] + [""] * (
                    len(columns) - 4)
            else:
                cells = [r.task, r.feature_set, name, *(_cell(r, m) for m in METRICS),
                         _num(r.cv_auc), _num(r.threshold), _num(r.oracle_auc)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def csv_text(results: Sequence[CandidateResult]) -> str:
    """One row per candidate, every metric with its CI bounds."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["task", "feature_set", "algorithm", "chosen"]
    for m in METRICS:
        header += [m, f"{m}_ci_low", f"{m}_ci_high"]
    header += ["cv_auc", "threshold", "oracle_auc", "hyperparameters", "error", "notes"]
    writer.writerow(header)
    for r in results:
        row: list[object] = [r.task, r.feature_set, r.algorithm, int(r.chosen)]
        for m in METRICS:
            lo, hi = r.ci.get(m, (math.nan, math.nan))
            row += [_fmt(r.metrics.get(m, math.nan)), _fmt(lo), _fmt(hi)]
        row += [_fmt(r.cv_auc), _fmt(r.threshold), _fmt(r.oracle_auc),
                ";".join(f"{k}={v}" for k, v in sorted(r.hyperparameters.items())), r.error,
                "; ".join(r.notes)]
        writer.writerow(row)
    return out.getvalue()


def _fmt(x: float) -> str:
    return "" if not math.isfinite(x) else f"{x:.4f}"
