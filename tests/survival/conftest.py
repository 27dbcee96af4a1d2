"""Survival fixtures: a clinical-only cohort and bundles trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from cervixai import shipped
from cervixai.cohort.synth import synthesize
from cervixai.survival.training.run import TrainOptions, train


@pytest.fixture(scope="session")
def clinical_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 synthetic patients without images (seed 5): enough events for stable fits."""
    out = tmp_path_factory.mktemp("survival-cohort") / "cohort"
    synthesize(out, 400, seed=5, images=False)
    return out


@pytest.fixture(scope="session")
def clinical_bundle(tmp_path_factory: pytest.TempPathFactory, clinical_cohort: Path) -> Path:
    """A --quick bundle on the clinical feature set."""
    out = tmp_path_factory.mktemp("survival-bundle") / "bundle"
    train(TrainOptions(cohort=clinical_cohort, out=out, quick=True, bootstrap=10,
                       cache_dir=out.parent / "cache"))
    return out


@pytest.fixture(scope="session")
def radiomics_bundle(tmp_path_factory: pytest.TempPathFactory, small_cohort: Path,
                     segmenter_artifact: Path) -> Path:
    """A --quick bundle on radiomics + clinical, from the shared 24-patient image cohort as
    contoured by a segmenter trained on other patients (which the bundle serves)."""
    out = tmp_path_factory.mktemp("survival-radiomics") / "bundle"
    shipped.install(out, segmenter_artifact)
    train(TrainOptions(cohort=small_cohort, out=out, quick=True, bootstrap=0,
                       select_feature_set="radiomics", cache_dir=out.parent / "cache"))
    return out
