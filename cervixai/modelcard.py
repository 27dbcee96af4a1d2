"""A model card per bundle: what the models are for, what they were trained on, how well the
system as served did, and what nobody has measured.

Generated from the bundle's manifest — the entries' training data, parameters and
``metrics.served`` (written by ``cervixai evaluate --record``) — and, when given, the full
evaluation (``evaluation.json``) for the subgroup table. ``cervixai model-card --bundle B``
writes ``B/model-card.md``; the gateway serves it at ``GET /v1/models``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cervixai.bundle import Bundle, ModelEntry, load_bundle

CARD = "model-card.md"
EVALUATION = "reports/evaluation.json"   # where the launcher keeps the bundle's served evaluation
TASK_TITLES = {"parametrial_invasion": "parametrial invasion",
               "lymph_node_metastasis": "lymph node metastasis",
               "recurrence": "recurrence", "death": "death"}


def _num(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def _estimate(e: Mapping[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "—"
    text = _num(e["value"])
    if "count" in e:
        text += f" ({e['count'][0]}/{e['count'][1]})"
    ci = e.get("ci95")
    return text + (f" [{_num(ci[0])}–{_num(ci[1])}]" if ci else "")


def _training(entry: ModelEntry) -> str:
    data = entry.training_data
    if data.get("source") == "synthetic" or "seed" in data:
        text = (f"synthetic cohort `{data.get('cohort')}` (seed {data.get('seed')}, "
                f"{data.get('patients')} patients)")
    else:
        text = f"cohort `{data.get('cohort')}`"
    sha = data.get("clinical.csv_sha256")
    return text + (f", clinical.csv sha256 {sha[:12]}…" if sha else "")


def _classifier_rows(bundle: Bundle) -> list[str]:
    rows = []
    for name, entry in sorted(bundle.models.items()):
        if not name.startswith("classifier."):
            continue
        s = entry.metrics.get("served")
        task = TASK_TITLES.get(entry.task, entry.task)
        if not s:
            rows.append(f"| {task} | {entry.algorithm} ({entry.feature_set}) | not measured "
                        "through the serving path | | | | | | |")
            continue
        cal = s.get("calibration_in_the_large") or {}
        flag = "" if s.get("reliable") else " — **unreliable: fewer than 10 positives**"
        rows.append(
            f"| {task} | {entry.algorithm} ({entry.feature_set}) | {s['patients']} / "
            f"{s['positives']}{flag} | {_estimate(s.get('auc'))} | "
            f"{_estimate(s.get('sensitivity'))} | {_estimate(s.get('specificity'))} | "
            f"{_estimate(s.get('ppv'))} | {_num(cal.get('mean_probability'))} vs "
            f"{_num(cal.get('observed_rate'))} | {_num(s.get('oracle_auc'))} |")
    return rows


def _survival_rows(bundle: Bundle) -> list[str]:
    rows = []
    for name, entry in sorted(bundle.models.items()):
        if not name.startswith("survival."):
            continue
        s = entry.metrics.get("served")
        outcome = name.split(".", 1)[1].upper()
        if not s:
            rows.append(f"| {outcome} | {entry.algorithm} ({entry.feature_set}) | not measured "
                        "| | | |")
            continue
        flag = "" if s.get("reliable") else " — **unreliable: fewer than 10 events**"
        rows.append(f"| {outcome} | {entry.algorithm} ({entry.feature_set}) | {s['patients']} / "
                    f"{s['events']}{flag} | {_estimate(s.get('c_index'))} | "
                    f"{_estimate(s.get('integrated_brier_score'))} | "
                    f"{_num(s.get('oracle_c_index'))} |")
    return rows


def _subgroups(evaluation: Mapping[str, Any] | None) -> list[str]:
    groups = (evaluation or {}).get("subgroups") or {}
    if not groups:
        return ["Not measured for this card: run `cervixai evaluate --cohort C --bundle B` and "
                "pass its `evaluation.json` with `--evaluation`."]
    lines = ["| subgroup | level | patients | task | positives | AUC | mean p vs rate |",
             "|---|---|---|---|---|---|---|"]
    for group, levels in groups.items():
        for level, figures in levels.items():
            for task, t in (figures.get("classification") or {}).items():
                cal = t.get("calibration_in_the_large") or {}
                flag = "" if t.get("reliable") else " (unreliable)"
                lines.append(f"| {group} | {level} | {figures.get('patients')} | {task} | "
                             f"{t.get('positives')}{flag} | {_estimate(t.get('auc'))} | "
                             f"{_num(cal.get('mean_probability'))} vs "
                             f"{_num(cal.get('observed_rate'))} |")
    return lines


def render(bundle: Bundle, evaluation: Mapping[str, Any] | None = None) -> str:
    """The card's Markdown."""
    segmenter = bundle.models.get("segmenter")
    models = ["| model | version | algorithm | feature set | image features from | trained on |",
              "|---|---|---|---|---|---|"]
    for name, entry in sorted(bundle.models.items()):
        source = entry.parameters.get("image_features_from", "—" if name == "segmenter"
                                      else "unrecorded")
        if source == "segmenter":
            source += f" {str(entry.parameters.get('segmenter_version'))[:12]}"
        models.append(f"| {name} | {entry.version} | {entry.algorithm} | {entry.feature_set} | "
                      f"{source} | {_training(entry)} |")
    seg_lines = ["Not measured through the serving path."]
    if segmenter is not None:
        s = segmenter.metrics.get("served")
        test = segmenter.metrics.get("test", {})
        seg_lines = []
        if s:
            seg_lines.append(f"Served: mean Dice {_estimate(s.get('dice_mean'))}, median "
                             f"{_num(s.get('dice_median'))}, {s.get('below_0_05')} of "
                             f"{s.get('patients')} patients below 0.05 ({s.get('source')}).")
        if test:
            dice = test.get("dice", {})
            seg_lines.append(f"At training: test mean Dice {_num(dice.get('mean'))} on "
                             f"{test.get('patients')} patients of its own cohort "
                             f"({_training(segmenter)}).")
    sources = {e.metrics["served"]["source"] for e in bundle.models.values()
               if e.metrics.get("served")}
    return "\n".join([
        f"# Model card — cervixai bundle `{bundle.root.name}`",
        "",
        "## Intended use and users",
        "",
        "Research and evaluation software that reads a coronal T2-weighted fat-suppressed pelvic "
        "MR series and the clinical record of a patient with cervical cancer (FIGO IA1 with LVSI "
        "to IIB) and returns a lesion contour, the probabilities of parametrial invasion and "
        "lymph node metastasis (preoperative) and of recurrence and death, and recurrence-free "
        "and overall survival estimates (postoperative). For hospital IT, radiologists and "
        "oncologists evaluating the method of Li et al. (JMIR Cancer 2025) on their own data. "
        "**Not a medical device; not for clinical decisions.**",
        "",
        "## Models",
        "",
        *models,
        "",
        "## Served performance",
        "",
        "Measured through the serving path (DICOM in, the running services' answers out), on "
        "patients the models never saw: " + ("; ".join(sorted(sources)) if sources else
                                            "not yet measured (`cervixai evaluate --record`)")
        + ". Figures resting on fewer than 10 positives or events are shown with their counts "
        "and no interval.",
        "",
        "Classifiers — patients / positives, AUC, and sensitivity, specificity and PPV at the "
        "operating threshold (counts, 95 % bootstrap interval), mean served probability against "
        "the observed rate, the generating model's (oracle) AUC:",
        "",
        "| task | model | patients / positives | AUC | sensitivity | specificity | PPV | "
        "calibration | oracle AUC |",
        "|---|---|---|---|---|---|---|---|---|",
        *_classifier_rows(bundle),
        "",
        "Survival — patients / events, Harrell's C, integrated Brier score, oracle C:",
        "",
        "| outcome | model | patients / events | C-index | integrated Brier | oracle C |",
        "|---|---|---|---|---|---|",
        *_survival_rows(bundle),
        "",
        "Segmentation: " + " ".join(seg_lines),
        "",
        "## Subgroups",
        "",
        *_subgroups(evaluation),
        "",
        "## Known limitations",
        "",
        "- No real patient has ever been scored by these models: they were trained and "
        "evaluated on synthetic cohorts whose generating model is known (the oracle columns). "
        "The figures say how well the software reproduces the method, not how it would do in a "
        "hospital; retrain and re-evaluate on the hospital's own cohort first.",
        "- The classifier and survival models were trained on image features of the "
        "segmenter's own contours (out of sample), so a contour error of the kind the segmenter "
        "makes is part of what they learned; another segmenter needs retrained models (the "
        "services refuse the combination).",
        "- A test split of a 250-patient cohort holds a handful of parametrial invasions and "
        "deaths: those figures are marked unreliable; larger evaluation cohorts are in the docs.",
        "- Requests whose image features fall outside the training range are flagged in the "
        "reply.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make segmenter-model                                   # the shipped segmenter",
        "cervixai cohort synth --n 250 --seed 0 --out var/cohort",
        f"cervixai train classifier --quick --cohort var/cohort --out {bundle.root}",
        f"cervixai train survival --quick --cohort var/cohort --out {bundle.root}",
        f"cervixai evaluate --cohort var/cohort --bundle {bundle.root} --record",
        f"cervixai model-card --bundle {bundle.root}",
        "```",
        "",
    ])


def stored_evaluation(bundle: Bundle) -> dict[str, Any] | None:
    """The evaluation kept in the bundle (``reports/evaluation.json``), if any."""
    path = bundle.root / EVALUATION
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write(bundle_path: Path, evaluation: Path | None = None, out: Path | None = None) -> Path:
    """Write the card (default ``BUNDLE/model-card.md``) and return its path; the subgroups come
    from ``evaluation`` or else the bundle's stored evaluation."""
    bundle = load_bundle(bundle_path)
    data = (json.loads(evaluation.read_text()) if evaluation is not None
            else stored_evaluation(bundle))
    target = out or bundle_path / CARD
    target.write_text(render(bundle, data))
    return target


def add_command(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "model-card", help="write the bundle's model card (Markdown) from its manifest")
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--evaluation", type=Path, default=None,
                   help="an evaluation.json of `cervixai evaluate` (for the subgroup table)")
    p.add_argument("--out", type=Path, default=None, help="default: BUNDLE/model-card.md")
    p.set_defaults(func=lambda args: print(write(args.bundle, args.evaluation, args.out)) or 0)
