"""The segmentation model on onnxruntime: load from a bundle, validate a volume, predict.

No gRPC here: arrays in, arrays and measurements out. The network itself, its depth padding and
its post-processing are the library's (:mod:`cervixai.segmentation.inference`), shared with
training and the image-feature pipeline, so the served contour is the one they see.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai.bundle import Bundle, BundleError, ModelEntry
from cervixai.errors import FieldViolation, InvalidInput, NotReady
from cervixai.features import measure
from cervixai.grid import SLICE_SHAPE as IN_PLANE
from cervixai.onnxrt import ort
from cervixai.segmentation import inference
from cervixai.service import BundleModel, ServedEntry
from services.segmenter.codec import Segmentation
from services.segmenter.config import InferenceSettings

log = logging.getLogger(__name__)

ENTRY = inference.ENTRY
F32 = npt.NDArray[np.float32]


def providers_for(setting: str) -> list[str]:
    available = ort.get_available_providers()
    if setting == "cpu":
        return ["CPUExecutionProvider"]
    if setting == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + [
        "CPUExecutionProvider"]


class SegmenterModel(BundleModel):
    """The bundle's ``segmenter`` entry (sha256-checked): ``segment()`` a normalised volume."""

    service = "segmenter"

    def __init__(self, bundle_path: Path, settings: InferenceSettings | None = None) -> None:
        super().__init__(bundle_path)
        self.settings = settings or InferenceSettings()
        self._gate = threading.Semaphore(self.settings.concurrency)
        self._network: inference.OnnxSegmenter | None = None
        self._entry: ModelEntry | None = None

    def _load(self, bundle: Bundle) -> Iterable[ServedEntry]:
        entry = bundle.entry(ENTRY)
        try:
            network = inference.OnnxSegmenter(
                bundle.verified_bytes(ENTRY), inference.depth_multiple(entry),
                providers=providers_for(self.settings.provider),
                options=inference.session_options(self.settings.intra_op_threads))
        except BundleError:
            raise
        except Exception as e:  # onnxruntime raises its own types for a corrupt graph
            raise BundleError(f"model {ENTRY!r} cannot be loaded: {e}") from e
        self._network, self._entry = network, entry
        # the provider really used: asking for CUDA on a machine without it falls back
        log.info("loaded segmenter %s (%s) on %s", entry.version, entry.algorithm,
                 network.provider)
        return [ServedEntry(entry, network.provider)]

    def _warm_up(self) -> None:
        rng = np.random.default_rng(0)
        volume = rng.random((self.depth_multiple, *IN_PLANE), dtype=np.float32)
        for _ in range(self.settings.warmup_runs):
            self._run(volume)

    @property
    def entry(self) -> ModelEntry:
        if self._entry is None:
            raise NotReady("the segmentation model is not loaded yet")
        return self._entry

    @property
    def provider(self) -> str:
        return self.served[0].provider if self.served else ""

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
        probabilities = self._run(volume)
        used = threshold or self.threshold
        mask = self.postprocessing.mask(probabilities, used)
        measurements = measure(mask, spacing_mm)
        warnings = []
        if not measurements.lesion_found:
            warnings.append(f"no lesion found: no voxel reached the threshold {used:.3g}")
        mean_probability = float(probabilities[mask].mean()) if mask.any() else 0.0
        return Segmentation(mask, probabilities, measurements, mean_probability, used,
                            tuple(warnings))

    def _run(self, volume: F32) -> F32:
        if self._network is None:
            raise NotReady("the segmentation model is not loaded yet")
        with self._gate, self.timed(ENTRY):
            return self._network(volume)
