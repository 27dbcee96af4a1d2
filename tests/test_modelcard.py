"""The model card: served figures with their counts, small samples flagged, subgroups."""

from __future__ import annotations

from pathlib import Path

from cervixai.bundle import Bundle, FileRef, ModelEntry
from cervixai.modelcard import render


def _served(positives: int, reliable: bool) -> dict[str, object]:
    ci = [0.7, 0.9] if reliable else None
    return {"source": "cervixai evaluate through the gateway on 300 patients", "patients": 300,
            "positives": positives, "reliable": reliable,
            "auc": {"value": 0.85, "ci95": ci},
            "sensitivity": {"value": 0.75, "ci95": ci, "count": [3, 4]},
            "specificity": {"value": 0.6, "ci95": [0.5, 0.7], "count": [177, 296]},
            "ppv": {"value": 0.1, "ci95": None, "count": [3, 30]},
            "calibration_in_the_large": {"mean_probability": 0.06, "observed_rate": 0.05},
            "oracle_auc": 0.92}


def _entry(name: str, task: str, served: dict[str, object] | None) -> ModelEntry:
    return ModelEntry(name=name, task=task, algorithm="logistic_regression",
                      feature_set="radiomics", files={"model": FileRef("m.onnx", "ab" * 32)},
                      metrics={"served": served} if served else {},
                      training_data={"cohort": "c", "seed": 0, "patients": 250},
                      parameters={"image_features_from": "segmenter",
                                  "segmenter_version": "cd" * 32})


def test_the_card_shows_served_counts_flags_small_samples_and_lists_subgroups() -> None:
    bundle = Bundle(Path("/b/bundle"), {
        "classifier.death": _entry("classifier.death", "death", _served(4, False)),
        "classifier.recurrence": _entry("classifier.recurrence", "recurrence", _served(27, True)),
        "classifier.lymph_node_metastasis": _entry("classifier.lymph_node_metastasis",
                                                   "lymph_node_metastasis", None)})
    evaluation = {"subgroups": {"matrix": {"320": {"patients": 140, "classification": {
        "recurrence": {"positives": 12, "reliable": True, "auc": {"value": 0.81, "ci95": None},
                       "calibration_in_the_large": {"mean_probability": 0.1,
                                                    "observed_rate": 0.086}}}}}}}
    card = render(bundle, evaluation)
    death = next(line for line in card.splitlines() if line.startswith("| death |"))
    assert "300 / 4 — **unreliable: fewer than 10 positives**" in death
    assert "0.750 (3/4) |" in death and "[" not in death.split("|")[5]   # no interval
    recurrence = next(line for line in card.splitlines() if line.startswith("| recurrence |"))
    assert "0.850 [0.700–0.900]" in recurrence and "unreliable" not in recurrence
    assert "| lymph node metastasis | logistic_regression (radiomics) | not measured" in card
    assert "| matrix | 320 | 140 | recurrence | 12 | 0.810 | 0.100 vs 0.086 |" in card
    assert "segmenter cdcdcdcdcdcd" in card and "No real patient has ever been scored" in card
