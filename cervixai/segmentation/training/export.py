"""ONNX export of the trained network and the check that onnxruntime agrees with torch."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from cervixai.grid import SLICE_SHAPE
from cervixai.segmentation.training.network import SEUNet3d, SigmoidOutput
from cervixai.segmentation.training.slicewise import SliceMajorUNet

Layout = Literal["slice_major", "volumetric"]

log = logging.getLogger(__name__)

OPSET = 18
INPUT_NAME = "volume"
OUTPUT_NAME = "probability"
# Largest |onnxruntime − torch| accepted on a probability. Both compute in float32 but in
# different orders (onnxruntime folds batch norm into the convolutions and runs blocked direct
# convolutions), so trained networks differ by 1e-6 … 2e-4 — three orders of magnitude below any
# threshold step that changes a mask.
PARITY_TOLERANCE = 1e-3


# The exporter's own chatter (optimisation passes, operators of packages not installed).
EXPORT_LOGGERS = ("torch.onnx", "onnx_ir", "onnxscript")


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Only warnings that matter (ERROR and above) from these loggers while the block runs."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class ParityError(RuntimeError):
    """onnxruntime's output differs from torch's by more than the tolerance."""


def export_onnx(network: SEUNet3d, *, depth: int | None = None,
                layout: Layout = "slice_major") -> bytes:
    """The network with a sigmoid output as ONNX (opset 18), dynamic batch and depth.

    ``slice_major`` (the default) exports :class:`SliceMajorUNet`, the same function written with
    2-D operators, which onnxruntime's CPU provider runs in its blocked NCHWc layout (docs/
    segmenter.md, Speed); ``volumetric`` exports the 3-D operators as they are.
    """
    network = network.eval()
    wrapped: torch.nn.Module = (SliceMajorUNet(network) if layout == "slice_major"
                                else SigmoidOutput(network)).eval()
    depth = depth or 2 * network.depth_multiple
    example = torch.zeros(1, 1, depth, *SLICE_SHAPE)
    batch = torch.export.Dim("batch", min=1, max=64)
    slices = torch.export.Dim("slices_over_multiple", min=1, max=64)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), _quiet(*EXPORT_LOGGERS):
        warnings.simplefilter("ignore")
        path = Path(tmp) / "segmenter.onnx"
        torch.onnx.export(
            wrapped, (example,), str(path), input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], opset_version=OPSET, dynamo=True,
            dynamic_shapes={"volume": {0: batch, 2: network.depth_multiple * slices}},
            external_data=False, verbose=False)
        content = path.read_bytes()
    _check(content)
    return content


def _check(content: bytes) -> None:
    import onnx

    model = onnx.load_from_string(content)
    onnx.checker.check_model(model, full_check=True)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if not (dims[0].dim_param and dims[2].dim_param):
        raise RuntimeError("the exported graph does not have a dynamic batch and depth")


def parity(content: bytes, network: SEUNet3d, volumes: Sequence[np.ndarray[Any, Any]]
           ) -> float:
    """Largest |onnxruntime − torch| over ``volumes`` (each padded to the depth multiple)."""
    from cervixai.onnxrt import ort

    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    wrapped = SigmoidOutput(network).eval()
    worst = 0.0
    for volume in volumes:
        depth = volume.shape[0]
        target = -(-depth // network.depth_multiple) * network.depth_multiple
        padded = np.pad(volume, [(0, target - depth), (0, 0), (0, 0)])[None, None]
        padded = np.ascontiguousarray(padded, np.float32)
        with torch.no_grad():
            expected = wrapped(torch.from_numpy(padded)).numpy()
        actual = session.run(None, {INPUT_NAME: padded})[0]
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst


def check_parity(content: bytes, network: SEUNet3d, volumes: Sequence[np.ndarray[Any, Any]],
                 tolerance: float = PARITY_TOLERANCE) -> float:
    """:func:`parity`, raising ParityError above ``tolerance``."""
    worst = parity(content, network, volumes)
    if worst > tolerance:
        raise ParityError(f"onnxruntime differs from torch by {worst:.2e} > {tolerance:.0e}")
    log.info("onnxruntime matches torch within %.2e (tolerance %.0e)", worst, tolerance)
    return worst


__all__ = ["OPSET", "PARITY_TOLERANCE", "Layout", "ParityError", "check_parity", "export_onnx",
           "parity"]
