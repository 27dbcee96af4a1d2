"""Clinical variables of a synthetic patient, drawn so that each marginal follows Table 1.

Variables that go together in real patients (stage, tumour size, invasion depth, LVSI, margins,
SCC antigen, Ki-67) share one latent severity ``s ~ N(0, 1)`` through a Gaussian copula: each is
drawn as ``u = Φ(ρ·s + √(1−ρ²)·ε)`` and mapped through its own marginal's quantile function, so
the marginal stays exactly Table 1's while the variables correlate. Everything else is drawn
independently from its marginal (histology-dependent keratinization excepted).

Continuous variables reported as median and IQR use a two-piece log-normal whose quartiles equal
the table's. Parametrial involvement and lymph node metastasis are *outcomes* here: they come from
the risk model in :mod:`cervixai.cohort.synth.outcomes`, not from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from cervixai.cohort.table1 import shares, table1

FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]

# Copula loadings on the latent severity (0 = independent of it).
SEVERITY_LOADING = {
    "figo_stage": 0.6,
    "tumor_size_cm": 0.75,
    "stromal_invasion_depth": 0.5,
    "lvsi": 0.45,
    "margin_involved": 0.35,
    "scca_ng_ml": 0.4,
    "ki67_index": 0.2,
    "operative_time_min": 0.25,
    "blood_loss_ml": 0.25,
    "adjuvant_therapy": 0.5,
}
# Not reported by the study; an assumption documented in docs/cohort-format.md.
LEEP_SHARE = 0.12
# Share of patients whose pathological tumour size is missing (3 of 250 in Table 1).
TUMOR_SIZE_MISSING = 3 / 250
# Table 1 level names → schema level names where they differ.
LEVEL_RENAMES = {"0-20%": "0_20", "20-40%": "20_40", "40-60%": "40_60", "60-80%": "60_80",
                 "80-100%": "80_100"}
TABLE_NAMES = {"hpv_status": "hpv", "ki67_index": "ki67"}
# Tumour size bins of Table 1 (cm) and the upper end used for the open ">=5" bin.
SIZE_BINS = [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0), (2.0, 2.5), (2.5, 3.0), (3.0, 3.5),
             (3.5, 4.0), (4.0, 4.5), (4.5, 5.0), (5.0, 8.0)]


@dataclass(frozen=True)
class ClinicalDraw:
    """Columns of n synthetic patients: values per schema variable, plus the latent severity."""

    columns: dict[str, npt.NDArray[np.generic]]
    severity: FloatArray
    # The size the lesion really has; the recorded column may be missing (NaN).
    true_tumor_size_cm: FloatArray


def level_shares(variable: str) -> tuple[list[str], FloatArray]:
    table_name = TABLE_NAMES.get(variable, variable)
    share = shares(table_name)
    levels = [LEVEL_RENAMES.get(k, k).lower() for k in share]
    return levels, np.array(list(share.values()))


def _copula_u(rng: np.random.Generator, severity: FloatArray, loading: float) -> FloatArray:
    noise = rng.standard_normal(severity.shape)
    u: FloatArray = norm.cdf(loading * severity + np.sqrt(1 - loading**2) * noise)
    return u


def _categorical(rng: np.random.Generator, severity: FloatArray, variable: str,
                 order: list[str] | None = None) -> StrArray:
    """Draw levels; with ``order`` (least to most severe) the draw follows the severity."""
    levels, p = level_shares(variable)
    if order is None:
        return _from_shares(rng.random(severity.shape), levels, p)
    # "unknown" is missing information, not a severity grade: draw it apart from the copula
    p_unknown = p[levels.index("unknown")] if "unknown" in levels else 0.0
    known = [lvl for lvl in order if lvl != "unknown"]
    p_known = np.array([p[levels.index(lvl)] for lvl in known]) / (1 - p_unknown)
    u = _copula_u(rng, severity, SEVERITY_LOADING.get(variable, 0.0))
    drawn = _from_shares(u, known, p_known)
    if p_unknown:
        drawn = np.where(rng.random(severity.shape) < p_unknown, "unknown", drawn)
    return drawn


def _from_shares(u: FloatArray, levels: list[str], p: FloatArray) -> StrArray:
    edges = np.cumsum(p)
    edges[-1] = 1.0
    index = np.searchsorted(edges, u, side="right").clip(0, len(levels) - 1)
    out: StrArray = np.array(levels)[index]
    return out


def _two_piece_lognormal(u: FloatArray, median: float, q1: float, q3: float) -> FloatArray:
    """Quantile function of a log-normal with separate spreads below and above the median."""
    z = norm.ppf(u)
    z75 = norm.ppf(0.75)
    low = (np.log(median) - np.log(q1)) / z75
    high = (np.log(q3) - np.log(median)) / z75
    out: FloatArray = np.exp(np.log(median) + z * np.where(z < 0, low, high))
    return out


def draw_clinical(n: int, rng: np.random.Generator) -> ClinicalDraw:
    """Draw n patients' clinical variables (outcome-like pathology excluded)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    cont = table1()["continuous"]
    s = rng.standard_normal(n)
    cols: dict[str, npt.NDArray[np.generic]] = {}

    age = cont["age_years"]
    cols["age_years"] = np.round(np.clip(rng.normal(age["mean"], age["sd"], n), 22, 85))
    for name in ("scca_ng_ml", "operative_time_min", "blood_loss_ml"):
        u = _copula_u(rng, s, SEVERITY_LOADING[name])
        if name == "scca_ng_ml":
            cols[name] = scca_from_u(u)
            continue
        q = cont[name]
        cols[name] = np.round(_two_piece_lognormal(u, q["median"], q["iqr"][0], q["iqr"][1]))
    cols["operative_time_min"] = np.clip(cols["operative_time_min"], 60, 900)
    cols["blood_loss_ml"] = np.clip(cols["blood_loss_ml"], 10, 5000)

    cols["comorbidity"] = _categorical(rng, s, "comorbidity")
    cols["hpv_status"] = _categorical(rng, s, "hpv_status")
    cols["leep_history"] = np.where(rng.random(n) < LEEP_SHARE, "yes", "no")
    cols["figo_stage"] = _categorical(rng, s, "figo_stage",
                                      ["ia1", "ia2", "ib1", "ib2", "iia1", "iia2", "iib"])
    cols["surgery_approach"] = _categorical(rng, s, "surgery_approach")
    cols["transfusion"] = _categorical(rng, s, "transfusion")
    cols["adjuvant_therapy"] = _categorical(rng, s, "adjuvant_therapy", ["no", "yes"])
    true_size = _tumor_size(rng, s)
    # FIGO IA is microinvasive disease (≤ 5 mm deep, ≤ 7 mm wide): keep its size consistent
    microinvasive = np.isin(cols["figo_stage"], ["ia1", "ia2"])
    # (a deterministic map of the drawn size, so the random stream stays the same)
    true_size = np.where(microinvasive, np.round(0.1 + 0.6 * (true_size % 1.0), 1), true_size)
    missing = rng.random(n) < TUMOR_SIZE_MISSING
    cols["tumor_size_cm"] = np.where(missing, np.nan, true_size)
    cols["histology"] = _categorical(rng, s, "histology")
    cols["stromal_invasion_depth"] = _categorical(
        rng, s, "stromal_invasion_depth",
        ["negative", "inner_third", "middle_third", "outer_third"])
    cols["lvsi"] = _categorical(rng, s, "lvsi", ["no", "yes"])
    cols["margin_involved"] = _categorical(rng, s, "margin_involved", ["no", "yes"])
    cols["keratinization"] = _keratinization(rng, cols["histology"].astype(str))
    cols["differentiation"] = _categorical(rng, s, "differentiation")
    cols["p53"] = _categorical(rng, s, "p53")
    cols["p16"] = _categorical(rng, s, "p16")
    cols["ki67_index"] = _categorical(
        rng, s, "ki67_index", ["0_20", "20_40", "40_60", "60_80", "80_100", "unknown"])
    return ClinicalDraw(cols, s, true_size)


def scca_from_u(u: FloatArray) -> FloatArray:
    """The recorded SCC antigen (ng/mL) of copula quantile ``u``: Table 1's two-piece log-normal,
    rounded to 0.1 and kept within 0.1–900."""
    q = table1()["continuous"]["scca_ng_ml"]
    values = _two_piece_lognormal(u, q["median"], q["iqr"][0], q["iqr"][1])
    out: FloatArray = np.clip(np.round(values, 1), 0.1, 900)
    return out


def _tumor_size(rng: np.random.Generator, s: FloatArray) -> FloatArray:
    u = _copula_u(rng, s, SEVERITY_LOADING["tumor_size_cm"])
    return tumor_size_from_u(u)


def tumor_size_from_u(u: FloatArray) -> FloatArray:
    """The drawn tumour size (cm, before the FIGO IA map) of copula quantile ``u``: Table 1's size
    bins, positioned within the bin by ``u``, rounded to 0.1 (nondecreasing in ``u``)."""
    counts = table1()["categorical"]["tumor_size_cm"]
    p = np.array(list(counts.values()), dtype=float)
    p /= p.sum()
    edges = np.cumsum(p)
    edges[-1] = 1.0
    b = np.searchsorted(edges, u, side="right").clip(0, len(p) - 1)
    # position within the bin from the same u, so the size stays monotone in severity
    lower_edge = np.concatenate([[0.0], edges[:-1]])[b]
    within = (u - lower_edge) / np.maximum(edges[b] - lower_edge, 1e-12)
    lo = np.array([SIZE_BINS[i][0] for i in b])
    hi = np.array([SIZE_BINS[i][1] for i in b])
    # the open top bin decays like a tail rather than a flat block
    within = np.where(b == len(SIZE_BINS) - 1, 1 - np.sqrt(1 - within), within)
    size = np.round(lo + within * (hi - lo), 1)
    out: FloatArray = np.clip(size, 0.1, 12.0)
    return out


def _keratinization(rng: np.random.Generator, histology: StrArray) -> StrArray:
    counts = table1()["categorical"]["keratinization"]
    squamous_levels = ["yes", "no", "unknown"]
    p = np.array([counts[k] for k in squamous_levels], dtype=float)
    p /= p.sum()
    draws = rng.choice(squamous_levels, size=histology.shape, p=p)
    out: StrArray = np.where(histology == "squamous", draws, "non_squamous")
    return out
