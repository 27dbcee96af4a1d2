"""The served figures the services put beside each answer: read from exactly what
``cervixai evaluate --record`` writes into a manifest, and refused when malformed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cervixai.bundle import FileRef, ModelEntry
from cervixai.evaluate import summaries
from cervixai.evaluate.record import served_entries
from cervixai.evaluate.result import Evaluation, Settings
from cervixai.served import operating_characteristics, survival_performance

THRESHOLD = 0.3141592653589793


def _entry(name: str, served: dict[str, Any] | None) -> ModelEntry:
    return ModelEntry(name=name, task=name.split(".")[1], algorithm="test", feature_set="clinical",
                      files={"model": FileRef("m.onnx", "0" * 64)}, threshold=THRESHOLD,
                      metrics={} if served is None else {"served": served})


def _evaluation(positives: int) -> dict[str, dict[str, Any]]:
    """``metrics.served`` blocks of a 60-patient evaluation, as cervixai evaluate records them."""
    rng = np.random.default_rng(0)
    y = np.zeros(60, int)
    y[:positives] = 1
    p = np.clip(0.25 * y + rng.uniform(0, 0.6, 60), 0, 1)
    months = rng.uniform(1, 60, 60)
    event = (rng.uniform(size=60) < 0.3).astype(int)
    settings = Settings(cohort="synthetic", cohort_path="/c", split="test", api="http",
                        target="bundle B", bootstrap_rounds=50, seed=0, concurrency=1,
                        timeout_seconds=10)
    evaluation = Evaluation(
        settings=settings, patients=60, served=60, failures=[],
        tasks={"recurrence": summaries.classification(y, p, THRESHOLD, rounds=50)},
        survival={"rfs": summaries.survival(months, event, -months, rounds=50)},
        segmentation={"patients": 0}, subgroups={}, models={}, per_patient=[])
    return served_entries(evaluation)


@pytest.mark.parametrize("positives", [4, 25])
def test_the_recorded_classifier_figures_become_operating_characteristics(
        positives: int) -> None:
    served = _evaluation(positives)["classifier.recurrence"]
    figures = operating_characteristics(_entry("classifier.recurrence", served))
    assert figures is not None
    assert (figures.patients, figures.positives, figures.split) == (60, positives, "test")
    assert figures.reliable is (positives >= 10)
    assert figures.source == served["source"] and "60 patients" in figures.source
    assert figures.threshold == pytest.approx(THRESHOLD, abs=1e-6)  # recorded rounded
    for name in ("sensitivity", "specificity", "ppv", "npv"):
        proportion = getattr(figures, name)
        k, n = served[name]["count"]
        assert (proportion.numerator, proportion.denominator) == (k, n)
        assert proportion.value == pytest.approx(k / n, abs=1e-6)  # recorded rounded
        assert proportion.HasField("ci95") == (served[name]["ci95"] is not None)
    assert (figures.sensitivity.denominator, figures.specificity.denominator) == (
        positives, 60 - positives)
    assert figures.auc.value == pytest.approx(served["auc"]["value"])
    assert figures.auc.HasField("ci95") is (positives >= 10)
    assert not figures.HasField("oracle_auc")


def test_the_recorded_survival_figures_become_survival_performance() -> None:
    served = _evaluation(20)["survival.rfs"]
    figures = survival_performance(_entry("survival.rfs", served))
    assert figures is not None
    assert (figures.patients, figures.events) == (60, served["events"])
    assert figures.reliable is served["reliable"]
    assert figures.c_index.value == pytest.approx(served["c_index"]["value"])
    assert figures.c_index.HasField("ci95") == (served["c_index"]["ci95"] is not None)
    # no curves were given: the integrated Brier score has no value
    assert figures.HasField("integrated_brier_score")
    assert not figures.integrated_brier_score.HasField("value")


def test_an_entry_without_a_served_block_has_no_figures() -> None:
    assert operating_characteristics(_entry("classifier.death", None)) is None
    assert survival_performance(_entry("survival.os", None)) is None


def _classifier_block(**changes: Any) -> dict[str, Any]:
    block = _evaluation(20)["classifier.recurrence"]
    block.update(changes)
    return block


@pytest.mark.parametrize(("block", "message"), [
    (_classifier_block(reliable="yes"), r"metrics.served.reliable must be true or false"),
    (_classifier_block(patients=-1), r"metrics.served.patients must be a count"),
    (_classifier_block(threshold=0.5),
     r"metrics.served: counted at threshold 0.5, but the model's threshold is 0.314159"),
    (_classifier_block(ppv={"value": 0.5, "ci95": None, "count": [3, 2]}),
     r"metrics.served.ppv.count must be \[k, n\] with 0 <= k <= n"),
    (_classifier_block(auc={"value": 0.8, "ci95": [0.7]}), r"metrics.served.auc.ci95 must be"),
    (_classifier_block(auc={"value": "high", "ci95": None}),
     r"metrics.served.auc.value must be a finite number"),
    ([1, 2], r"metrics.served must be an object"),
])
def test_a_malformed_block_is_refused_naming_the_key(block: Any, message: str) -> None:
    entry = _entry("classifier.recurrence", None)
    entry.metrics["served"] = block
    with pytest.raises(ValueError, match=f"classifier.recurrence: {message}"):
        operating_characteristics(entry)
