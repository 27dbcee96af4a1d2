"""At most ``CERVIXAI_GATEWAY_MAX_INGESTIONS`` DICOM readings run at once in a gateway (each may
decode up to the per-series limit: this is what bounds its memory), the others wait their turn."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import gateway.pipeline as pipeline_module
from cervixai.dicom import DicomSource
from gateway.config import GatewayConfig
from gateway.pipeline import Pipeline
from gateway.request import HTTP_FIELDS, DicomUpload


@pytest.mark.parametrize("bound", [1, 2])
def test_concurrent_ingestions_never_pass_the_bound(bound: int, series_files: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    active, peak, lock = [0], [0], threading.Lock()
    real = pipeline_module.load_series

    def counted(*args: Any, **kwargs: Any) -> Any:   # the real reading, its overlap counted
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(pipeline_module, "load_series", counted)
    pipeline = Pipeline(None, 50_000_000, max_ingestions=bound)  # type: ignore[arg-type]
    upload = DicomUpload(tuple(DicomSource(n, d) for n, d in series_files), None, HTTP_FIELDS)
    with ThreadPoolExecutor(6) as pool:
        violations = list(pool.map(lambda _: pipeline.dicom_violations(upload), range(6)))
    assert violations == [[]] * 6
    assert peak[0] == bound


def test_the_bound_is_configured_and_checked() -> None:
    assert GatewayConfig.from_env({}).max_ingestions == 2
    assert GatewayConfig.from_env({"CERVIXAI_GATEWAY_MAX_INGESTIONS": "4"}).max_ingestions == 4
    with pytest.raises(ValueError, match="at least 1"):
        GatewayConfig.from_env({"CERVIXAI_GATEWAY_MAX_INGESTIONS": "0"})
