"""``cervixai train survival``: fit, report, choose, export to ONNX, check parity, write bundle."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cervixai.bundle import (
    ModelEntry,
    add_file,
    cohort_fingerprint,
    library_versions,
    write_entry,
)
from cervixai.evaluation import MIN_RELIABLE_COUNT
from cervixai.features.cohort import SEGMENTER, TRUTH, cohort_has_images
from cervixai.features.provenance import image_provenance
from cervixai.survival import OUTCOMES
from cervixai.survival.curves import HORIZONS_MONTHS
from cervixai.survival.inputs import (
    CLINICAL_INPUT,
    IMAGE_INPUT,
    RISK_OUTPUT,
    clinical_plan,
    model_inputs,
)
from cervixai.survival.training import data as sd
from cervixai.survival.training import metrics as sm
from cervixai.survival.training import protocol, report
from cervixai.survival.training.export import (
    CONVERTIBLE_REGRESSORS,
    export_cox,
    export_regressor,
    onnx_months,
    onnx_risk,
)
from cervixai.training import TrainingResult

log = logging.getLogger(__name__)

# ONNX computes in float32; the Cox linear predictor of ~70 columns agrees to ~1e-6.
RISK_TOLERANCE = 1e-4
SURVIVAL_TOLERANCE = 1e-4
MONTHS_TOLERANCE = 1e-3


@dataclass(frozen=True)
class TrainOptions:
    cohort: Path
    out: Path
    eval_cohort: Path | None = None
    feature_sets: tuple[str, ...] | None = None     # None: every set the cohort allows
    select_feature_set: str | None = None           # None: radiomics with images, else clinical
    quick: bool = False
    bootstrap: int = 200
    seed: int = 0
    cache_dir: Path | None = None
    folds: int = 5                  # cross-validation folds for the hyperparameters
    n_estimators: int = 200         # trees of the (survival) forests
    image_features: str = SEGMENTER          # where training's lesion masks come from
    segmenter_bundle: Path | None = None     # whose segmenter (default: the output bundle)
    ideal_bound: bool = True                 # refit the chosen models on ground-truth masks
    workers: int = 1                         # processes computing image features


def train(options: TrainOptions) -> TrainingResult:
    """Run the whole command; the result lists the entries written (``survival.rfs``,
    ``survival.os``) and the report (Markdown, CSV)."""
    started = time.perf_counter()
    cache = options.cache_dir
    wanted = set(options.feature_sets or ()) | {options.select_feature_set or ""}
    need_images = bool(wanted & {"paper", "radiomics"}) or (
        options.feature_sets is None and cohort_has_images(options.cohort))
    for root in (options.cohort, options.eval_cohort):
        if root is not None and need_images and not cohort_has_images(root):
            raise ValueError(f"{root} has no images/ and masks/: use --feature-sets clinical")

    def load(root: Path) -> sd.SurvivalData:
        return sd.load(root, images=need_images, cache_dir=cache,
                       image_source=options.image_features,
                       segmenter_bundle=options.segmenter_bundle or options.out,
                       workers=options.workers)

    cohort = load(options.cohort)
    train_part = cohort.subset(cohort.splits == "train")
    if options.eval_cohort is not None:
        evaluation = load(options.eval_cohort)
        evaluated_on = f"all {len(evaluation.patient_ids)} patients of {options.eval_cohort.name}"
    else:
        evaluation = cohort.subset(cohort.splits == "test")
        evaluated_on = f"the test split of {options.cohort.name} ({len(evaluation.patient_ids)})"
    select = options.select_feature_set or ("radiomics" if need_images else "clinical")
    feature_sets = options.feature_sets or (
        (select,) if options.quick else
        (("paper", "radiomics", "clinical") if need_images else ("clinical",)))
    if select not in feature_sets:
        feature_sets = (*feature_sets, select)
    specs = protocol.model_specs(options.seed, options.n_estimators)
    if options.quick:   # the exported Cox model and the cheapest exportable study regressor
        specs = [s for s in specs if s.exportable or s.name == "regression_tree"]
    results: list[protocol.Result] = []
    for outcome in OUTCOMES:
        results += protocol.run_outcome(specs, outcome, train_part, evaluation, feature_sets,
                                        quick=options.quick, rounds=options.bootstrap,
                                        seed=options.seed, folds=options.folds)
    chosen = {o: protocol.choose(results, o, select) for o in OUTCOMES}
    ideal = ({o: _ideal_bound(specs, r, train_part, evaluation, options)
              for o, (r, _) in chosen.items()} if options.ideal_bound else {})
    entries = []
    for outcome, (result, note) in chosen.items():
        regressor = _paper_regressor(results, outcome, select)
        entries.append(_export(options, result, note, regressor, train_part, evaluation,
                               evaluated_on, ideal.get(outcome)))
    context = [
        f"Trained on the training split of `{options.cohort.name}` "
        f"({len(train_part.patient_ids)} patients; RFS events "
        f"{int(train_part.y['rfs']['event'].sum())}, OS events "
        f"{int(train_part.y['os']['event'].sum())}); evaluated on {evaluated_on} (RFS events "
        f"{int(evaluation.y['rfs']['event'].sum())}, OS events "
        f"{int(evaluation.y['os']['event'].sum())}).",
        "Hyperparameters: " + ("fixed (--quick)" if options.quick else
                               f"{options.folds}-fold CV on the training part")
        + f"; bootstrap: {options.bootstrap} resamples of the evaluation set; seed {options.seed}.",
        "Oracle C: the generating model's true risk scored on the same patients (synthetic "
        "cohorts only) — the ceiling.",
        "Image features: " + (cohort.image_source.describe() if cohort.image_source else
                              "none (clinical only)") + ".",
        *(f"Ideal-segmentation bound ({o.upper()}): the chosen model refit on ground-truth-mask "
          f"features, Harrell's C {c:.3f} on the evaluation set's ground-truth features "
          f"(served-mask C {chosen[o][0].metrics['harrell_c']:.3f})."
          for o, c in ideal.items() if c is not None),
        *(f"Excluded: {len(data.excluded)} patient(s) of `{data.root.name}` whose record does "
          f"not validate (first: {data.excluded[0]})."
          for data in {d.root: d for d in (cohort, evaluation)}.values() if data.excluded),
        f"Total time {time.perf_counter() - started:.0f} s.",
    ]
    reports = options.out / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "survival.md").write_text(report.markdown(
        results, title="Survival models (RFS, OS)", context=context, chosen=chosen))
    (reports / "survival.csv").write_text(report.csv_text(results))
    return TrainingResult(options.out, tuple(entries),
                          (reports / "survival.md", reports / "survival.csv"),
                          seconds=round(time.perf_counter() - started, 1))


def _ideal_bound(specs: list[protocol.ModelSpec], result: protocol.Result,
                 train_part: sd.SurvivalData, evaluation: sd.SurvivalData,
                 options: TrainOptions) -> float | None:
    """Harrell's C of the chosen model refit on ground-truth-mask features (the ideal bound);
    None for clinical-only models or when the truth features were not computed."""
    if result.feature_set == "clinical" or train_part.truth is None or \
            evaluation.truth is None or options.image_features == TRUTH:
        return None
    spec = [s for s in specs if s.name == result.model]
    refit = protocol.run_outcome(spec, result.outcome, train_part.with_truth_images(),
                                 evaluation.with_truth_images(), (result.feature_set,),
                                 quick=options.quick, rounds=0, seed=options.seed,
                                 folds=options.folds)
    value = refit[0].metrics.get("harrell_c") if refit else None
    return None if value is None else float(value)


def _paper_regressor(results: list[protocol.Result], outcome: str, feature_set: str
                     ) -> protocol.Result | None:
    """The study's regressor to export beside the Cox model (for ``regression_months``): the
    best by CV MAE among those that convert exactly (not the distance-weighted KNN)."""
    pool = [r for r in results if r.outcome == outcome and r.feature_set == feature_set
            and r.family == protocol.PAPER and r.model in CONVERTIBLE_REGRESSORS]
    return max(pool, key=lambda r: np.nan_to_num(r.cv_score, nan=-np.inf), default=None)


def _export(options: TrainOptions, result: protocol.Result, note: str,
            regressor: protocol.Result | None, train_part: sd.SurvivalData,
            evaluation: sd.SurvivalData, evaluated_on: str, ideal_c: float | None
            ) -> ModelEntry:
    """The chosen Cox model (and the study's regressor beside it) in ONNX, parity-checked on
    the evaluation set, written into the bundle; returns the entry as written."""
    d = protocol.design(train_part, evaluation, result.feature_set)
    n_image = d.train.shape[1] - len(clinical_plan().columns)
    y_train = train_part.y[result.outcome]
    exported = export_cox(result.estimator, d.encoder, n_image,
                          follow_up_months=float(y_train["time"].max()),
                          name=f"survival_{result.outcome}")
    # Parity on the evaluation set, with the inputs built by the serving code path.
    feeds = model_inputs(result.feature_set, evaluation.records, evaluation.features)
    risk_onnx = onnx_risk(exported.onnx_bytes, feeds)
    risk_fit = result.estimator.predict(d.test)
    risk_gap = float(np.max(np.abs(risk_onnx - risk_fit)))
    times = np.linspace(0.0, float(y_train["time"].max()), 60)
    curve_fit = sm.survival_matrix(result.estimator.predict_survival_function(d.test), times)
    curve_onnx = exported.baseline.at(risk_onnx, times)
    survival_gap = float(np.max(np.abs(curve_fit - curve_onnx)))
    if risk_gap > RISK_TOLERANCE or survival_gap > SURVIVAL_TOLERANCE:
        raise RuntimeError(f"ONNX parity failed for {result.outcome}: max |Δrisk| {risk_gap:.2e}, "
                           f"max |Δsurvival| {survival_gap:.2e}")
    root = options.out
    model_ref = add_file(root, f"survival/{result.outcome}.onnx", exported.onnx_bytes)
    baseline_ref = add_file(root, f"survival/{result.outcome}_baseline.json",
                            exported.baseline.to_json(outcome=result.outcome))
    files = {"model": model_ref, "baseline": baseline_ref}
    regression: dict[str, Any] = {"regression_model": "none exported"}
    if regressor is not None:
        graph = export_regressor(regressor.estimator, d.encoder, n_image,
                                 name=f"survival_{result.outcome}_regression")
        months_gap = float(np.max(np.abs(onnx_months(graph, feeds)
                                         - regressor.estimator.predict_months(d.test))))
        if months_gap > MONTHS_TOLERANCE:
            raise RuntimeError(f"ONNX parity failed for the {result.outcome} regressor: max "
                               f"|Δmonths| {months_gap:.2e}")
        files["regression"] = add_file(root, f"survival/{result.outcome}_regression.onnx", graph)
        regression = {"regression_model": {
            "algorithm": regressor.model, "params": _jsonable(regressor.params),
            "cv_mae_months": -regressor.cv_score, "test_mae_all": regressor.metrics["mae_all"],
            "test_harrell_c": regressor.metrics["harrell_c"],
            "parity_max_abs_months": months_gap,
            "note": "the study's method: observed months regressed, censoring ignored"}}
    metrics = {k: v for k, v in result.metrics.items() if k != "calibration"}
    events = int(evaluation.y[result.outcome]["event"].sum())
    metrics.update({
        "events_evaluated": events, "reliable": events >= MIN_RELIABLE_COUNT,
        "ideal_segmentation_harrell_c": ideal_c,
        "calibration": result.metrics.get("calibration"),
        "cv_harrell_c": result.cv_score, "evaluated_on": evaluated_on,
        "parity_max_abs_risk": risk_gap, "parity_max_abs_survival": survival_gap,
        "selection": note or "highest CV Harrell's C among exportable censoring-aware models",
    })
    columns = list(clinical_plan().names)
    inputs = [{"name": CLINICAL_INPUT, "dtype": "float64", "shape": [None, len(columns)],
               "columns": columns,
               "layout": "unscaled plan columns (cervixai.survival.inputs)"}]
    if n_image:
        inputs.append({"name": IMAGE_INPUT, "dtype": "float32", "shape": [None, n_image],
                       "feature_set": result.feature_set})
    entry = ModelEntry(
        name=f"survival.{result.outcome}", task=f"{result.outcome}_months",
        algorithm=result.model, feature_set=result.feature_set,
        files=files, inputs=inputs,
        outputs=[{"name": RISK_OUTPUT, "dtype": "float32", "shape": [None],
                  "meaning": "log relative hazard; S(t|x) = S0(t) ** exp(risk_score)"}],
        metrics=_jsonable(metrics), training_data=cohort_fingerprint(options.cohort),
        versions=library_versions("numpy", "scikit-learn", "scikit-survival", "onnx",
                                  "onnxruntime"),
        parameters={**{k: _jsonable(v) for k, v in result.params.items()},
                    "horizons_months": list(HORIZONS_MONTHS), **_jsonable(regression),
                    **image_provenance(train_part.image_source if n_image else None,
                                       train_part.features if n_image else None)})
    written = write_entry(root, entry)
    log.info("survival.%s: %s on %s, parity |Δrisk| %.1e |ΔS| %.1e", result.outcome,
             result.model, result.feature_set, risk_gap, survival_gap)
    return written


def _jsonable(value: Any) -> Any:
    """Plain JSON (tuples → lists, numpy → float, NaN → null: undefined on this data)."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and v != v:
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v
    return clean(json.loads(json.dumps(value, default=float)))
