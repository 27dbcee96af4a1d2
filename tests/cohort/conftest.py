from __future__ import annotations

from pathlib import Path

import pytest

from cervixai.cohort.synth import synthesize


@pytest.fixture(scope="session")
def clinical_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5000 patients, clinical files only: the marginal and oracle checks."""
    out = tmp_path_factory.mktemp("cohort5000") / "cohort"
    synthesize(out, 5000, seed=7, images=False)
    return out


@pytest.fixture(scope="session")
def image_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small cohort with images and masks."""
    out = tmp_path_factory.mktemp("cohort8") / "cohort"
    synthesize(out, 8, seed=3, workers=2)
    return out
