"""The preoperative oracle: the generating model's probability given what is known before surgery.

The oracle of :mod:`.outcomes` is the true probability given every covariate, and for parametrial
invasion and lymph node metastasis that includes postoperative pathology — deep stromal invasion
(``outer_third``), LVSI and an advanced FIGO stage. A preoperative model sees the study's five
preoperative variables (age, comorbidity, HPV, SCC antigen, LEEP history) and the MR image, which
shows the lesion at its true size and carries the two image latents (``heterogeneity``,
``irregularity``). The fair reference for such a model is

    p_pre(x) = E[p | x],   x = (age, comorbidity, HPV, SCC-Ag, LEEP, true size, heterogeneity,
                                irregularity),

the true probability averaged over the pathology that ``x`` leaves open. It is computed *exactly*
here (up to a 1-D quadrature), not fitted, because the generator's structure allows it:

* Pathology, size and SCC antigen are tied only through the latent severity ``s ~ N(0, 1)`` of
  the Gaussian copula (:mod:`.clinical`): given ``s`` each variable has its own independent noise.
  Age, comorbidity, HPV and LEEP history are drawn independently of ``s`` and of the outcome
  models' inputs, and the image latents are independent N(0, 1) that enter the outcome models
  directly — so conditioning on them adds nothing beyond their own terms in the linear predictor.
* Each observed value pins its copula quantile to an interval (sizes and SCC antigen are recorded
  to 0.1), found by bisection on the generator's own maps (:func:`~.clinical.tumor_size_from_u`,
  :func:`~.clinical.scca_from_u`), so ``P(observed value | s)`` is a difference of two normal
  CDFs. The FIGO IA size map (microinvasive lesions get a size ≤ 0.7 cm) is taken into account:
  given a stage, ``P(size | s, stage)`` sums over the drawn sizes that map onto the observed one.
* The posterior over (``s``, FIGO stage) given the observation is then the prior times these
  likelihoods; given ``s``, depth and LVSI are independent of each other and of everything
  observed. The expectation of ``expit(intercept + linear predictor)`` is summed over the
  2 × 2 × 2 hidden indicator combinations and integrated over ``s`` on a fixed grid (step 0.05
  over [-8, 8]).

A regression of the true probability on the observables (e.g. gradient boosting on a large
reference draw) would estimate the same function with a fitting error (and one fitted on logit p
estimates E[logit p | x], not E[p | x]); the direct integral has only the quadrature error —
refining the grid to step 0.02 changes no value by more than 1e-14. It is checked against
simulated reference populations in the tests and in docs/classifier.md: the residual
``p − p_pre`` averages to zero within every quintile of ``p_pre``, of SCC antigen and of size.

For a cohort folder the observables come from re-running the cohort's deterministic draw for its
seed (:func:`cervixai.cohort.synth.draw_patients`): clinical.csv lacks the image latents and, for
some patients, the size. The redraw is only used after it reproduces the cohort's oracle.csv and
its recorded preoperative values exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.special import expit
from scipy.stats import norm

from cervixai.cohort import format as cf
from cervixai.cohort.synth import outcomes as om
from cervixai.cohort.synth.clinical import (
    SEVERITY_LOADING,
    ClinicalDraw,
    draw_clinical,
    level_shares,
    scca_from_u,
    tumor_size_from_u,
)

FloatArray = npt.NDArray[np.float64]

TASKS = ("parametrial_invasion", "lymph_node_metastasis")
# Terms of the two outcome models that a preoperative model observes, and those it cannot.
OBSERVED_TERMS = frozenset({"size", "scca", "heterogeneity", "irregularity"})
HIDDEN_TERMS = frozenset({"outer_third", "lvsi", "advanced_stage"})
# Copula members that are observed before surgery; everything else tied to s is hidden.
OBSERVED_COPULA = frozenset({"tumor_size_cm", "scca_ng_ml"})
FIGO_ORDER = ["ia1", "ia2", "ib1", "ib2", "iia1", "iia2", "iib"]
MICROINVASIVE = ("ia1", "ia2")
ADVANCED = ("iia1", "iia2", "iib")
DEPTH_ORDER = ["negative", "inner_third", "middle_third", "outer_third"]
SEVERITY_GRID_STEP = 0.05
SEVERITY_GRID_HALF_WIDTH = 8.0
# Recorded sizes lie on a 0.1 cm grid from 0.1 to 8.0 cm (the open top bin ends at 8 cm).
SIZE_GRID = np.arange(1, 81) / 10.0
CHUNK = 4096


@dataclass(frozen=True)
class Observables:
    """What a preoperative model can know about n patients that bears on the two outcomes.

    Age, comorbidity, HPV and LEEP history are preoperative too, but in the generator they are
    independent of the pathology and absent from both outcome models, so ``E[p | ·]`` does not
    depend on them (checked by :func:`check_structure`); they are not carried here.
    """

    true_tumor_size_cm: FloatArray
    scca_ng_ml: FloatArray
    heterogeneity: FloatArray
    irregularity: FloatArray

    @classmethod
    def of(cls, draw: ClinicalDraw, heterogeneity: FloatArray,
           irregularity: FloatArray) -> Observables:
        return cls(draw.true_tumor_size_cm.astype(float),
                   draw.columns["scca_ng_ml"].astype(float),
                   np.asarray(heterogeneity, dtype=float), np.asarray(irregularity, dtype=float))


def check_structure() -> None:
    """Raise if the generator no longer has the structure the exact integral relies on."""
    for task, coefficients in (("parametrial_invasion", om.PARAMETRIAL),
                               ("lymph_node_metastasis", om.LYMPH_NODES)):
        unknown = set(coefficients) - OBSERVED_TERMS - HIDDEN_TERMS
        if unknown:
            raise RuntimeError(f"{task}: terms {sorted(unknown)} are neither observed nor handled "
                               "as hidden pathology by the preoperative oracle")
    independent = {"age_years", "comorbidity", "hpv_status", "leep_history"}
    if independent & set(SEVERITY_LOADING):
        raise RuntimeError("a preoperative clinical variable loads on the latent severity")


@dataclass(frozen=True)
class _Tables:
    grid: FloatArray                 # severity grid
    prior: FloatArray                # N(0, 1) density × step on the grid
    size_other: FloatArray           # (80, S): P(size = SIZE_GRID[k] | s), stage not IA
    size_ia: FloatArray              # (80, S): P(size = SIZE_GRID[k] | s), stage IA
    stage: dict[str, FloatArray]     # "ia", "advanced", "other" → P(stage group | s)
    outer_third: FloatArray          # P(depth = outer third | s)
    lvsi: FloatArray                 # P(LVSI | s)


def _first_z_reaching(f: Callable[[FloatArray], FloatArray], targets: FloatArray) -> FloatArray:
    """inf{z : f(Φ(z)) ≥ t} per target t, for a nondecreasing map f of the copula quantile
    (−inf or +inf where no z in [−9, 9] or every z reaches it)."""
    lo = np.full(targets.shape, -9.0)
    hi = np.full(targets.shape, 9.0)
    for _ in range(64):
        mid = (lo + hi) / 2
        reached = f(norm.cdf(mid)) >= targets
        hi = np.where(reached, mid, hi)
        lo = np.where(reached, lo, mid)
    out: FloatArray = np.where(f(norm.cdf(lo)) >= targets, -np.inf,
                               np.where(f(norm.cdf(hi)) >= targets, hi, np.inf))
    return out


def _interval(z_lo: FloatArray, z_hi: FloatArray, s: FloatArray, loading: float) -> FloatArray:
    """P(ρ·s + √(1−ρ²)·ε ∈ [z_lo, z_hi)), broadcast over the arguments (tails kept precise)."""
    sd = np.sqrt(1 - loading**2)
    a = (z_lo - loading * s) / sd
    b = (z_hi - loading * s) / sd
    out: FloatArray = np.where(a > 0, norm.sf(a) - norm.sf(b), norm.cdf(b) - norm.cdf(a))
    return out


def _levels_given_s(variable: str, order: list[str], s: FloatArray) -> dict[str, FloatArray]:
    """P(level | s) of an ordered copula variable, as ``clinical._categorical`` draws it."""
    levels, p = level_shares(variable)
    p_unknown = p[levels.index("unknown")] if "unknown" in levels else 0.0
    known = [lvl for lvl in order if lvl != "unknown"]
    p_known = np.array([p[levels.index(lvl)] for lvl in known]) / (1 - p_unknown)
    edges = np.cumsum(p_known)
    edges[-1] = 1.0
    z = norm.ppf(np.concatenate([[0.0], edges]))
    loading = SEVERITY_LOADING.get(variable, 0.0)
    out = {lvl: (1 - p_unknown) * _interval(z[k], z[k + 1], s, loading)
           for k, lvl in enumerate(known)}
    out["unknown"] = np.full(s.shape, p_unknown)
    return out


@cache
def _tables(step: float = SEVERITY_GRID_STEP) -> _Tables:
    check_structure()
    grid = np.arange(-SEVERITY_GRID_HALF_WIDTH, SEVERITY_GRID_HALF_WIDTH + step / 2, step)
    prior = norm.pdf(grid) * step
    # drawn size k ⇔ its copula normal score lies in [lower[k], lower[k + 1])
    bounds = _first_z_reaching(tumor_size_from_u, np.append(SIZE_GRID - 0.05, SIZE_GRID[-1] + 0.05))
    drawn = _interval(bounds[:-1, None], bounds[1:, None], grid[None, :],
                      SEVERITY_LOADING["tumor_size_cm"])
    # FIGO IA: the drawn size is mapped as in clinical.draw_clinical
    mapped = np.round(0.1 + 0.6 * (SIZE_GRID % 1.0), 1)
    to_index = np.rint(mapped * 10).astype(int) - 1
    size_ia = np.zeros_like(drawn)
    np.add.at(size_ia, to_index, drawn)
    stages = _levels_given_s("figo_stage", FIGO_ORDER, grid)
    depth = _levels_given_s("stromal_invasion_depth", DEPTH_ORDER, grid)
    lvsi = _levels_given_s("lvsi", ["no", "yes"], grid)
    stage = {
        "ia": sum((stages[k] for k in MICROINVASIVE), np.zeros_like(grid)),
        "advanced": sum((stages[k] for k in ADVANCED), np.zeros_like(grid)),
    }
    stage["other"] = 1 - stage["ia"] - stage["advanced"]  # an unknown stage counts here
    return _Tables(grid, prior, drawn, size_ia, stage, depth["outer_third"], lvsi["yes"])


def _size_index(size_cm: FloatArray) -> npt.NDArray[np.intp]:
    index = np.rint(size_cm * 10).astype(np.intp) - 1
    if (np.isnan(size_cm).any() or (index < 0).any() or (index >= len(SIZE_GRID)).any()
            or not np.allclose(SIZE_GRID[index.clip(0, len(SIZE_GRID) - 1)], size_cm)):
        raise ValueError("true tumour sizes must lie on the generator's 0.1 cm grid, 0.1–8.0 cm")
    return index


def _hidden_design(obs: Observables, outer_third: bool, lvsi: bool,
                   advanced: bool) -> dict[str, FloatArray]:
    """The outcome models' design with the hidden pathology set; the columns that neither model
    reads (check_structure) get placeholder values."""
    n = len(obs.scca_ng_ml)
    columns: dict[str, npt.NDArray[np.generic]] = {
        "stromal_invasion_depth": np.full(n, "outer_third" if outer_third else "negative"),
        "lvsi": np.full(n, "yes" if lvsi else "no"),
        "figo_stage": np.full(n, "iia1" if advanced else "ib1"),
        "scca_ng_ml": obs.scca_ng_ml,
        "margin_involved": np.full(n, "no"), "histology": np.full(n, "squamous"),
        "adjuvant_therapy": np.full(n, "no"), "age_years": np.full(n, 50.0),
        "comorbidity": np.full(n, "no"),
    }
    draw = ClinicalDraw(columns, np.full(n, np.nan), obs.true_tumor_size_cm)
    return om._design(draw, obs.heterogeneity, obs.irregularity)


def preoperative_oracle(obs: Observables,
                        step: float = SEVERITY_GRID_STEP) -> dict[str, FloatArray]:
    """E[true probability | preoperative observables] per patient, for parametrial invasion and
    lymph node metastasis. Each patient's value depends on its own observables only."""
    n = len(obs.scca_ng_ml)
    if n > CHUNK:
        parts = [preoperative_oracle(Observables(
            obs.true_tumor_size_cm[i:i + CHUNK], obs.scca_ng_ml[i:i + CHUNK],
            obs.heterogeneity[i:i + CHUNK], obs.irregularity[i:i + CHUNK]), step)
            for i in range(0, n, CHUNK)]
        return {task: np.concatenate([p[task] for p in parts]) for task in TASKS}
    t = _tables(step)
    loading = SEVERITY_LOADING["scca_ng_ml"]
    # recorded to 0.1 ng/mL: few distinct values, each an interval of the copula's normal score
    values, which = np.unique(obs.scca_ng_ml, return_inverse=True)
    z_lo = _first_z_reaching(scca_from_u, values - 0.05)
    z_hi = _first_z_reaching(scca_from_u, values + 0.05)
    scca = _interval(z_lo[:, None], z_hi[:, None], t.grid[None, :], loading)[which]   # (n, S)
    k = _size_index(obs.true_tumor_size_cm)
    base = t.prior[None, :] * scca
    # posterior weights over (s, advanced stage or not)
    weight = {
        True: base * t.stage["advanced"][None, :] * t.size_other[k],
        False: base * (t.stage["other"][None, :] * t.size_other[k]
                       + t.stage["ia"][None, :] * t.size_ia[k]),
    }
    total = (weight[True] + weight[False]).sum(axis=1)
    if not (total > 0).all():
        raise ValueError("observables outside the generator's support")
    calibration = om.calibration()
    intercepts = {"parametrial_invasion": calibration.parametrial_intercept,
                  "lymph_node_metastasis": calibration.lymph_node_intercept}
    coefficients = {"parametrial_invasion": om.PARAMETRIAL,
                    "lymph_node_metastasis": om.LYMPH_NODES}
    out = {task: np.zeros(n) for task in TASKS}
    for advanced in (False, True):
        for outer in (False, True):
            p_outer = t.outer_third if outer else 1 - t.outer_third
            for lvsi in (False, True):
                p_hidden = p_outer * (t.lvsi if lvsi else 1 - t.lvsi)             # (S,)
                mass = (weight[advanced] * p_hidden[None, :]).sum(axis=1)          # (n,)
                design = _hidden_design(obs, outer, lvsi, advanced)
                for task in TASKS:
                    p = expit(intercepts[task] + om._linear(design, coefficients[task]))
                    out[task] += mass * p
    return {task: values / total for task, values in out.items()}


class NotReproducible(ValueError):
    """The cohort folder is not what its manifest's seed generates."""


def cohort_preoperative_oracle(root: Path) -> dict[str, dict[str, float]]:
    """The preoperative oracle per task and patient id of a synthetic cohort folder, from its
    seed's redraw; raises :class:`NotReproducible` unless the redraw reproduces the folder's
    oracle.csv and recorded SCC antigen and tumour size."""
    from cervixai.cohort.synth import GENERATOR, draw_patients

    manifest = json.loads((root / cf.MANIFEST).read_text())
    if manifest.get("source") != GENERATOR:
        raise NotReproducible(f"{root}: not made by {GENERATOR!r}")
    n, seed = int(manifest["patients"]), int(manifest["seed"])
    drawn = draw_patients(n, seed)
    ids = [f"SYN-{i + 1:04d}" for i in range(n)]
    _, oracle_rows = cf.read_csv(root / cf.ORACLE_CSV)
    _, clinical_rows = cf.read_csv(root / cf.CLINICAL_CSV)
    if [r["patient_id"] for r in oracle_rows] != ids or [
            r["patient_id"] for r in clinical_rows] != ids:
        raise NotReproducible(f"{root}: patient ids are not those of {n} generated patients")
    columns = [c for c in cf.ORACLE_COLUMNS if c != "patient_id"]
    mismatched = sum(
        any(row[c] != cf.format_value(float(drawn.outcomes.oracle[c][i])) for c in columns)
        for i, row in enumerate(oracle_rows))
    recorded = drawn.clinical.columns
    mismatched += sum(
        any(row[c] != cf.format_value(float(recorded[c][i]))
            for c in ("scca_ng_ml", "tumor_size_cm", "age_years"))
        for i, row in enumerate(clinical_rows))
    if mismatched:
        raise NotReproducible(f"{root}: the redraw for seed {seed} differs from the cohort's "
                              f"files in {mismatched} row(s)")
    values = preoperative_oracle(Observables.of(drawn.clinical, drawn.heterogeneity,
                                                drawn.irregularity))
    return {task: dict(zip(ids, map(float, values[task]), strict=True)) for task in TASKS}



def reference_check(n: int = 200_000, seed: int = 12345,
                    boosting: bool = True) -> dict[str, dict[str, float]]:
    """Figures of the preoperative oracle on a fresh reference draw of ``n`` patients (no images).

    Per task: ``r2`` — the share of the true probability's variance it explains;
    ``max_decile_residual`` — the largest |mean(p − p_pre)| over the deciles of p_pre (0 for the
    conditional mean, up to sampling noise); ``grid_error`` — the largest change when the
    severity grid step goes from 0.05 to 0.02 (first 20,000 patients); ``oracle_auc`` and
    ``preoperative_oracle_auc`` with labels drawn from the true probabilities; with ``boosting``,
    ``boosting_r2`` — the held-out R² (last third) of a gradient-boosting regression of logit p on
    the eight preoperative observables (scikit-learn needed), for comparison with ``r2`` there.
    """
    from cervixai.evaluation import roc_auc

    rng = np.random.default_rng(seed)
    draw = draw_clinical(n, rng)
    heterogeneity, irregularity = rng.standard_normal(n), rng.standard_normal(n)
    design = om._design(draw, heterogeneity, irregularity)
    cal = om.calibration()
    obs = Observables.of(draw, heterogeneity, irregularity)
    pre = preoperative_oracle(obs)
    head = slice(0, min(n, 20_000))
    fine = preoperative_oracle(Observables(obs.true_tumor_size_cm[head], obs.scca_ng_ml[head],
                                           obs.heterogeneity[head], obs.irregularity[head]),
                               step=0.02)
    intercepts = {"parametrial_invasion": cal.parametrial_intercept,
                  "lymph_node_metastasis": cal.lymph_node_intercept}
    coefficients = {"parametrial_invasion": om.PARAMETRIAL,
                    "lymph_node_metastasis": om.LYMPH_NODES}
    c = draw.columns
    features = np.column_stack([
        obs.true_tumor_size_cm, np.log(obs.scca_ng_ml), heterogeneity, irregularity,
        c["age_years"].astype(float), c["comorbidity"] == "yes", c["leep_history"] == "yes",
        *(c["hpv_status"] == level for level in ("hpv16_18", "other", "negative"))]).astype(float)
    train, test = slice(0, 2 * n // 3), slice(2 * n // 3, n)
    figures: dict[str, dict[str, float]] = {}
    for task in TASKS:
        p = expit(intercepts[task] + om._linear(design, coefficients[task]))
        q = pre[task]
        y = rng.random(n) < p
        decile = np.searchsorted(np.quantile(q, np.linspace(0.1, 0.9, 9)), q)
        figures[task] = {
            "r2": float(1 - np.var(p - q) / np.var(p)),
            "max_decile_residual": float(max(abs((p - q)[decile == k].mean()) for k in range(10))),
            "grid_error": float(np.abs(fine[task] - q[head]).max()),
            "oracle_auc": roc_auc(y, p),
            "preoperative_oracle_auc": roc_auc(y, q),
        }
        if boosting:
            from scipy.special import logit
            from sklearn.ensemble import HistGradientBoostingRegressor

            model = HistGradientBoostingRegressor(max_iter=500, max_leaf_nodes=63, random_state=0)
            model.fit(features[train], logit(p[train]))
            fitted = expit(model.predict(features[test]))
            held_out = p[test]
            figures[task]["r2_held_out"] = float(
                1 - np.mean((held_out - q[test]) ** 2) / np.var(held_out))
            figures[task]["boosting_r2"] = float(
                1 - np.mean((held_out - fitted) ** 2) / np.var(held_out))
    return figures


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="check the preoperative oracle on a fresh "
                                     "reference draw (no images)")
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--no-boosting", action="store_true")
    args = parser.parse_args()
    for name, values in reference_check(args.n, args.seed, not args.no_boosting).items():
        print(f"{name:>22}: " + ", ".join(
            f"{k} {v:.2g}" if abs(v) < 1e-3 else f"{k} {v:.4f}" for k, v in values.items()))
