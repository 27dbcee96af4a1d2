"""Shared builders for the DICOM tests: phantom volumes and series as uploaded bytes."""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset

from cervixai.dicom import DicomSource
from cervixai.dicom.writer import series_datasets


def phantom(depth: int = 4, rows: int = 256, columns: int = 256, seed: int = 0) -> np.ndarray:
    """A uint16 volume with structure that differs per slice, row and column, plus noise."""
    rng = np.random.default_rng(seed)
    k, i, j = np.mgrid[0:depth, 0:rows, 0:columns].astype(np.float64)
    body = ((i - rows / 2) / (0.4 * rows)) ** 2 + ((j - columns / 2) / (0.45 * columns)) ** 2 <= 1
    volume = np.where(body, 400 + 300 * np.sin(i / 9 + k) * np.cos(j / 13), 20.0)
    volume += 40 * k + rng.normal(0, 15, volume.shape)
    return np.clip(volume, 0, 4000).astype(np.uint16)


def normalised(volume: np.ndarray) -> np.ndarray:
    """The documented intensity rule, written independently: min → 0, 99.5th percentile → 1."""
    values = np.asarray(volume, dtype=np.float64)
    low, high = values.min(), np.percentile(values, 99.5)
    return np.clip((values - low) / (high - low), 0, 1).astype(np.float32)


def to_bytes(ds: Dataset, *, preamble: bool = True) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    return data if preamble else data[132:]


def as_sources(datasets: Sequence[Dataset], names: Sequence[str] | None = None,
               ) -> list[DicomSource]:
    names = names or [f"IM{k:04d}.dcm" for k in range(len(datasets))]
    return [DicomSource(n, to_bytes(ds)) for n, ds in zip(names, datasets, strict=True)]


def datasets(depth: int = 4, rows: int = 256, columns: int = 256, seed: int = 0,
             **options: Any) -> list[Dataset]:
    """A phantom series written by the writer; ``options`` go to ``series_datasets``."""
    return series_datasets(phantom(depth, rows, columns, seed), **options)


def sources(**options: Any) -> list[DicomSource]:
    """Like :func:`datasets`, as uploads named IM0000.dcm, IM0001.dcm, ..."""
    return as_sources(datasets(**options))


class Kit:
    """The builders above, handed to tests as the ``kit`` fixture (tests cannot import conftest
    under pytest's importlib mode)."""

    phantom = staticmethod(phantom)
    normalised = staticmethod(normalised)
    to_bytes = staticmethod(to_bytes)
    as_sources = staticmethod(as_sources)
    datasets = staticmethod(datasets)
    sources = staticmethod(sources)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
