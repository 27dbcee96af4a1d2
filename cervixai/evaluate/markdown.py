"""evaluation.md: the figures of an :class:`~cervixai.evaluate.result.Evaluation` as tables."""

from __future__ import annotations

from typing import Any

from cervixai.evaluate.bootstrap import MIN_COUNT
from cervixai.evaluate.result import Evaluation, api_label

SUBGROUP_TITLES = {"figo_stage_group": "FIGO stage group (I: IA–IB, II: IIA–IIB)",
                   "age_band": "Age band (years)",
                   "matrix": "In-plane matrix of the series (original rows)"}


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def _estimate(e: dict[str, Any], digits: int = 3) -> str:
    """``0.812 (0.70–0.90)``; ``3/4 = 0.750 †`` for an unreliable proportion."""
    text = "–" if e.get("value") is None else _num(e["value"], digits)
    if "count" in e:
        k, n = e["count"]
        text = f"{k}/{n} = {text}" if n else f"{k}/{n}"
    if e.get("ci95"):
        lo, hi = e["ci95"]
        text += f" ({_num(lo, digits)}–{_num(hi, digits)})"
    elif e.get("value") is not None and not e.get("reliable", True):
        text += " †"
    return text


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _classification(tasks: dict[str, dict[str, Any]]) -> list[str]:
    rows = [[task.replace("_", " "), str(s["patients"]), str(s["positives"]),
             _estimate(s["auc"]), _num(s["oracle_auc"]), _num(s["threshold"]),
             _estimate(s["sensitivity"]), _estimate(s["specificity"]), _estimate(s["ppv"]),
             _estimate(s["npv"])] for task, s in tasks.items()]
    return _table(["task", "patients", "positives", "AUC (95 % CI)", "oracle AUC", "threshold",
                   "sensitivity", "specificity", "PPV", "NPV"], rows)


def _calibration(tasks: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    for task, s in tasks.items():
        c = s["calibration_in_the_large"] or {}
        rows.append([task.replace("_", " "), str(s["patients"]), str(s["positives"]),
                     _num(c.get("mean_probability")), _num(c.get("observed_rate")),
                     f"{_num(c.get('difference'), 3)} ± {_num(c.get('standard_error'), 3)}",
                     _estimate(s["calibration_slope"], 2)])
    return _table(["task", "patients", "positives", "mean served probability", "observed rate",
                   "difference ± SE of the rate", "calibration slope (95 % CI)"], rows)


def _survival(outcomes: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    for outcome, s in outcomes.items():
        ibs = s["integrated_brier_score"]
        span = ibs.get("months")
        over = f" over {span[0]:.1f}–{span[1]:.1f} months" if span else ""
        rows.append([outcome.upper(), str(s["patients"]), str(s["events"]),
                     _estimate(s["c_index"]), _num(s["oracle_c_index"]),
                     _estimate(ibs) + over])
    return _table(["outcome", "patients", "events", "Harrell's C (95 % CI)", "oracle C",
                   "integrated Brier score (95 % CI)"], rows)


def _segmentation(s: dict[str, Any]) -> list[str]:
    return _table(["patients", "Dice mean (95 % CI)", "Dice median", "Dice < 0.05"],
                  [[str(s["patients"]), _estimate(s["dice_mean"]), _num(s["dice_median"]),
                    str(s["below_0_05"])]])


def _subgroup(groups: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    for label, g in groups.items():
        for task, s in g["classification"].items():
            c = s["calibration_in_the_large"] or {}
            rows.append([label, task.replace("_", " "), str(s["patients"]), str(s["positives"]),
                         _estimate(s["auc"]),
                         f"{_num(c.get('mean_probability'))} vs {_num(c.get('observed_rate'))}",
                         "yes" if s["reliable"] else "no"])
        for outcome, s in g["survival"].items():
            events = f"{s['events']} event" + ("" if s["events"] == 1 else "s")
            rows.append([label, outcome.upper(), str(s["patients"]), events,
                         "C " + _estimate(s["c_index"]), "", "yes" if s["reliable"] else "no"])
        seg = g["segmentation"]
        if seg["patients"]:
            rows.append([label, "segmenter", str(seg["patients"]), "",
                         "Dice " + _estimate(seg["dice_mean"]), "",
                         "yes" if seg["dice_mean"]["reliable"] else "no"])
    return _table(["group", "model", "patients", "positives", "AUC / C / Dice (95 % CI)",
                   "mean probability vs observed", "reliable"], rows)


def render(evaluation: Evaluation) -> str:
    data = evaluation.to_json()
    s = data["settings"]
    p = data["patients"]
    lines = ["# Served evaluation", "", data["source"] + ".", "",
             f"- command: `{s['command']}`" if s["command"] else f"- target: {s['target']}",
             f"- system: {s['target']}, {api_label(s['api'])} API, concurrency {s['concurrency']}, "
             f"timeout {s['timeout_seconds']:g} s per request",
             f"- patients: {p['sent']} sent, {p['served']} served, {p['failed']} failed"
             + (f", {p['without_dice']} without a Dice (truth unreadable)"
                if p["without_dice"] else ""),
             f"- bootstrap: {s['bootstrap_rounds']} resamples of the patients, seed {s['seed']}",
             "- models: " + ", ".join(f"{k} {'/'.join(v)}" for k, v in data["models"].items()),
             f"- took {data['seconds']:.0f} s", "",
             f"† fewer than {MIN_COUNT} patients behind the figure (positives for AUC, "
             f"sensitivity and PPV, negatives for specificity and NPV, events for survival, or "
             f"a denominator that small): shown with its counts, without an interval, "
             f"`reliable: false` in evaluation.json.", ""]
    if data["classification"]:
        lines += ["## Classification (at each model's operating threshold)", "",
                  *_classification(data["classification"]), "", "### Calibration", "",
                  "Difference = mean served probability − observed rate (positive: "
                  "over-prediction). Plots: `reliability-<task>.png`.", "",
                  *_calibration(data["classification"]), ""]
    if data["survival"]:
        lines += ["## Survival", "", *_survival(data["survival"]), ""]
    lines += ["## Segmentation", "", "Dice of the served mask against the ground-truth SEG on "
              "the ingested grid; a lesion-free truth scores 1 when nothing is predicted, else 0.",
              "", *_segmentation(data["segmentation"]), ""]
    lines += ["## Subgroups", ""]
    for kind, groups in data["subgroups"].items():
        lines += [f"### {SUBGROUP_TITLES.get(kind, kind)}", "", *_subgroup(groups), ""]
    if data["failures"]:
        lines += ["## Failed patients", "",
                  *_table(["index", "patient", "stage", "reason"],
                          [[str(f["index"]), f["patient_id"], f["stage"], f["reason"]]
                           for f in data["failures"]]), ""]
    return "\n".join(lines)
