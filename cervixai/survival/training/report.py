"""The survival report: the study's Table 4 layout plus the censoring-aware models (MD, CSV)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from cervixai.survival import OUTCOMES
from cervixai.survival.curves import HORIZONS_MONTHS
from cervixai.survival.training.protocol import CENSORING_AWARE, Result

LABEL = {"weighted_knn": "Weighted KNN", "svr": "SVM (SVR)", "random_forest": "Random forest",
         "regression_tree": "Regression tree", "ridge_cox": "Cox PH, ridge",
         "random_survival_forest": "Random survival forest"}


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _ci(metrics: dict[str, Any] | None, name: str, digits: int = 3) -> str:
    if metrics is None:
        return "—"
    value = metrics.get(name)
    lo, hi = metrics.get(f"{name}_ci", (math.nan, math.nan))
    if value is None or math.isnan(value):
        return "—"
    if metrics.get("reliable") is False and not name.startswith("oracle"):
        return f"{_num(value, digits)} (unreliable: {metrics.get('events')} events)"
    if math.isnan(lo):
        return _num(value, digits)
    return f"{value:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def markdown(results: Sequence[Result], *, title: str, context: list[str],
             chosen: dict[str, tuple[Result, str]]) -> str:
    lines = [f"# {title}", "", *context, ""]
    feature_sets = list(dict.fromkeys(r.feature_set for r in results))
    for fs in feature_sets:
        rows = [r for r in results if r.feature_set == fs]
        lines += [f"## Feature set `{fs}`", "",
                  "### Table 4 layout (MAE in months; C = Harrell's C-index; 95% bootstrap CI)",
                  "",
                  "| model | family | RFS MAE, events | RFS MAE, all | RFS C | OS MAE, events | "
                  "OS MAE, all | OS C |",
                  "|---|---|---|---|---|---|---|---|"]
        models = list(dict.fromkeys(r.model for r in rows))
        for model in models:
            cells = [LABEL.get(model, model)]
            family = ""
            for outcome in OUTCOMES:
                match = [r for r in rows if r.model == model and r.outcome == outcome]
                if not match:
                    cells += ["—"] * 3
                    continue
                m = match[0].metrics
                family = match[0].family
                cells += [_ci(m, "mae_events", 1), _ci(m, "mae_all", 1), _ci(m, "harrell_c")]
            lines.append("| " + " | ".join([cells[0], family, *cells[1:]]) + " |")
        oracle = [next((r.metrics for r in rows if r.outcome == o and
                        "oracle_harrell_c" in r.metrics), None) for o in OUTCOMES]
        if any(oracle):
            cells = ["**Oracle (true risk)**", "truth"]
            for om in oracle:
                cells += ["—", "—", _ci(om, "oracle_harrell_c")]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Censoring-aware models' months are the restricted mean survival time up "
                  "to the end of training follow-up; the paper models' are their regression.", ""]
        lines += ["### All models: discrimination and calibration", "",
                  "| outcome | model | Harrell's C | Uno's C | oracle C (Harrell / Uno) | IBS | "
                  + " | ".join(f"calib. {h:g} mo (pred / KM, MAE)" for h in HORIZONS_MONTHS)
                  + " | CV score | params |",
                  "|---|---|---|---|---|---|" + "---|" * len(HORIZONS_MONTHS) + "---|---|"]
        for outcome in OUTCOMES:
            for r in (r for r in rows if r.outcome == outcome):
                m = r.metrics
                calib = []
                for h in HORIZONS_MONTHS:
                    c = (m.get("calibration") or {}).get(f"{h:g}", "absent")
                    if c == "absent":
                        calib.append("—")
                    elif c is None:
                        calib.append("n/a (follow-up ends first)")
                    else:
                        calib.append(f"{c['predicted']:.3f} / {c['observed_km']:.3f}, "
                                     f"{c['mean_abs_error']:.3f}")
                cv = ("—" if math.isnan(r.cv_score) else
                      (f"C {r.cv_score:.3f}" if r.family == CENSORING_AWARE
                       else f"MAE {-r.cv_score:.1f}"))
                oracle_c = (f"{_num(m.get('oracle_harrell_c'))} / {_num(m.get('oracle_uno_c'))}"
                            if "oracle_harrell_c" in m else "—")
                lines.append("| " + " | ".join([
                    outcome.upper(), LABEL.get(r.model, r.model), _ci(m, "harrell_c"),
                    _ci(m, "uno_c"), oracle_c, _ci(m, "ibs"), *calib, cv,
                    ", ".join(f"{k.split('__')[-1]}={v}" for k, v in r.params.items())]) + " |")
        lines.append("")
    lines += ["## Chosen models", "",
              "Rule: per outcome, among the censoring-aware models on the selection feature set, "
              "the one that can be exported to ONNX with the highest cross-validated "
              "Harrell's C on the training part (today only the ridge Cox model can be exported: "
              "scikit-survival forests have no ONNX converter, and nothing is pickled).", ""]
    for outcome, (r, note) in chosen.items():
        lines.append(f"- **{outcome.upper()}**: {LABEL.get(r.model, r.model)} on `{r.feature_set}`"
                     f" ({', '.join(f'{k}={v}' for k, v in r.params.items())}); test Harrell's C "
                     f"{_ci(r.metrics, 'harrell_c')}" + (f". Note: {note}" if note else ""))
    lines.append("")
    return "\n".join(lines)


CSV_FIELDS = ("outcome", "feature_set", "model", "family", "params", "cv_score", "n", "events",
              "mae_events", "mae_events_lo", "mae_events_hi", "mae_all", "mae_all_lo",
              "mae_all_hi", "harrell_c", "harrell_c_lo", "harrell_c_hi", "uno_c", "uno_c_lo",
              "uno_c_hi", "ibs", "ibs_lo", "ibs_hi", "oracle_harrell_c", "oracle_harrell_c_lo",
              "oracle_harrell_c_hi", "oracle_uno_c",
              *(f"calibration_{h:g}_{k}" for h in HORIZONS_MONTHS
                for k in ("predicted", "observed_km", "mean_abs_error", "brier")),
              "fit_seconds")


def csv_text(results: Sequence[Result]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in results:
        m = r.metrics
        row: dict[str, Any] = {"outcome": r.outcome, "feature_set": r.feature_set,
                               "model": r.model, "family": r.family,
                               "params": ";".join(f"{k}={v}" for k, v in r.params.items()),
                               "cv_score": r.cv_score, "fit_seconds": round(r.fit_seconds, 2)}
        for key in ("n", "events", "mae_events", "mae_all", "harrell_c", "uno_c", "ibs",
                    "oracle_harrell_c", "oracle_uno_c"):
            row[key] = m.get(key, "")
            if f"{key}_ci" in m:
                row[f"{key}_lo"], row[f"{key}_hi"] = m[f"{key}_ci"]
        for h in HORIZONS_MONTHS:
            c = (m.get("calibration") or {}).get(f"{h:g}")
            if c:
                for k in ("predicted", "observed_km", "mean_abs_error", "brier"):
                    row[f"calibration_{h:g}_{k}"] = c[k]
        writer.writerow(row)
    return out.getvalue()

