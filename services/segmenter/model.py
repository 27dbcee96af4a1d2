"""The segmentation model on onnxruntime: load from a bundle, validate a volume, predict.

No gRPC here: arrays in, arrays and measurements out. The network needs a depth that is a
multiple of ``depth_multiple`` (its depth poolings); any depth up to ``max_slices`` is accepted by
zero-padding the slice axis at the end and cropping the output back.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from cervixai.bundle import Bundle, ModelEntry, load_bundle
from cervixai.errors import FieldViolation, InvalidInput, NotReady
from cervixai.features import measure
from cervixai.segmentation import inference
from cervixai.segmentation.inference import pad_depth
from services.segmenter.codec import Segmentation
from services.segmenter.config import InferenceSettings

log = logging.getLogger(__name__)

ENTRY = "segmenter"
IN_PLANE = (256, 256)
F32 = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]


def session_options(settings: InferenceSettings) -> ort.SessionOptions:
    return inference.session_options(settings.intra_op_threads, settings.inter_op_threads)


def providers_for(setting: str) -> list[str]:
    available = ort.get_available_providers()
    if setting == "cpu":
        return ["CPUExecutionProvider"]
    if setting == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + [
        "CPUExecutionProvider"]


class SegmenterModel:
    """``load()`` the ONNX network from a bundle (sha256-checked), ``warm_up()``, ``segment()``."""

    def __init__(self, bundle_path: Path, settings: InferenceSettings | None = None) -> None:
        self.bundle_path = bundle_path
        self.settings = settings or InferenceSettings()
        self._session: ort.InferenceSession | None = None
        self._gate = threading.Semaphore(self.settings.concurrency)
        self.entry_: ModelEntry | None = None
        self.provider_ = ""
        self.ready_ = False

    # -- lifecycle -------------------------------------------------------------------------------
    def load(self) -> None:
        """Read the manifest, check the ONNX file's sha256, create the session.

        Raises BundleError for a missing or tampered bundle."""
        bundle: Bundle = load_bundle(self.bundle_path)
        entry = bundle.entry(ENTRY)
        model_bytes = bundle.verified_bytes(ENTRY)
        self._session = ort.InferenceSession(model_bytes, sess_options=session_options(
            self.settings), providers=providers_for(self.settings.provider))
        # The providers actually in use: asking for CUDA on a machine without it falls back.
        self.provider_ = self._session.get_providers()[0]
        self.entry_ = entry
        self._input = self._session.get_inputs()[0].name
        log.info("loaded segmenter %s (%s) on %s", entry.version, entry.algorithm,
                 self.provider_)

    def warm_up(self) -> None:
        """Inferences on a synthetic volume, so the first request pays no start-up cost."""
        rng = np.random.default_rng(0)
        volume = rng.random((self.depth_multiple, *IN_PLANE), dtype=np.float32)
        for _ in range(self.settings.warmup_runs):
            self._run(volume)
        self.ready_ = True

    @property
    def entry(self) -> ModelEntry:
        if self.entry_ is None:
            raise NotReady("the segmentation model is not loaded yet")
        return self.entry_

    @property
    def depth_multiple(self) -> int:
        return inference.depth_multiple(self.entry)

    @property
    def postprocessing(self) -> inference.Postprocessing:
        return inference.Postprocessing.of(self.entry)

    @property
    def threshold(self) -> float:
        return self.postprocessing.threshold

    # -- inference -------------------------------------------------------------------------------
    def validate(self, volume: F32, *, field: str = "volume.voxels") -> None:
        """InvalidInput naming each problem: in-plane size, depth, NaN/Inf, range, constant."""
        problems: list[FieldViolation] = []
        if volume.ndim != 3:
            raise InvalidInput.single(f"{field}.shape", f"must have 3 dimensions, got "
                                      f"{list(volume.shape)}")
        if volume.shape[1:] != IN_PLANE:
            problems.append(FieldViolation(f"{field}.shape", f"slices must be 256×256 (the "
                            f"model's input), got {volume.shape[1]}×{volume.shape[2]}"))
        if not 1 <= volume.shape[0] <= self.settings.max_slices:
            problems.append(FieldViolation(f"{field}.shape", f"{volume.shape[0]} slices; the "
                            f"segmenter accepts 1 to {self.settings.max_slices}"))
        if problems:
            raise InvalidInput(problems)
        finite = np.isfinite(volume)
        if not finite.all():
            bad = int(volume.size - np.count_nonzero(finite))
            raise InvalidInput.single(f"{field}.data", f"{bad} voxel(s) are NaN or infinite")
        low, high = float(volume.min()), float(volume.max())
        if low == high:
            raise InvalidInput.single(f"{field}.data", f"the volume is constant ({low:g}); "
                                      "send an MR series normalised to [0, 1]")
        if low < -1e-3 or high > 1 + 1e-3:
            raise InvalidInput.single(f"{field}.data", f"values must lie in [0, 1] (a "
                                      f"normalised series), got {low:g} to {high:g}")

    def predict(self, volume: F32) -> F32:
        """Lesion probabilities, same shape as ``volume`` (validated first)."""
        self.validate(volume)
        return self._run(volume)

    def segment(self, volume: F32, spacing_mm: tuple[float, float, float],
                threshold: float = 0.0) -> Segmentation:
        """Probabilities, mask at ``threshold`` (0: the model's own) and measurements."""
        if not 0 <= threshold < 1 or not np.isfinite(threshold):
            raise InvalidInput.single("threshold", f"must be in [0, 1) (0: the model's own), "
                                      f"got {threshold}")
        self.validate(volume)
        start = time.perf_counter()
        probabilities = self._run(volume)
        seconds = time.perf_counter() - start
        used = threshold or self.threshold
        mask = self.postprocessing.mask(probabilities, used)
        measurements = measure(mask, spacing_mm)
        warnings = []
        if not measurements.lesion_found:
            warnings.append(f"no lesion found: no voxel reached the threshold {used:.3g}")
        mean_probability = float(probabilities[mask].mean()) if mask.any() else 0.0
        return Segmentation(mask, probabilities, measurements, mean_probability, used, seconds,
                            tuple(warnings))

    def _run(self, volume: F32) -> F32:
        if self._session is None:
            raise NotReady("the segmentation model is not loaded yet")
        depth = volume.shape[0]
        padded = pad_depth(np.ascontiguousarray(volume, np.float32), self.depth_multiple)
        with self._gate:
            outputs: list[Any] = self._session.run(None, {self._input: padded[None, None]})
        out: F32 = np.asarray(outputs[0], np.float32)[0, 0, :depth]
        return out
