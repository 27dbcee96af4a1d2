"""Benchmark of the classifier models: onnxruntime against scikit-learn, side by side in one run.

    python bench/classifier.py --cohort COHORT --bundle BUNDLE [--feature-cache DIR]

For each model chosen in the bundle (``classifier.<task>``), the same configuration (algorithm,
feature set, hyperparameters from the manifest) is refit on the cohort's train split with
scikit-learn and exported as training exports it; then both runtimes score the test split:
single-request latency (median of ``--repeat`` one-row calls) and batch throughput (rows per
second over a ``--batch``-row batch). When the cohort has images, the 65,593-feature weighted KNN
(paper feature set, recurrence) is added even if it was not chosen. Single requests: onnxruntime
with one intra-op thread, as the service runs by default. Batches: onnxruntime with as many threads
as numpy's BLAS uses for scikit-learn (``--batch-threads``, default that count), so that both use
the same cores — with one thread against two, a matrix-product-bound model such as the 65k KNN
measures the thread count more than the runtime. scikit-learn runs with its defaults.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from imblearn.pipeline import Pipeline as ImbPipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.pipeline import Pipeline

from cervixai.bundle import load_bundle
from cervixai.classification.inputs import input_layout
from cervixai.classification.training.algorithms import (
    TREE_ALGORITHMS,
    make_algorithm,
    preprocessor,
)
from cervixai.classification.training.data import load_cohort
from cervixai.classification.training.export import INPUT_NAME, OUTPUT_NAME, to_onnx_model
from cervixai.onnxrt import ort

OBJECTIVE_SPEEDUP = 2.0


def refit(algorithm: str, feature_set: str, task: str, hyperparameters: dict[str, object],
          X: np.ndarray, y: np.ndarray, *, downsample: bool) -> Pipeline:
    """The model as trained (a KNN's cost grows with the rows it keeps, so downsampling as the
    bundle's protocol did matters)."""
    estimator, _ = make_algorithm(algorithm, seed=0)
    estimator.set_params(**hyperparameters)
    layout = input_layout(feature_set, task)
    steps: list[tuple[str, object]] = [
        ("prep", preprocessor(layout, scale=algorithm not in TREE_ALGORITHMS))]
    if downsample:
        steps.append(("downsample", RandomUnderSampler(random_state=0)))
    fitted = ImbPipeline([*steps, ("model", estimator)]).fit(X, y)
    return Pipeline([("prep", fitted.named_steps["prep"]), ("model", fitted.named_steps["model"])])


def blas_threads() -> int:
    """Threads numpy's BLAS runs scikit-learn's matrix products on."""
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    counts = [int(pool["num_threads"]) for pool in threadpool_info()
              if pool.get("user_api") == "blas"]
    return max(counts, default=1)


def timed(call: Callable[[], object], repeat: int) -> float:
    call()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def compare(pipeline: Pipeline, session: ort.InferenceSession, rows: np.ndarray,
            repeat: int) -> tuple[float, float]:
    """Median seconds of scikit-learn predict_proba and of the onnxruntime graph on ``rows``."""
    return (timed(lambda: pipeline.predict_proba(rows), repeat),
            timed(lambda: session.run([OUTPUT_NAME], {INPUT_NAME: rows}), repeat))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--feature-cache", type=Path)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batch-threads", type=int, default=blas_threads(),
                        help="onnxruntime intra-op threads for batches (default: numpy's BLAS "
                             "threads)")
    args = parser.parse_args()

    bundle = load_bundle(args.bundle)
    data = load_cohort(args.cohort, cache_dir=args.feature_cache)
    train_rows = np.flatnonzero(data.split == "train")
    test_rows = np.flatnonzero(data.split == "test")
    jobs = [(e.task, e.algorithm, e.feature_set, e.parameters.get("hyperparameters", {}), "chosen",
             e.parameters.get("downsample_negatives_1_to_1", True))
            for name, e in sorted(bundle.models.items()) if name.startswith("classifier.")]
    if data.has_images:
        jobs.append(("recurrence", "weighted_knn", "paper", {"n_neighbors": 9}, "65k KNN", True))
    single_options, batch_options = ort.SessionOptions(), ort.SessionOptions()
    single_options.intra_op_num_threads = 1
    batch_options.intra_op_num_threads = args.batch_threads
    print(f"onnxruntime threads: 1 for single requests, {args.batch_threads} for batches "
          f"(numpy's BLAS: {blas_threads()})\n")
    print("| task | model | algorithm | features | width | single: sklearn | single: ORT | "
          "speed-up | batch rows/s: sklearn | batch rows/s: ORT | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    worst = float("inf")
    for task, algorithm, feature_set, hyper, why, downsample in jobs:
        layout = input_layout(feature_set, task)
        X_train = data.features(layout, train_rows)
        X_test = data.features(layout, test_rows)
        pipeline = refit(algorithm, feature_set, task, dict(hyper), X_train,
                         data.labels[task][train_rows], downsample=bool(downsample))
        graph = to_onnx_model(pipeline, layout.width, (1.0, 0.0), f"bench.{task}")
        single, batched = (ort.InferenceSession(graph.SerializeToString(), options,
                                                providers=["CPUExecutionProvider"])
                           for options in (single_options, batch_options))
        one = X_test[:1]
        batch = np.concatenate([X_test] * (args.batch // len(X_test) + 1))[: args.batch]
        sk_single, ort_single = compare(pipeline, single, one, args.repeat)
        sk_batch, ort_batch = compare(pipeline, batched, batch, 10)
        single_ratio, batch_ratio = sk_single / ort_single, sk_batch / ort_batch
        worst = min(worst, single_ratio, batch_ratio)
        print(f"| {task} | {why} | {algorithm} | {feature_set} | {layout.width} | "
              f"{sk_single * 1e3:.3f} ms | {ort_single * 1e3:.3f} ms | {single_ratio:.1f}× | "
              f"{len(batch) / sk_batch:,.0f} | {len(batch) / ort_batch:,.0f} | "
              f"{batch_ratio:.1f}× |", flush=True)
    print(f"\nslowest onnxruntime speed-up: {worst:.1f}× (objective ≥ {OBJECTIVE_SPEEDUP:.0f}×)")
    return 0 if worst >= OBJECTIVE_SPEEDUP else 1


if __name__ == "__main__":
    raise SystemExit(main())
