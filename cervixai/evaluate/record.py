"""``metrics["served"]`` of a bundle's entries: the figures measured through the serving path.

The schema is a contract that other code reads (docs/evaluation.md); it holds exactly these keys:

- ``classifier.<task>``: source, cohort, split, patients, positives, reliable, threshold, auc,
  sensitivity, specificity, ppv, npv (``{"value", "ci95"}``, proportions with ``count``),
  calibration_in_the_large, calibration_slope, oracle_auc
- ``survival.<outcome>``: source, cohort, split, patients, events, reliable, c_index,
  integrated_brier_score, oracle_c_index
- ``segmenter``: source, cohort, split, patients, dice_mean, dice_median, below_0_05
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cervixai.evaluate.result import Evaluation

CLASSIFIER_KEYS = ("patients", "positives", "reliable", "threshold")
CLASSIFIER_ESTIMATES = ("auc", "sensitivity", "specificity", "ppv", "npv")
SURVIVAL_KEYS = ("patients", "events", "reliable")
SURVIVAL_ESTIMATES = ("c_index", "integrated_brier_score")


def _estimate(summary: dict[str, Any]) -> dict[str, Any]:
    out = {"value": summary.get("value"), "ci95": summary.get("ci95")}
    if "count" in summary:
        out["count"] = summary["count"]
    return out


def _header(evaluation: Evaluation) -> dict[str, Any]:
    s = evaluation.settings
    return {"source": evaluation.source(), "cohort": s.cohort, "split": s.split}


def classifier_served(evaluation: Evaluation, task: str) -> dict[str, Any]:
    """The ``metrics.served`` of ``classifier.<task>``."""
    summary = evaluation.tasks[task]
    out = {**_header(evaluation), **{k: summary[k] for k in CLASSIFIER_KEYS}}
    out.update({k: _estimate(summary[k]) for k in CLASSIFIER_ESTIMATES})
    out["calibration_in_the_large"] = summary["calibration_in_the_large"]
    out["calibration_slope"] = {"value": summary["calibration_slope"]["value"],
                                "ci95": summary["calibration_slope"]["ci95"]}
    out["oracle_auc"] = summary["oracle_auc"]
    return out


def survival_served(evaluation: Evaluation, outcome: str) -> dict[str, Any]:
    """The ``metrics.served`` of ``survival.<outcome>``."""
    summary = evaluation.survival[outcome]
    out = {**_header(evaluation), **{k: summary[k] for k in SURVIVAL_KEYS}}
    out.update({k: {"value": summary[k]["value"], "ci95": summary[k]["ci95"]}
                for k in SURVIVAL_ESTIMATES})
    out["oracle_c_index"] = summary["oracle_c_index"]
    return out


def segmenter_served(evaluation: Evaluation) -> dict[str, Any]:
    """The ``metrics.served`` of ``segmenter``."""
    s = evaluation.segmentation
    return {**_header(evaluation), "patients": s["patients"],
            "dice_mean": {"value": s["dice_mean"]["value"], "ci95": s["dice_mean"]["ci95"]},
            "dice_median": s["dice_median"], "below_0_05": s["below_0_05"]}


def served_entries(evaluation: Evaluation) -> dict[str, dict[str, Any]]:
    """Bundle entry name → its ``metrics.served``, for every model the evaluation measured."""
    entries = {f"classifier.{task}": classifier_served(evaluation, task)
               for task in evaluation.tasks}
    entries.update({f"survival.{outcome}": survival_served(evaluation, outcome)
                    for outcome in evaluation.survival})
    if evaluation.segmentation["patients"]:
        entries["segmenter"] = segmenter_served(evaluation)
    return entries


def record_served(bundle: Path, evaluation: Evaluation) -> None:
    """Write ``metrics["served"]`` into each measured entry of the bundle's manifest (each entry
    rewritten atomically; other metrics untouched). Entries the bundle lacks are skipped; nothing
    is written when a patient was not served or a served model is not the bundle's own (another
    version)."""
    from cervixai.bundle import BundleError, ModelEntry, load_bundle, update_entry

    failed = [f for f in evaluation.failures if f["stage"] != "truth"]
    if failed:
        raise BundleError(f"{len(failed)} of {evaluation.patients} patients were not served "
                          f"(first: patient #{failed[0]['index']}); figures of a partial "
                          f"evaluation are not recorded")
    served = served_entries(evaluation)
    loaded = load_bundle(bundle)
    for name in served:
        entry = loaded.models.get(name)
        versions = evaluation.models.get(name, [])
        if entry is not None and versions and set(versions) != {entry.version}:
            raise BundleError(f"the evaluated {name} ({', '.join(versions)}) is not the "
                              f"bundle's ({entry.version}); nothing recorded")
    for name, metrics in served.items():
        def add(entry: ModelEntry, metrics: dict[str, Any] = metrics) -> ModelEntry | None:
            # read under the manifest lock: an entry a trainer replaced meanwhile is another
            # model, and keeps its own figures
            if set(evaluation.models.get(entry.name, [entry.version])) != {entry.version}:
                return None
            return dataclasses.replace(entry, metrics={**entry.metrics, "served": metrics})

        update_entry(bundle, name, add)
