"""The oracle's figures for a synthetic cohort: how well the true probabilities and risks score."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from cervixai.cohort import format as cf
from cervixai.evaluation import harrell_c, roc_auc


def oracle_figures(root: Path) -> dict[str, dict[str, float]]:
    """Prevalence and oracle AUC per binary task; event share and oracle C-index per survival
    outcome; computed over the whole cohort.

    For the two preoperative tasks also ``preoperative_oracle_auc``: the AUC of the true
    probability averaged over the pathology a preoperative model cannot see
    (:mod:`cervixai.cohort.synth.preoperative`), when the cohort is reproducible from its seed
    (otherwise left out, with a warning)."""
    from cervixai.cohort.synth.preoperative import NotReproducible, cohort_preoperative_oracle

    _, rows = cf.read_csv(root / cf.CLINICAL_CSV)
    _, oracle_rows = cf.read_csv(root / cf.ORACLE_CSV)
    oracle = {r["patient_id"]: r for r in oracle_rows}
    truth = [oracle[r["patient_id"]] for r in rows]
    figures: dict[str, dict[str, float]] = {}
    for task in cf.TASKS:
        y = np.array([cf.task_label(r, task) for r in rows])
        p = np.array([float(o[task]) for o in truth])
        figures[task] = {"prevalence": float(y.mean()), "oracle_auc": roc_auc(y, p)}
    try:
        preoperative = cohort_preoperative_oracle(root)
    except (NotReproducible, FileNotFoundError, KeyError) as error:
        warnings.warn(f"no preoperative oracle: {error}", stacklevel=2)
        preoperative = {}
    for task, values in preoperative.items():
        y = np.array([cf.task_label(r, task) for r in rows])
        pre = np.array([values[r["patient_id"]] for r in rows])
        figures[task]["preoperative_oracle_auc"] = roc_auc(y, pre)
    for outcome in ("rfs", "os"):
        t = np.array([float(r[f"{outcome}_months"]) for r in rows])
        e = np.array([int(r[f"{outcome}_event"]) for r in rows])
        risk = np.array([float(o[f"{outcome}_risk"]) for o in truth])
        figures[outcome] = {"events": float(e.mean()), "median_months": float(np.median(t)),
                            "oracle_c_index": harrell_c(t, e, risk)}
    return figures
