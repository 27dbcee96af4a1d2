"""The preoperative oracle: E[true probability | what a preoperative model can observe]."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from cervixai.cohort import format as cf
from cervixai.cohort.oracle import oracle_figures
from cervixai.cohort.synth import outcomes as om
from cervixai.cohort.synth import preoperative as po
from cervixai.cohort.synth.clinical import draw_clinical
from cervixai.evaluation import roc_auc

TASKS = ("parametrial_invasion", "lymph_node_metastasis")


def _reference(n: int, seed: int) -> tuple[po.Observables, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    draw = draw_clinical(n, rng)
    h, r = rng.standard_normal(n), rng.standard_normal(n)
    x = om._design(draw, h, r)
    cal = om.calibration()
    true = {
        "parametrial_invasion": expit(cal.parametrial_intercept + om._linear(x, om.PARAMETRIAL)),
        "lymph_node_metastasis": expit(cal.lymph_node_intercept + om._linear(x, om.LYMPH_NODES)),
    }
    return po.Observables.of(draw, h, r), true


def _subset(obs: po.Observables, index: np.ndarray) -> po.Observables:
    return po.Observables(obs.true_tumor_size_cm[index], obs.scca_ng_ml[index],
                          obs.heterogeneity[index], obs.irregularity[index])


def test_between_the_clinical_reference_and_the_full_oracle(clinical_cohort: Path) -> None:
    """Above SCC antigen (the one preoperative clinical variable tied to these outcomes, so the
    best any clinical-only score can rank), below the oracle that also sees the pathology."""
    figures = oracle_figures(clinical_cohort)
    _, rows = cf.read_csv(clinical_cohort / cf.CLINICAL_CSV)
    scca = np.array([float(r["scca_ng_ml"]) for r in rows])
    for task in TASKS:
        y = np.array([cf.task_label(r, task) for r in rows])
        clinical = roc_auc(y, scca)
        pre, full = figures[task]["preoperative_oracle_auc"], figures[task]["oracle_auc"]
        assert clinical + 0.10 < pre < full - 0.005, (task, clinical, pre, full)
    assert "preoperative_oracle_auc" not in figures["recurrence"]


def test_is_the_conditional_mean_of_the_true_probability() -> None:
    """Within every quintile of the preoperative oracle, of the SCC antigen and of the lesion size,
    the true probabilities average to it (the residual is uncorrelated with what is observed);
    and it explains most (not all) of their variance: the rest is the hidden pathology."""
    obs, true = _reference(40_000, seed=5)
    pre = po.preoperative_oracle(obs)
    for task, r2_range in (("parametrial_invasion", (0.88, 0.94)),
                           ("lymph_node_metastasis", (0.84, 0.90))):
        p, q = true[task], pre[task]
        for name, by in (("oracle", q), ("scca", obs.scca_ng_ml),
                         ("size", obs.true_tumor_size_cm)):
            group = np.searchsorted(np.quantile(by, [0.2, 0.4, 0.6, 0.8]), by)
            for g in range(5):
                residual = (p - q)[group == g]
                se = residual.std() / np.sqrt(len(residual))
                assert abs(residual.mean()) < 4 * se, (task, name, g, residual.mean(), se)
        r2 = 1 - np.var(p - q) / np.var(p)
        assert r2_range[0] < r2 < r2_range[1], (task, r2)
        # a plug-in that sets the pathology to its mean is not the conditional mean
        assert np.abs(q - p).mean() < np.abs(p.mean() - p).mean() / 2


def test_a_function_of_the_observables_only() -> None:
    obs, _ = _reference(600, seed=9)
    batch = po.preoperative_oracle(obs)
    # one patient alone gets the value it gets in a batch
    for i in (0, 17, 599):
        alone = po.preoperative_oracle(_subset(obs, np.array([i])))
        for task in TASKS:
            assert alone[task][0] == batch[task][i]
    # patients with the same observables get the same value, whoever they are
    index = np.arange(600)
    index[1::2] = index[::2]
    twinned = po.preoperative_oracle(_subset(obs, index))
    for task in TASKS:
        np.testing.assert_array_equal(twinned[task][1::2], twinned[task][::2])
        np.testing.assert_array_equal(twinned[task][::2], batch[task][::2])
    # and it moves with what is observed: a larger lesion, a higher SCC antigen raise it
    bigger = po.Observables(np.minimum(obs.true_tumor_size_cm + 1.0, 8.0), obs.scca_ng_ml,
                            obs.heterogeneity, obs.irregularity)
    higher = po.Observables(obs.true_tumor_size_cm, np.minimum(obs.scca_ng_ml * 2, 900.0),
                            obs.heterogeneity, obs.irregularity)
    for changed in (bigger, higher):
        moved = po.preoperative_oracle(changed)
        for task in TASKS:
            assert (moved[task] >= batch[task] - 1e-12).mean() > 0.99


def test_rejects_values_off_the_generator_grid() -> None:
    obs, _ = _reference(4, seed=2)
    off = po.Observables(obs.true_tumor_size_cm + 0.03, obs.scca_ng_ml, obs.heterogeneity,
                         obs.irregularity)
    with pytest.raises(ValueError, match=r"0\.1 cm grid"):
        po.preoperative_oracle(off)


def test_left_out_when_the_cohort_is_not_its_seeds(clinical_cohort: Path, tmp_path: Path) -> None:
    copy = tmp_path / "c"
    copy.mkdir()
    for name in (cf.CLINICAL_CSV, cf.ORACLE_CSV):
        (copy / name).write_bytes((clinical_cohort / name).read_bytes())
    manifest = json.loads((clinical_cohort / cf.MANIFEST).read_text())
    (copy / cf.MANIFEST).write_text(json.dumps({**manifest, "seed": manifest["seed"] + 1}))
    with pytest.warns(UserWarning, match="differs from the cohort's files"):
        figures = oracle_figures(copy)
    assert "preoperative_oracle_auc" not in figures["parametrial_invasion"]
    assert figures["parametrial_invasion"]["oracle_auc"] > 0.8
