"""Evaluation metrics shared by training, reports and the synthetic cohort's oracle figures."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata


def roc_auc(y_true: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve (Mann–Whitney U, ties counted half)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"y_true and score differ in shape: {y.shape} vs {s.shape}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes; got {n_pos} positives and {n_neg} negatives")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def harrell_c(time: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Harrell's concordance index: higher risk should mean an earlier observed event.

    Comparable pairs: patient i had an event and patient j was still under observation later
    (t_j > t_i). Ties in risk count half.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event).astype(bool)
    r = np.asarray(risk, dtype=float)
    if not (t.shape == e.shape == r.shape):
        raise ValueError(f"time, event and risk differ in shape: {t.shape}, {e.shape}, {r.shape}")
    order = np.argsort(t, kind="stable")
    t, e, r = t[order], e[order], r[order]
    concordant = 0.0
    comparable = 0
    for i in np.flatnonzero(e):
        later = t > t[i]
        n = int(later.sum())
        if n == 0:
            continue
        comparable += n
        concordant += float((r[i] > r[later]).sum()) + 0.5 * float((r[i] == r[later]).sum())
    if comparable == 0:
        raise ValueError("no comparable pairs: the C-index needs at least one observed event")
    return concordant / comparable


MIN_RELIABLE_COUNT = 10   # fewer positives (or negatives) than this: counts only, no interval


def small_sample_metrics(metrics: dict[str, tuple[float, tuple[float, float]]],
                         y: npt.ArrayLike, predicted: npt.ArrayLike) -> dict[str, object]:
    """Metric values and 95 % intervals as a manifest or a report shows them, honest about
    small samples: a metric resting on fewer than :data:`MIN_RELIABLE_COUNT` cases (positives
    for sensitivity, negatives for specificity, flagged patients for precision, the smaller
    class for the rest) keeps its value and the counts behind it, loses its interval and is
    marked ``reliable: false`` — never a point value with a degenerate interval."""
    truth = np.asarray(y).astype(bool)
    flagged = np.asarray(predicted).astype(bool)
    tp, fn = int((flagged & truth).sum()), int((~flagged & truth).sum())
    tn, fp = int((~flagged & ~truth).sum()), int((flagged & ~truth).sum())
    counts = {"sensitivity": [tp, tp + fn], "specificity": [tn, tn + fp],
              "precision": [tp, tp + fp]}
    smaller = min(tp + fn, tn + fp)
    out: dict[str, object] = {}
    for name, (value, (low, high)) in metrics.items():
        basis = counts[name][1] if name in counts else smaller
        reliable = basis >= MIN_RELIABLE_COUNT
        finite = [x for x in (value, low, high) if np.isfinite(x)]
        entry: dict[str, object] = {
            "value": float(value) if np.isfinite(value) else None,
            "ci95": [float(low), float(high)] if reliable and len(finite) == 3 else None,
            "reliable": reliable}
        if name in counts:
            entry["count"] = counts[name]
        out[name] = entry
    out["positives"], out["negatives"] = tp + fn, tn + fp
    out["reliable"] = smaller >= MIN_RELIABLE_COUNT
    return out
