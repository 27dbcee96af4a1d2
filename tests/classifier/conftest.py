"""Fixtures of the classifier tests: a clinical-only cohort, a bundle trained on it (every task,
clinical features) and the same bundle with lymph node metastasis retrained on the 24-patient
imaged cohort's radiomics (so the service sees an image model too)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cervixai import shipped
from cervixai.classification.training.protocol import Protocol
from cervixai.classification.training.run import TrainOptions, train
from cervixai.cohort.synth import synthesize
from cervixai.training import TrainingResult

# the study's 1:1 downsampling, so that the calibration has a shifted prior to undo
FAST = Protocol(quick=True, seed=0, downsample=True)


@pytest.fixture(scope="session")
def clinical_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 patients without images (seed 3): every task has positives in both splits."""
    out = tmp_path_factory.mktemp("clinical-cohort") / "cohort"
    synthesize(out, 200, seed=3, images=False)
    return out


@pytest.fixture(scope="session")
def clinical_training(clinical_cohort: Path, tmp_path_factory: pytest.TempPathFactory
                      ) -> tuple[Path, TrainingResult]:
    bundle = tmp_path_factory.mktemp("bundle") / "bundle"
    summary = train(TrainOptions(clinical_cohort, bundle,
                                 algorithms=("logistic_regression", "weighted_knn"),
                                 feature_sets=("clinical",), protocol=FAST, bootstrap=20))
    return bundle, summary


@pytest.fixture(scope="session")
def image_training(small_cohort: Path, clinical_training: tuple[Path, TrainingResult],
                   segmenter_artifact: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> tuple[Path, TrainingResult]:
    """Radiomics models on the 24-patient imaged cohort, from the contours of a segmenter
    trained on other patients, written into a copy of the clinical bundle with that segmenter
    (parametrial invasion has no positive there, so its clinical model stays)."""
    bundle = tmp_path_factory.mktemp("image-bundle") / "bundle"
    shutil.copytree(clinical_training[0], bundle)
    shipped.install(bundle, segmenter_artifact)
    cache = tmp_path_factory.mktemp("feature-cache")
    summary = train(TrainOptions(small_cohort, bundle, algorithms=("logistic_regression",),
                                 feature_sets=("radiomics",),
                                 tasks=("parametrial_invasion", "lymph_node_metastasis"),
                                 protocol=FAST, bootstrap=20, cache_dir=cache, workers=2))
    return bundle, summary
