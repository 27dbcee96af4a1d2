"""``cervixai train segmenter``: cohort → trained network → ONNX → scored → bundle entry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cervixai.bundle import ModelEntry, add_file, cohort_fingerprint, library_versions, write_entry
from cervixai.grid import SLICE_SHAPE
from cervixai.segmentation.inference import OnnxSegmenter, keep_largest_component
from cervixai.segmentation.training.data import Case, load_cohort
from cervixai.segmentation.training.export import (
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    PARITY_TOLERANCE,
    check_parity,
    export_onnx,
)
from cervixai.segmentation.training.loop import train as fit_network
from cervixai.segmentation.training.metrics import dice, otsu_mask, summary
from cervixai.segmentation.training.network import multiply_accumulates
from cervixai.segmentation.training.profiles import Profile
from cervixai.training import TrainingResult

log = logging.getLogger(__name__)

ENTRY_NAME = "segmenter"
MODEL_FILE = "segmenter/model.onnx"
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.91, 0.05))
PARITY_VOLUMES = 3


@dataclass(frozen=True)
class TrainOptions:
    cohort: Path
    out: Path
    profile: Profile
    loss: str = "focal"
    seed: int = 0
    cache: Path | None = None
    limit: int | None = None
    validation_share: float = 0.15
    max_seconds: float | None = None
    progress: bool = True
    device: str = "auto"


def split_validation(cases: Sequence[Case], share: float, seed: int
                     ) -> tuple[list[Case], list[Case]]:
    """Hold out ``share`` of the training patients (at least one) for validation."""
    order = np.random.default_rng(seed).permutation(len(cases))
    count = max(1, round(share * len(cases))) if len(cases) > 1 else 0
    held = {int(i) for i in order[:count]}
    return ([c for i, c in enumerate(cases) if i not in held],
            [c for i, c in enumerate(cases) if i in held])


def choose_postprocessing(probabilities: Sequence[np.ndarray[Any, Any]],
                          cases: Sequence[Case]) -> tuple[float, bool, float]:
    """The threshold and largest-component choice with the best mean validation Dice.

    The largest component is tried only around the best plain threshold: labelling a volume is
    the slow part of this search."""
    def mean_dice(threshold: float, keep: bool) -> float:
        total = 0.0
        for p, case in zip(probabilities, cases, strict=True):
            mask = p >= threshold
            total += dice(keep_largest_component(mask) if keep else mask, case.mask)
        return total / max(1, len(cases))

    plain = [mean_dice(t, False) for t in THRESHOLDS]
    j = int(np.argmax(plain))
    best = (float(THRESHOLDS[j]), False, plain[j])
    for k in range(max(0, j - 1), min(len(THRESHOLDS), j + 2)):
        score = mean_dice(THRESHOLDS[k], True)
        if score > best[2] + 1e-4:
            best = (float(THRESHOLDS[k]), True, score)
    return best


def score(scorer: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]], cases: Sequence[Case],
          threshold: float, keep: bool) -> dict[str, Any]:
    """Test figures: Dice per patient at ``threshold`` (largest component if ``keep``), Otsu's
    Dice beside it."""
    model_scores, otsu_scores = [], []
    for case in cases:
        mask = scorer(case.volume) >= threshold
        if keep:
            mask = keep_largest_component(mask)
        model_scores.append(dice(mask, case.mask))
        otsu_scores.append(dice(otsu_mask(case.volume), case.mask))
    return {"dice": summary(model_scores), "otsu_dice": summary(otsu_scores),
            "per_patient_dice": {c.patient_id: round(s, 4)
                                 for c, s in zip(cases, model_scores, strict=True)}}


def train(options: TrainOptions) -> TrainingResult:
    """Train, export, check parity, score on the test split and write the bundle entry (the
    result's one entry, ``segmenter``; the figures are in its metrics, no report is written)."""
    started = time.perf_counter()
    cache = options.cache or options.out.resolve().parent / ".cervixai-cache" / "segmenter"
    cases = load_cohort(options.cohort, cache, limit=options.limit)
    train_all = [c for c in cases if c.split == "train"]
    test = [c for c in cases if c.split == "test"]
    if not train_all or not test:
        raise ValueError(f"{options.cohort} needs patients in both the train and test splits "
                         f"(has {len(train_all)} and {len(test)})")
    training, validation = split_validation(train_all, options.validation_share, options.seed)
    log.info("patients: %d training, %d validation, %d test", len(training), len(validation),
             len(test))
    result = fit_network(training, validation, options.profile, loss=options.loss,
                         seed=options.seed, max_seconds=options.max_seconds,
                         progress=options.progress, device=options.device)
    network = result.network
    content = export_onnx(network)
    parity_volumes = [c.volume for c in test[:PARITY_VOLUMES]]
    worst = check_parity(content, network, parity_volumes)
    scorer = OnnxSegmenter(content, network.depth_multiple)
    validation_probabilities = [scorer(c.volume) for c in validation]
    threshold, keep, validation_dice = choose_postprocessing(validation_probabilities,
                                                             validation)
    test_scores = score(scorer, test, threshold, keep)
    ref = add_file(options.out, MODEL_FILE, content)
    profile = options.profile
    entry = ModelEntry(
        name=ENTRY_NAME,
        task="lesion_segmentation",
        algorithm="3d_se_unet",
        feature_set="image",
        files={"model": ref},
        inputs=[{"name": INPUT_NAME, "dtype": "float32",
                 "shape": ["batch", 1, f"slices (multiple of {network.depth_multiple})",
                           *SLICE_SHAPE]}],
        outputs=[{"name": OUTPUT_NAME, "dtype": "float32",
                  "shape": ["batch", 1, "slices", *SLICE_SHAPE]}],
        threshold=threshold,
        metrics={
            "test": {"patients": len(test), **test_scores},
            "validation": {"patients": len(validation), "dice_mean": round(validation_dice, 4),
                           "best_step": result.best_step,
                           "training_dice_at_best_step": round(result.best_validation_dice, 4)},
            "onnx_parity": {"max_abs_difference": worst, "tolerance": PARITY_TOLERANCE,
                            "volumes": len(parity_volumes)},
            "training": {"seconds": round(result.seconds, 1), "steps": result.steps,
                         "stopped": result.stopped, "history": result.history,
                         "total_seconds": round(time.perf_counter() - started, 1)},
        },
        training_data={**cohort_fingerprint(options.cohort), "training_patients": len(training),
                       "validation_patients": len(validation), "test_patients": len(test)},
        versions=library_versions("torch", "onnx", "onnxruntime", "numpy"),
        parameters={
            "profile": profile.as_dict(), "loss": options.loss, "seed": options.seed,
            "device": result.device,
            "channels": list(network.channels), "planar_levels": network.planar_levels,
            "ungated_levels": network.ungated_levels,
            "depth_multiple": network.depth_multiple, "largest_component": keep,
            "opset": OPSET, "graph_layout": "slice_major",
            "parameters": sum(p.numel() for p in network.parameters()),
            "multiply_accumulates_24x256x256": multiply_accumulates(network, 24, 256, 256),
        },
    )
    return TrainingResult(options.out, (write_entry(options.out, entry),),
                          seconds=round(time.perf_counter() - started, 1))
