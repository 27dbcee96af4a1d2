"""The figures of one population (all evaluated patients, or one subgroup): per classification
task, per survival outcome, and for the segmenter, each with its bootstrap interval and the
small-sample rule of :mod:`cervixai.evaluate.bootstrap` applied.

Every summary is a JSON-ready dict; its keys are those of the bundle's ``metrics.served``
contract (docs/evaluation.md) plus ``negatives``/``reliable`` details per metric.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from cervixai.evaluate import metrics as m
from cervixai.evaluate import survival_metrics as sm
from cervixai.evaluate.bootstrap import Estimate, enough, estimate, resamples

F64 = npt.NDArray[np.float64]
DICE_FAILURE = 0.05


def classification(outcome: npt.ArrayLike, probability: npt.ArrayLike,
                   threshold: npt.ArrayLike, *, oracle: npt.ArrayLike | None = None,
                   rounds: int = 1000, seed: int = 0) -> dict[str, Any]:
    """AUC, sensitivity, specificity, PPV, NPV at the served threshold (one per patient, as each
    reply carried it), calibration in the large and slope, and the oracle's AUC beside."""
    y = np.asarray(outcome).astype(int)
    p = np.asarray(probability, dtype=float)
    t = np.broadcast_to(np.asarray(threshold, dtype=float), p.shape)
    n = int(y.size)
    draws = resamples(n, rounds, seed)
    whole = m.confusion(y, p, t)
    positives, negatives = whole.positives, whole.negatives
    out: dict[str, Any] = {"patients": n, "positives": positives, "negatives": negatives,
                           "reliable": enough(positives, negatives),
                           "threshold": _threshold(t)}
    out["auc"] = estimate(lambda i: m.auc(y[i], p[i]), n, draws,
                          reliable=enough(positives, negatives)).to_json()
    for name, (k, d) in whole.counts().items():
        basis = positives if name in ("sensitivity", "ppv") else negatives

        def proportion(i: npt.NDArray[np.intp], name: str = name) -> float | None:
            return m.ratio(*m.confusion(y[i], p[i], t[i]).counts()[name])

        out[name] = estimate(proportion, n, draws, reliable=enough(basis, d),
                             count=(k, d)).to_json()
    if n:
        citl = m.calibration_in_the_large(y, p)
        out["calibration_in_the_large"] = {"mean_probability": round(citl.mean_probability, 6),
                                           "observed_rate": round(citl.observed_rate, 6),
                                           "difference": round(citl.difference, 6),
                                           "standard_error": round(citl.standard_error, 6)}
    else:
        out["calibration_in_the_large"] = None
    out["calibration_slope"] = estimate(lambda i: m.calibration_slope(y[i], p[i]), n, draws,
                                        reliable=enough(positives, negatives)).to_json()
    out["oracle_auc"] = _rounded(m.auc(y, oracle)) if oracle is not None else None
    return out


def survival(months: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike,
             curves: F64 | None = None, grid: F64 | None = None, *,
             oracle: npt.ArrayLike | None = None, rounds: int = 1000,
             seed: int = 0) -> dict[str, Any]:
    """Harrell's C of the served risk score and the integrated Brier score of the served curves
    (``curves``: patients × ``grid`` survival probabilities), the oracle's C beside."""
    t = np.asarray(months, dtype=float)
    e = np.asarray(event).astype(int)
    r = np.asarray(risk, dtype=float)
    n = int(t.size)
    events = int(e.sum())
    reliable = enough(events)
    draws = resamples(n, rounds, seed)
    out: dict[str, Any] = {"patients": n, "events": events, "reliable": reliable}
    out["c_index"] = estimate(lambda i: sm.c_index(t[i], e[i], r[i]), n, draws,
                              reliable=reliable).to_json()
    if curves is not None and grid is not None and n:
        s = np.asarray(curves, dtype=float)

        def ibs(i: npt.NDArray[np.intp]) -> float | None:
            try:
                return sm.integrated_brier_score(t[i], e[i], s[i], grid)
            except ValueError:
                return None

        out["integrated_brier_score"] = {**estimate(ibs, n, draws, reliable=reliable).to_json(),
                                         "months": [round(float(grid[0]), 3),
                                                    round(float(grid[-1]), 3)]}
    else:
        out["integrated_brier_score"] = Estimate(None, None, False).to_json()
    out["oracle_c_index"] = (_rounded(sm.c_index(t, e, oracle)) if oracle is not None and n
                             else None)
    return out


def segmentation(dice: npt.ArrayLike, *, rounds: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean (with its interval), median and failures (Dice < 0.05) of per-patient Dice."""
    d = np.asarray(dice, dtype=float)
    n = int(d.size)
    draws = resamples(n, rounds, seed)
    return {"patients": n,
            "dice_mean": estimate(lambda i: float(d[i].mean()) if i.size else None, n, draws,
                                  reliable=enough(n)).to_json(),
            "dice_median": _rounded(float(np.median(d))) if n else None,
            "below_0_05": int((d < DICE_FAILURE).sum())}


def _threshold(t: F64) -> float | None:
    if t.size == 0:
        return None
    return round(float(np.median(t)), 6)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
