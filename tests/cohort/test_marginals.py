"""The synthetic cohort follows the study's Table 1, with a known, realistically hard truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cervixai.cohort import format as cf
from cervixai.cohort.oracle import oracle_figures
from cervixai.cohort.synth.clinical import LEVEL_RENAMES, SIZE_BINS, TABLE_NAMES
from cervixai.cohort.table1 import table1

SHARED = Path(__file__).resolve().parents[3] / "shared" / "paper_table1.json"
# Table 1 variables that are written under another name or are outcomes in clinical.csv.
COLUMN_OF = {v: k for k, v in TABLE_NAMES.items()} | {"recurrence": "recurrence_site",
                                                       "death": "death"}


def _rows(cohort: Path) -> list[dict[str, str]]:
    return cf.read_csv(cohort / cf.CLINICAL_CSV)[1]


def test_packaged_table_is_the_shared_one() -> None:
    if not SHARED.exists():
        pytest.skip("shared/paper_table1.json is not beside the repository")
    assert json.loads(SHARED.read_text()) == table1()


@pytest.mark.parametrize("variable", [v for v in table1()["categorical"] if v != "tumor_size_cm"])
def test_categorical_shares_within_3_points(clinical_cohort: Path, variable: str) -> None:
    rows = _rows(clinical_cohort)
    column = COLUMN_OF.get(variable, variable)
    counts = table1()["categorical"][variable]
    total = sum(counts.values())
    for level, count in counts.items():
        ours = LEVEL_RENAMES.get(level, level).lower()
        if variable == "death":
            share = np.mean([r["death"] == ("1" if level == "yes" else "0") for r in rows])
        else:
            share = np.mean([r[column].lower() == ours for r in rows])
        assert abs(share - count / total) <= 0.03, (variable, level, share, count / total)


def test_tumour_size_bins_within_3_points(clinical_cohort: Path) -> None:
    sizes = np.array([float(r["tumor_size_cm"]) for r in _rows(clinical_cohort)
                      if r["tumor_size_cm"]])
    counts = list(table1()["categorical"]["tumor_size_cm"].values())
    for (lo, hi), count in zip(SIZE_BINS, counts, strict=True):
        top = hi if hi < SIZE_BINS[-1][1] else np.inf
        share = np.mean((sizes >= lo) & (sizes < top))
        assert abs(share - count / sum(counts)) <= 0.03, (lo, hi, share)


@pytest.mark.parametrize("variable", ["scca_ng_ml", "operative_time_min", "blood_loss_ml",
                                      "rfs_months", "os_months"])
def test_continuous_median_and_iqr_within_10_percent(clinical_cohort: Path, variable: str) -> None:
    values = np.array([float(r[variable]) for r in _rows(clinical_cohort)])
    spec = table1()["continuous"][variable]
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    assert median == pytest.approx(spec["median"], rel=0.10)
    assert q1 == pytest.approx(spec["iqr"][0], rel=0.10)
    assert q3 == pytest.approx(spec["iqr"][1], rel=0.10)


def test_age_mean_and_sd(clinical_cohort: Path) -> None:
    ages = np.array([float(r["age_years"]) for r in _rows(clinical_cohort)])
    assert ages.mean() == pytest.approx(48.8, rel=0.10)
    assert ages.std() == pytest.approx(9.6, rel=0.10)


def _km(time: np.ndarray, event: np.ndarray, at: float) -> float:
    survival = 1.0
    for t in np.unique(time[event & (time <= at)]):
        survival *= 1 - np.sum((time == t) & event) / np.sum(time >= t)
    return float(survival)


@pytest.mark.parametrize(("outcome", "one_year", "three_years"),
                         [("rfs", 0.944, 0.901), ("os", 0.992, 0.954)])
def test_survival_rates_near_the_study(clinical_cohort: Path, outcome: str, one_year: float,
                                       three_years: float) -> None:
    rows = _rows(clinical_cohort)
    t = np.array([float(r[f"{outcome}_months"]) for r in rows])
    e = np.array([r[f"{outcome}_event"] == "1" for r in rows])
    assert _km(t, e, 12) == pytest.approx(one_year, abs=0.015)
    assert _km(t, e, 36) == pytest.approx(three_years, abs=0.025)


def test_oracle_is_realistically_hard(clinical_cohort: Path) -> None:
    figures = oracle_figures(clinical_cohort)
    paper = {"parametrial_invasion": 0.064, "lymph_node_metastasis": 0.256, "recurrence": 0.096,
             "death": 0.044}
    for task, prevalence in paper.items():
        assert figures[task]["prevalence"] == pytest.approx(prevalence, abs=0.015), task
        assert 0.80 <= figures[task]["oracle_auc"] <= 0.92, (task, figures[task])
    for outcome in ("rfs", "os"):
        assert 0.75 <= figures[outcome]["oracle_c_index"] <= 0.95


def test_outcomes_depend_on_the_image_beyond_the_clinical_record(clinical_cohort: Path) -> None:
    """The oracle uses image-only latents: a score from clinical variables alone falls short."""
    from cervixai.cohort.synth import outcomes as om

    rng = np.random.default_rng(11)
    from cervixai.cohort.synth.clinical import draw_clinical

    draw = draw_clinical(20_000, rng)
    h, r = rng.standard_normal(20_000), rng.standard_normal(20_000)
    result = om.draw_outcomes(draw, h, r, rng)
    design = om._design(draw, h, r)
    clinical_only = {k: v for k, v in om.LYMPH_NODES.items()
                     if k not in ("heterogeneity", "irregularity")}
    from cervixai.evaluation import roc_auc

    y = result.lymph_node_metastasis
    full = roc_auc(y, result.oracle["lymph_node_metastasis"])
    partial = roc_auc(y, om._linear(design, clinical_only))
    assert full - partial > 0.04, (full, partial)


def test_split_is_stratified_8_to_2(clinical_cohort: Path) -> None:
    rows = _rows(clinical_cohort)
    test = [r for r in rows if r["split"] == "test"]
    assert len(test) / len(rows) == pytest.approx(0.2, abs=0.01)
    for task in cf.TASKS:
        overall = np.mean([cf.task_label(r, task) for r in rows])
        held_out = np.mean([cf.task_label(r, task) for r in test])
        assert held_out == pytest.approx(overall, abs=0.02), task
