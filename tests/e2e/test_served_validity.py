"""The risks the system serves are the risks it reports: calibrated through the serving path, and
the served figures and the model card published by the gateway."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import httpx
import pytest

from cervixai.evaluate import evaluate, record_served


@pytest.mark.timeout(900)
def test_served_probabilities_are_calibrated_in_the_large(system_bundle: Path, e2e_cohort: Path,
                                                         tmp_path: Path) -> None:
    """Every patient of the cohort through the real services: the mean served probability of
    each task stays within two standard errors (or 10 points) of the observed rate. A bundle
    trained on ground-truth-mask features and served on the segmenter's contours — what the
    system did before — served a mean of 0.70 for a 7 % event and fails this by far."""
    bundle = tmp_path / "bundle"
    shutil.copytree(system_bundle, bundle)
    result = evaluate(e2e_cohort, bundle=bundle, split="all", bootstrap=20,
                      logs=tmp_path / "logs")
    data = result.to_json()
    assert data["patients"]["failed"] == 0 and data["patients"]["served"] == 40
    for task, figures in data["classification"].items():
        cal = figures["calibration_in_the_large"]
        tolerance = max(0.10, 2 * cal["standard_error"])
        assert math.isfinite(cal["mean_probability"])
        assert abs(cal["mean_probability"] - cal["observed_rate"]) <= tolerance, (task, cal)
    record_served(bundle, result)
    from cervixai.bundle import load_bundle

    served = load_bundle(bundle).models["classifier.recurrence"].metrics["served"]
    assert served["patients"] == 40 and served["split"] == "all"


def test_the_gateway_publishes_the_models_and_their_card(system) -> None:  # type: ignore[no-untyped-def]
    reply = httpx.get(f"{system.http_url}v1/models", timeout=30)
    assert reply.status_code == 200
    body = reply.json()
    models = {m["name"]: m for m in body["models"]}
    assert {"segmenter", "classifier.recurrence", "survival.rfs"} <= set(models)
    segmenter = models["segmenter"]["version"]
    imaged = [m for m in models.values() if m["image_features_from"] == "segmenter"]
    assert imaged and all(m["segmenter_version"].startswith(segmenter) for m in imaged)
    card = body["model_card"]
    assert card.startswith("# Model card") and "No real patient has ever been scored" in card
    assert "| recurrence |" in card
