"""The generating model of the synthetic cohort's outcomes: the known truth models are scored on.

Inputs are the clinical draw and two image-only latents per patient — lesion ``heterogeneity``
and margin ``irregularity`` (each N(0, 1)) — which the image renderer turns into texture and
boundary shape. No clinical variable carries them, so only a model that looks at the image can use
that part of the signal.

* Parametrial involvement and lymph node metastasis: logistic models (coefficients in
  ``PARAMETRIAL`` and ``LYMPH_NODES``), intercepts solved so that the prevalence on a fixed
  20,000-patient reference population is Table 1's (6.4 %, 25.6 %).
* Recurrence: a Weibull proportional-hazards time ``T_rec`` with log hazard ratio ``η_rfs``.
  Death from cancer follows recurrence after a Weibull post-recurrence time whose scale shrinks with
  ``η_death``; death from other causes has a small constant hazard.
* Follow-up ends at ``C ~ Uniform(17.5, 52)`` months (independent of everything). RFS is the time to
  recurrence or death, OS the time to death, each censored at ``C``; the binary outcomes
  recurrence and death are "observed within follow-up".

The oracle is the truth given every covariate and latent: for the binary outcomes the probability
of the event (for recurrence and death averaged over the follow-up distribution), for survival the
true risk score (``η_rfs``; for OS the probability of death within 60 months).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.special import expit

from cervixai.cohort.synth.clinical import ClinicalDraw, draw_clinical
from cervixai.cohort.table1 import shares

FloatArray = npt.NDArray[np.float64]

FOLLOW_UP_MONTHS = (17.5, 52.0)
PARAMETRIAL_PREVALENCE = 16 / 250
LYMPH_NODE_PREVALENCE = 64 / 250
RECURRENCE_PREVALENCE = 24 / 250
DEATH_PREVALENCE = 11 / 250

# Log-odds per unit of each standardised covariate (see _design).
PARAMETRIAL = {"size": 0.9, "outer_third": 0.9, "lvsi": 0.6, "scca": 0.5, "advanced_stage": 0.5,
               "irregularity": 1.1, "heterogeneity": 0.5}
LYMPH_NODES = {"size": 0.7, "outer_third": 0.5, "lvsi": 1.2, "scca": 0.6, "advanced_stage": 0.3,
               "irregularity": 0.4, "heterogeneity": 1.1}
# Log hazard ratios.
RECURRENCE = {"size": 0.5, "lymph_nodes": 1.0, "parametrial": 0.8, "margin": 0.7, "lvsi": 0.4,
              "outer_third": 0.4, "non_squamous": 0.5, "scca": 0.3, "heterogeneity": 0.8,
              "irregularity": 0.6, "adjuvant": -0.3}
DEATH_AFTER_RECURRENCE = {"recurrence_risk": 0.3, "age": 0.3, "comorbidity": 0.4,
                          "heterogeneity": 0.4}
RECURRENCE_SHAPE = 0.8
POST_RECURRENCE_SHAPE = 1.3
POST_RECURRENCE_SCALE_MONTHS = 22.0
OTHER_CAUSE_MEAN_MONTHS = 9000.0
REFERENCE_N = 20_000
REFERENCE_SEED = 20250


@dataclass(frozen=True)
class Outcomes:
    """Outcomes and oracle of n patients."""

    parametrial_invasion: npt.NDArray[np.bool_]
    lymph_node_metastasis: npt.NDArray[np.bool_]
    lymph_node_site: npt.NDArray[np.str_]
    recurrence: npt.NDArray[np.bool_]
    recurrence_site: npt.NDArray[np.str_]
    death: npt.NDArray[np.bool_]
    rfs_months: FloatArray
    rfs_event: npt.NDArray[np.bool_]
    os_months: FloatArray
    os_event: npt.NDArray[np.bool_]
    oracle: dict[str, FloatArray]


def _z(x: FloatArray, mean: float, sd: float) -> FloatArray:
    out: FloatArray = (x - mean) / sd
    return out


def _design(draw: ClinicalDraw, heterogeneity: FloatArray,
            irregularity: FloatArray) -> dict[str, FloatArray]:
    c = draw.columns
    return {
        "size": _z(draw.true_tumor_size_cm, 3.3, 1.4),
        "outer_third": (c["stromal_invasion_depth"] == "outer_third").astype(float) - 0.67,
        "lvsi": (c["lvsi"] == "yes").astype(float) - 0.58,
        "scca": _z(np.log(c["scca_ng_ml"].astype(float)), 0.75, 1.2),
        "advanced_stage": np.isin(c["figo_stage"], ["iia1", "iia2", "iib"]).astype(float) - 0.27,
        "margin": (c["margin_involved"] == "yes").astype(float) - 0.13,
        "non_squamous": (c["histology"] != "squamous").astype(float) - 0.2,
        "adjuvant": (c["adjuvant_therapy"] == "yes").astype(float) - 0.76,
        "age": _z(c["age_years"].astype(float), 48.8, 9.6),
        "comorbidity": (c["comorbidity"] == "yes").astype(float) - 0.16,
        "heterogeneity": heterogeneity,
        "irregularity": irregularity,
    }


def _linear(design: dict[str, FloatArray], coefficients: dict[str, float]) -> FloatArray:
    n = len(next(iter(design.values())))
    out = np.zeros(n)
    for name, beta in coefficients.items():
        out += beta * design[name]
    return out


@dataclass(frozen=True)
class Calibration:
    parametrial_intercept: float
    lymph_node_intercept: float
    recurrence_scale_months: float
    post_recurrence_scale_months: float


def _follow_up_grid(points: int = 64) -> FloatArray:
    lo, hi = FOLLOW_UP_MONTHS
    out: FloatArray = lo + (np.arange(points) + 0.5) / points * (hi - lo)
    return out


def _p_recurrence(eta: FloatArray, scale: float) -> FloatArray:
    """P(recurrence before the end of follow-up | η), averaged over the follow-up distribution."""
    c = _follow_up_grid()
    cum_hazard = (c[None, :] / scale) ** RECURRENCE_SHAPE * np.exp(eta)[:, None]
    out: FloatArray = (1 - np.exp(-cum_hazard)).mean(axis=1)
    return out


@cache
def calibration() -> Calibration:
    """Intercepts and scales that give Table 1's prevalences on a fixed reference population."""
    rng = np.random.default_rng(REFERENCE_SEED)
    draw = draw_clinical(REFERENCE_N, rng)
    h, r = rng.standard_normal(REFERENCE_N), rng.standard_normal(REFERENCE_N)
    x = _design(draw, h, r)
    lin_p, lin_n = _linear(x, PARAMETRIAL), _linear(x, LYMPH_NODES)
    b_p = brentq(lambda b: expit(b + lin_p).mean() - PARAMETRIAL_PREVALENCE, -15, 5)
    b_n = brentq(lambda b: expit(b + lin_n).mean() - LYMPH_NODE_PREVALENCE, -15, 5)
    parametrial = rng.random(REFERENCE_N) < expit(b_p + lin_p)
    nodes = rng.random(REFERENCE_N) < expit(b_n + lin_n)
    x = {**x, "parametrial": parametrial - PARAMETRIAL_PREVALENCE,
         "lymph_nodes": nodes - LYMPH_NODE_PREVALENCE}
    eta = _linear(x, RECURRENCE)
    scale = brentq(lambda s: _p_recurrence(eta, s).mean() - RECURRENCE_PREVALENCE, 10, 1e7)
    # post-recurrence scale: solved on simulated recurrences so that deaths reach Table 1's share
    e = rng.standard_exponential(REFERENCE_N)
    t_rec = scale * (e / np.exp(eta)) ** (1 / RECURRENCE_SHAPE)
    follow = rng.uniform(*FOLLOW_UP_MONTHS, REFERENCE_N)
    eta_d = _linear({**x, "recurrence_risk": eta}, DEATH_AFTER_RECURRENCE)
    e2 = rng.standard_exponential(REFERENCE_N)

    def deaths(post_scale: float) -> float:
        t_death = t_rec + post_scale * (e2 / np.exp(eta_d)) ** (1 / POST_RECURRENCE_SHAPE)
        return float((t_death <= follow).mean())

    post = brentq(lambda s: deaths(s) - DEATH_PREVALENCE, 0.5, 1e4)
    return Calibration(float(b_p), float(b_n), float(scale), float(post))


def draw_outcomes(draw: ClinicalDraw, heterogeneity: FloatArray, irregularity: FloatArray,
                  rng: np.random.Generator) -> Outcomes:
    """Outcomes of the patients of ``draw`` under the generating model, with the oracle."""
    cal = calibration()
    n = len(draw.severity)
    x = _design(draw, heterogeneity, irregularity)
    p_param = expit(cal.parametrial_intercept + _linear(x, PARAMETRIAL))
    p_nodes = expit(cal.lymph_node_intercept + _linear(x, LYMPH_NODES))
    parametrial = rng.random(n) < p_param
    nodes = rng.random(n) < p_nodes
    site_shares = shares("lymph_node_metastasis")
    sites = [k for k in site_shares if k != "no"]
    w = np.array([site_shares[k] for k in sites])
    node_site = np.where(nodes, rng.choice(sites, size=n, p=w / w.sum()), "no")

    x = {**x, "parametrial": parametrial - PARAMETRIAL_PREVALENCE,
         "lymph_nodes": nodes - LYMPH_NODE_PREVALENCE}
    eta = _linear(x, RECURRENCE)
    eta_d = _linear({**x, "recurrence_risk": eta}, DEATH_AFTER_RECURRENCE)
    t_rec = cal.recurrence_scale_months * (rng.standard_exponential(n) / np.exp(eta)) ** (
        1 / RECURRENCE_SHAPE)
    t_post = cal.post_recurrence_scale_months * (
        rng.standard_exponential(n) / np.exp(eta_d)) ** (1 / POST_RECURRENCE_SHAPE)
    t_other = rng.exponential(OTHER_CAUSE_MEAN_MONTHS, n)
    t_death = np.minimum(t_rec + t_post, t_other)
    follow = rng.uniform(*FOLLOW_UP_MONTHS, n)

    recurrence = t_rec <= follow
    death = t_death <= follow
    rfs_time = np.minimum(t_rec, t_death)
    rec_shares = shares("recurrence")
    rec_sites = [k for k in rec_shares if k != "no"]
    rw = np.array([rec_shares[k] for k in rec_sites])
    recurrence_site = np.where(recurrence, rng.choice(rec_sites, size=n, p=rw / rw.sum()), "no")

    oracle = {
        "parametrial_invasion": p_param,
        "lymph_node_metastasis": p_nodes,
        "recurrence": _p_recurrence(eta, cal.recurrence_scale_months),
        "death": _p_death(eta, eta_d, cal, FOLLOW_UP_MONTHS),
        "rfs_risk": eta,
        "os_risk": _p_death(eta, eta_d, cal, (60.0, 60.0)),
    }
    return Outcomes(
        parametrial_invasion=parametrial, lymph_node_metastasis=nodes,
        lymph_node_site=node_site, recurrence=recurrence, recurrence_site=recurrence_site,
        death=death,
        rfs_months=np.round(np.minimum(rfs_time, follow), 1).astype(np.float64),
        rfs_event=rfs_time <= follow,
        os_months=np.round(np.minimum(t_death, follow), 1).astype(np.float64), os_event=death,
        oracle=oracle,
    )


def _p_death(eta: FloatArray, eta_d: FloatArray, cal: Calibration,
             follow_up: tuple[float, float], draws: int = 256) -> FloatArray:
    """P(cancer death within follow-up | η, η_death) by quadrature over fixed quantiles."""
    q = (np.arange(draws) + 0.5) / draws
    e1 = -np.log1p(-q)                       # Exp(1) quantiles for the recurrence time
    e2 = -np.log1p(-q[::-1][np.argsort(np.random.default_rng(0).random(draws))])
    lo, hi = follow_up
    follow = lo + q[np.random.default_rng(1).permutation(draws)] * (hi - lo)
    t_rec = cal.recurrence_scale_months * (e1[None, :] / np.exp(eta)[:, None]) ** (
        1 / RECURRENCE_SHAPE)
    t_post = cal.post_recurrence_scale_months * (e2[None, :] / np.exp(eta_d)[:, None]) ** (
        1 / POST_RECURRENCE_SHAPE)
    out: FloatArray = ((t_rec + t_post) <= follow[None, :]).mean(axis=1)
    return out
