"""Running the exported segmenter exactly as the service runs it (onnxruntime, no torch).

One implementation for the three places that need the served contour: the segmenter service,
the segmenter's own training (threshold choice and test Dice on the exported graph) and the
image-feature pipeline that trains the classifier and survival models on the masks serving will
see (:mod:`cervixai.features.cohort`).

* :func:`pad_depth` — the network needs a depth that is a multiple of its depth poolings;
* :func:`keep_largest_component` — the lesion is one body;
* :func:`session_options` — onnxruntime's settings for the 3-D network;
* :class:`BundleSegmenter` — a bundle's ``segmenter`` entry (sha256-checked), probabilities and
  the thresholded mask of a normalised volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from cervixai.bundle import ModelEntry, load_bundle
from cervixai.features.shape import bounding_box
from cervixai.onnxrt import ort

ENTRY = "segmenter"
F32 = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]


def pad_depth(volume: F32, multiple: int) -> F32:
    """Zero-pad the slice axis at the end to the next multiple of ``multiple``."""
    depth = volume.shape[0]
    target = -(-depth // multiple) * multiple
    if target == depth:
        return volume
    return np.pad(volume, [(0, target - depth), (0, 0), (0, 0)])


def keep_largest_component(mask: Bool) -> Bool:
    """The largest 26-connected component of ``mask`` (the lesion is one body)."""
    box = bounding_box(mask)
    if box is None:
        return mask
    labels, count = ndimage.label(mask[box], structure=np.ones((3, 3, 3), bool))
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    kept: Bool = np.zeros_like(mask)
    kept[box] = labels == (int(np.argmax(sizes)) + 1)
    return kept


def session_options(intra_op_threads: int = 0) -> ort.SessionOptions:
    """Every graph optimisation, sequential execution (the U-Net is one chain: there are no
    parallel branches for inter-op threads); 0 intra-op threads = one per core.

    Memory patterns off: onnxruntime plans and keeps one allocation pattern per input shape,
    and the series' depths vary, so the arena grew with every new depth (3.4 GB after six
    volumes of 16-64 slices) and never shrank. Without them the arena stays at what the deepest
    volume needs (1.7 GB for 64 slices) at the same speed (bench/memory.py)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_op_threads
    options.enable_mem_pattern = False
    return options


@dataclass(frozen=True)
class Postprocessing:
    """How probabilities become the served mask: the entry's threshold and component rule."""

    threshold: float
    largest_component: bool

    @classmethod
    def of(cls, entry: ModelEntry) -> Postprocessing:
        return cls(float(entry.threshold if entry.threshold is not None else 0.5),
                   bool(entry.parameters.get("largest_component", False)))

    def mask(self, probabilities: F32, threshold: float = 0.0) -> Bool:
        """The mask at ``threshold`` (0: the model's own), largest component if the rule says."""
        mask = probabilities >= (threshold or self.threshold)
        return keep_largest_component(mask) if self.largest_component else mask


class OnnxSegmenter:
    """An exported segmenter graph on onnxruntime: a normalised (slices, 256, 256) volume in,
    lesion probabilities of the same shape out."""

    def __init__(self, content: bytes, depth_multiple: int, *, providers: list[str] | None = None,
                 options: ort.SessionOptions | None = None) -> None:
        self.session = ort.InferenceSession(content, options or session_options(),
                                            providers=providers or ["CPUExecutionProvider"])
        self.depth_multiple = depth_multiple
        self.input_name = self.session.get_inputs()[0].name

    @property
    def provider(self) -> str:
        """The provider in use (asking for CUDA on a machine without it falls back to CPU)."""
        return str(self.session.get_providers()[0])

    def __call__(self, volume: F32) -> F32:
        depth = volume.shape[0]
        padded = pad_depth(np.ascontiguousarray(volume, np.float32), self.depth_multiple)
        outputs: list[Any] = self.session.run(None, {self.input_name: padded[None, None]})
        out: F32 = np.asarray(outputs[0], np.float32)[0, 0, :depth]
        return out


@dataclass(frozen=True)
class BundleSegmenter:
    """A bundle's ``segmenter`` entry, loaded only after its sha256 checks out."""

    entry: ModelEntry
    network: OnnxSegmenter
    postprocessing: Postprocessing

    @classmethod
    def load(cls, bundle: Path, *, intra_op_threads: int = 0) -> BundleSegmenter:
        loaded = load_bundle(bundle)
        entry = loaded.entry(ENTRY)
        network = OnnxSegmenter(loaded.verified_bytes(ENTRY), depth_multiple(entry),
                                options=session_options(intra_op_threads))
        return cls(entry, network, Postprocessing.of(entry))

    @property
    def sha256(self) -> str:
        """The identity image features are keyed by: the ONNX file's sha256."""
        return self.entry.files["model"].sha256

    def mask(self, volume: F32) -> Bool:
        """The served mask of ``volume``."""
        return self.postprocessing.mask(self.network(volume))


def depth_multiple(entry: ModelEntry) -> int:
    """The network's depth multiple (bundles written before it was recorded used 8)."""
    return int(entry.parameters.get("depth_multiple", 8))
