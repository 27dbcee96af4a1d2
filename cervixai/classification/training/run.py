"""``cervixai train classifier``: every algorithm × task × feature set on a cohort, the report,
one chosen model per task exported to ONNX (parity-checked) and recorded in the bundle.

Selection rule (stated in the report): per task, the candidate with the highest mean 5-fold CV
AUC on the training split; ties go to the simpler feature set (clinical, radiomics, paper), then
to the earlier algorithm in the report order. The test split is never used for choosing.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cervixai.bundle import ModelEntry, add_file, cohort_fingerprint, library_versions, write_entry
from cervixai.classification.inputs import TASK_STAGE, input_layout
from cervixai.classification.training.algorithms import ALGORITHMS, QUICK_ALGORITHMS
from cervixai.classification.training.data import CohortData, load_cohort
from cervixai.classification.training.export import (
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    check_parity,
    onnx_probabilities,
    to_onnx_model,
)
from cervixai.classification.training.metrics import METRICS, binary_metrics, bootstrap_ci
from cervixai.classification.training.protocol import (
    FittedCandidate,
    Protocol,
    check_trainable,
    fit_candidate,
)
from cervixai.classification.training.report import CandidateResult, csv_text, markdown
from cervixai.cohort.format import TASKS
from cervixai.evaluation import roc_auc, small_sample_metrics
from cervixai.features import FEATURE_SETS
from cervixai.features.cohort import SEGMENTER, TRUTH
from cervixai.features.provenance import image_provenance
from cervixai.training import TrainingResult

log = logging.getLogger(__name__)
SELECTION_RULE = ("per task, the highest mean stratified-CV AUC on the training split; ties go to "
                  "the simpler feature set (clinical < radiomics < paper), then to the earlier "
                  "algorithm; the test split is not used for choosing")
QUICK_FEATURE_SETS = ("radiomics", "clinical")


@dataclass(frozen=True)
class TrainOptions:
    cohort: Path
    out: Path
    algorithms: tuple[str, ...] = ALGORITHMS
    feature_sets: tuple[str, ...] = FEATURE_SETS
    tasks: tuple[str, ...] = TASKS
    protocol: Protocol = field(default_factory=Protocol)
    bootstrap: int = 1000
    eval_cohort: Path | None = None
    cache_dir: Path | None = None
    workers: int = 1
    command: str = ""
    image_features: str = SEGMENTER          # where training's lesion masks come from
    segmenter_bundle: Path | None = None     # whose segmenter (default: the output bundle)
    ideal_bound: bool = True                 # refit the chosen models on ground-truth masks

    @property
    def segmenter_source(self) -> Path:
        return self.segmenter_bundle or self.out

    @classmethod
    def quick(cls, cohort: Path, out: Path, **overrides: Any) -> TrainOptions:
        """The fast default-bundle profile: three algorithms, no 65k-pixel models, small grids."""
        base: dict[str, Any] = {"algorithms": QUICK_ALGORITHMS,
                                "feature_sets": QUICK_FEATURE_SETS,
                                "protocol": Protocol(quick=True), "bootstrap": 200}
        return cls(cohort, out, **{**base, **overrides})


@dataclass
class Selection:
    """Every candidate of one run (the report's rows), the one chosen per task, the tasks
    skipped (task → why) and the chosen models' figures on the evaluation cohort."""

    results: list[CandidateResult]
    chosen: dict[str, CandidateResult]
    skipped: dict[str, str] = field(default_factory=dict)
    evaluation: dict[str, dict[str, float]] = field(default_factory=dict)


def train(options: TrainOptions) -> TrainingResult:
    """Run everything and write the bundle entries and the report; the result lists the
    entries written (``classifier.TASK``, in task order) and the tasks skipped (by task)."""
    started = time.monotonic()
    needs_images = any(fs != "clinical" for fs in options.feature_sets)
    data = load_cohort(options.cohort, images=needs_images, image_source=options.image_features,
                       segmenter_bundle=options.segmenter_source, cache_dir=options.cache_dir,
                       workers=options.workers)
    feature_sets = [fs for fs in options.feature_sets if fs == "clinical" or data.has_images]
    notes = [f"dropped {len(data.dropped)} patients whose record fails validation: "
             + "; ".join(data.dropped[:3]) + (" …" if len(data.dropped) > 3 else "")
             ] if data.dropped else []
    if len(feature_sets) < len(options.feature_sets):
        notes.append("the cohort has no images: only the clinical feature set was trained")
    if not feature_sets:
        raise ValueError("no feature set can be trained on this cohort (it has no images and "
                         "'clinical' was not asked for)")
    train_rows = np.flatnonzero(data.split == "train")
    test_rows = np.flatnonzero(data.split == "test")
    summary = Selection([], {})
    entries: list[ModelEntry] = []
    for task in options.tasks:
        problem = check_trainable(data.labels[task][train_rows], task)
        if problem:
            log.warning("skipping %s", problem)
            summary.skipped[task] = problem
            continue
        ranked: list[tuple[tuple[float, int, int], FittedCandidate, CandidateResult]] = []
        for fs_rank, fs in enumerate(sorted(feature_sets, key=FEATURE_SETS.index)[::-1]):
            layout = input_layout(fs, task)
            X_train, X_test = data.features(layout, train_rows), data.features(layout, test_rows)
            y_train, y_test = data.labels[task][train_rows], data.labels[task][test_rows]
            for alg_rank, algorithm in enumerate(options.algorithms):
                result = CandidateResult(task, fs, algorithm)
                summary.results.append(result)
                t0 = time.monotonic()
                try:
                    candidate = fit_candidate(algorithm, layout, X_train, y_train,
                                              options.protocol)
                except Exception as e:  # a failed candidate is a row of the report, not a crash
                    log.warning("%s / %s / %s failed: %s", task, fs, algorithm, e)
                    result.error = f"{type(e).__name__}: {e}"[:160]
                    continue
                score(result, candidate, X_test, y_test, data, test_rows, options)
                log.info("%s / %s / %s: CV AUC %.3f, test AUC %s (%.1f s)", task, fs, algorithm,
                         candidate.cv_auc, result.metrics.get("auc"), time.monotonic() - t0)
                # rank: CV AUC, then the simpler feature set, then the earlier algorithm
                ranked.append(((round(candidate.cv_auc, 10), -fs_rank, -alg_rank), candidate,
                               result))
        ranked.sort(key=lambda item: item[0], reverse=True)
        for _, candidate, result in ranked:
            if options.ideal_bound:   # before export, so that the entry records it
                fit_ideal_bound(candidate, result, data, train_rows, test_rows, options)
            try:
                entry = export(candidate, result, data, test_rows, options)
            except ValueError as e:  # ONNX parity failed: say so and take the next candidate
                log.warning("%s / %s / %s not exported: %s", task, result.feature_set,
                            result.algorithm, e)
                result.notes.append(f"not exported: {e}")
                continue
            result.chosen = True
            summary.chosen[task] = result
            entries.append(entry)
            break
        else:
            summary.skipped[task] = f"{task}: no candidate could be trained and exported"
    if options.eval_cohort is not None:
        summary.evaluation = evaluate_bundle(options.out, options.eval_cohort, summary.chosen,
                                             options)
    reports = write_report(summary, data, options, notes, time.monotonic() - started)
    return TrainingResult(options.out, tuple(entries), reports, dict(summary.skipped),
                          round(time.monotonic() - started, 1))


def score(result: CandidateResult, candidate: FittedCandidate, X_test: npt.NDArray[np.float32],
          y_test: npt.NDArray[np.int64], data: CohortData, test_rows: npt.NDArray[np.int64],
          options: TrainOptions) -> None:
    p = candidate.probability(X_test)
    result.cv_auc = candidate.cv_auc
    result.threshold = candidate.threshold
    result.hyperparameters = candidate.hyperparameters
    result.notes = list(candidate.notes)
    result.metrics = binary_metrics(y_test, p, candidate.threshold)
    result.positives, result.negatives = int(y_test.sum()), int(len(y_test) - y_test.sum())
    result.ci = bootstrap_ci(y_test, p, candidate.threshold, replicates=options.bootstrap,
                             seed=options.protocol.seed)
    if data.oracle is not None and 0 < y_test.sum() < len(y_test):
        result.oracle_auc = roc_auc(y_test, data.oracle[result.task][test_rows])
    if not 0 < y_test.sum() < len(y_test):
        result.notes.append(f"the test split has {int(y_test.sum())} positives: AUC undefined")


def fit_ideal_bound(candidate: FittedCandidate, result: CandidateResult, data: CohortData,
                train_rows: npt.NDArray[np.int64], test_rows: npt.NDArray[np.int64],
                options: TrainOptions) -> None:
    """The ideal-segmentation bound of a chosen image model: the same algorithm and feature set
    refit by the same protocol on ground-truth-mask features, scored on the test split's
    ground-truth features. Not exported: serving never sees a ground-truth mask."""
    if not candidate.layout.image_width or data.truth is None or \
            options.image_features == TRUTH:
        return
    truth = data.with_truth_images()
    layout, task = candidate.layout, result.task
    y_train, y_test = data.labels[task][train_rows], data.labels[task][test_rows]
    if not 0 < y_test.sum() < len(y_test):
        return
    try:
        refit = fit_candidate(candidate.algorithm, layout, truth.features(layout, train_rows),
                              y_train, options.protocol)
    except Exception as e:  # the bound is a report figure; its failure is noted, not fatal
        log.warning("%s: ideal-segmentation refit failed: %s", task, e)
        return
    result.ideal_auc = roc_auc(y_test, refit.probability(truth.features(layout, test_rows)))


def export(candidate: FittedCandidate, result: CandidateResult, data: CohortData,
           test_rows: npt.NDArray[np.int64], options: TrainOptions) -> ModelEntry:
    """ONNX graph → parity check on the test split → bundle file and manifest entry (returned
    as written)."""
    task, layout = result.task, candidate.layout
    name = f"classifier.{task}"
    model = to_onnx_model(candidate.pipeline, layout.width, candidate.calibration, name)
    content = model.SerializeToString()
    X_test = data.features(layout, test_rows)
    delta = check_parity(content, candidate.probability(X_test), X_test)
    ref = add_file(options.out, f"classifier/{task}.onnx", content)
    y_test = data.labels[task][test_rows]
    metrics: dict[str, Any] = small_sample_metrics(
        {m: (result.metrics[m], result.ci[m]) for m in METRICS}, y_test,
        candidate.probability(X_test) >= candidate.threshold)
    if result.ideal_auc is not None:
        metrics["ideal_segmentation_auc_test"] = _finite(result.ideal_auc)
    metrics.update({
        "cv_auc": candidate.cv_auc, "oracle_auc_test": _finite(result.oracle_auc),
        "onnx_parity_max_abs_diff": delta, "n_train": int((data.split == "train").sum()),
        "n_test": len(test_rows),
        "positives_test": int(data.labels[task][test_rows].sum()),
    })
    provenance = image_provenance(data.image_source if layout.image_width else None,
                                  [data.images[i] for i in np.flatnonzero(data.split == "train")]
                                  if layout.image_width and data.images is not None else None)
    entry = write_entry(options.out, ModelEntry(
        name=name, task=task, algorithm=candidate.algorithm, feature_set=layout.feature_set,
        files={"model": ref},
        inputs=[{"name": INPUT_NAME, "dtype": "float32", "shape": [None, layout.width]}],
        outputs=[{"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, 2]}],
        threshold=candidate.threshold, metrics=metrics,
        training_data=cohort_fingerprint(options.cohort),
        versions=library_versions("scikit-learn", "imbalanced-learn", "skl2onnx", "onnx",
                                  "onnxruntime", "numpy"),
        parameters={
            "stage": TASK_STAGE[task].value, "input_layout": layout.to_dict(),
            "target_sensitivity": options.protocol.target_sensitivity,
            "calibration": {"method": "platt", "slope": candidate.calibration[0],
                            "intercept": candidate.calibration[1]},
            "hyperparameters": {k: _jsonable(v) for k, v in candidate.hyperparameters.items()},
            "downsample_negatives_1_to_1": options.protocol.downsample,
            "cv_folds": candidate.folds, "selection_rule": SELECTION_RULE,
            **provenance, "opset": OPSET,
        }))
    log.info("exported %s (%s, %s): max |Δp| %.2g", name, candidate.algorithm,
             layout.feature_set, delta)
    return entry


def evaluate_bundle(bundle: Path, cohort: Path, chosen: dict[str, CandidateResult],
                    options: TrainOptions) -> dict[str, dict[str, float]]:
    """AUC of each exported model (in onnxruntime) on a whole separate cohort, beside its
    oracle's AUC there and, for the preoperative tasks of a cohort reproducible from its seed,
    the preoperative oracle's (the truth averaged over the pathology such a model cannot see)."""
    from cervixai.bundle import load_bundle
    from cervixai.cohort.synth.preoperative import TASKS as PREOPERATIVE_TASKS
    from cervixai.cohort.synth.preoperative import NotReproducible, cohort_preoperative_oracle

    loaded = load_bundle(bundle)
    needs_images = any(r.feature_set != "clinical" for r in chosen.values())
    data = load_cohort(cohort, images=needs_images, image_source=options.image_features,
                       segmenter_bundle=options.segmenter_source, cache_dir=options.cache_dir,
                       workers=options.workers)
    preoperative: dict[str, dict[str, float]] = {}
    if data.oracle is not None and set(PREOPERATIVE_TASKS) & set(chosen):
        try:
            preoperative = cohort_preoperative_oracle(cohort)
        except (NotReproducible, FileNotFoundError, KeyError) as error:
            log.info("no preoperative oracle for the evaluation cohort: %s", error)
    out: dict[str, dict[str, float]] = {}
    for task, result in chosen.items():
        if result.feature_set != "clinical" and not data.has_images:
            continue
        layout = input_layout(result.feature_set, task)
        p = onnx_probabilities(loaded.verified_bytes(f"classifier.{task}"), data.features(layout))
        y = data.labels[task]
        figures = {"patients": float(len(y)), "auc": roc_auc(y, p)}
        if data.oracle is not None:
            figures["oracle_auc"] = roc_auc(y, data.oracle[task])
        if task in preoperative:
            figures["preoperative_oracle_auc"] = roc_auc(
                y, np.array([preoperative[task][pid] for pid in data.patient_ids]))
        out[task] = figures
    return out


def write_report(summary: Selection, data: CohortData, options: TrainOptions,
                 notes: list[str], seconds: float) -> tuple[Path, Path]:
    """The Markdown report and the CSV of every candidate, under BUNDLE/reports/."""
    n_train = int((data.split == "train").sum())
    lines = [
        f"## Classifier report — cohort `{options.cohort.name}` ({len(data.records)} patients: "
        f"{n_train} train, {len(data.records) - n_train} test)",
        "",
        f"Command: `{options.command or 'cervixai train classifier'}`",
        "",
        f"- Image features: "
        f"{data.image_source.describe() if data.image_source else 'none (no images)'}"
        + (f"; segmenter Dice on these patients: mean {np.mean(data.image_source.dice):.3f}, "
           f"median {np.median(data.image_source.dice):.3f}"
           if data.image_source and data.image_source.dice else "") + ".",
        "- Ideal-segmentation bound: each chosen image model refit by the same protocol on "
        "features of the ground-truth masks and scored on the test split's ground-truth "
        "features (column `ideal AUC` below the table).",
        f"- Protocol: stratified {options.protocol.folds}-fold CV on the train split for "
        f"hyperparameters (AUC); negatives downsampled 1:1 for training: "
        f"{'on' if options.protocol.downsample else 'off'}; Platt calibration and threshold on "
        f"out-of-fold probabilities for sensitivity ≥ {options.protocol.target_sensitivity:.2f}.",
        "- Test metrics at that threshold, 95% CI from "
        f"{options.bootstrap} stratified bootstrap resamples; WA = (sens + spec) / 2; oracle AUC "
        "= the generating model's true probabilities scored on the same test patients.",
        f"- Chosen model (bold): {SELECTION_RULE}.",
        f"- Wall time {seconds / 60:.1f} min.",
        *(f"- {n}" for n in notes),
        *(f"- Skipped: {why}" for why in summary.skipped.values()),
        "",
    ]
    text = markdown(summary.results, "\n".join(lines))
    bounded = [r for r in summary.chosen.values() if r.ideal_auc is not None]
    if bounded:
        text += ("\n### Chosen image models: test AUC on the segmenter's masks and on the "
                 "ground-truth masks\n\n| task | algorithm | features | test AUC (segmenter "
                 "masks) | ideal AUC (ground-truth masks) | positives |\n"
                 "|---|---|---|---|---|---|\n")
        for r in bounded:
            text += (f"| {r.task} | {r.algorithm} | {r.feature_set} | "
                     f"{r.metrics.get('auc', math.nan):.3f} | {r.ideal_auc:.3f} | "
                     f"{r.positives} |\n")
    if summary.evaluation:
        text += ("\n### Chosen models on a separate evaluation cohort "
                 f"(`{options.eval_cohort}`, ONNX)\n\nPreoperative oracle: the true probability "
                 "averaged over the pathology (stromal invasion depth, LVSI, stage) that a "
                 "preoperative model cannot see; the fair reference for the preoperative tasks."
                 "\n\n| task | algorithm | features | patients | AUC | oracle AUC | gap | "
                 "preoperative oracle AUC | gap |\n|---|---|---|---|---|---|---|---|---|\n")
        for task, fig in summary.evaluation.items():
            r = summary.chosen[task]
            oracle = fig.get("oracle_auc", math.nan)
            pre = fig.get("preoperative_oracle_auc", math.nan)
            cells = [f"{oracle:.3f}", f"{oracle - fig['auc']:.3f}",
                     *((f"{pre:.3f}", f"{pre - fig['auc']:.3f}") if math.isfinite(pre)
                       else ("—", "—"))]
            text += (f"| {task} | {r.algorithm} | {r.feature_set} | {fig['patients']:.0f} | "
                     f"{fig['auc']:.3f} | " + " | ".join(cells) + " |\n")
    report = options.out / "reports" / "classifier.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)
    table = options.out / "reports" / "classifier.csv"
    table.write_text(csv_text(summary.results))
    return report, table


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
