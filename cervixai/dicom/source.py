"""The instances a volume was read from: what a result object needs to be filed next to them.

A DICOM SEG or SR of the result references each source instance, joins the source study and
copies its patient module, and a mask is mapped back from the model grid to the source grid.
That takes identifying data (UIDs, the patient module), so it lives here only: in the memory of
the request that ingested the series, never in a log line, a metric, a cache or a ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from cervixai.dicom.geometry import InPlaneFit


@dataclass(frozen=True, eq=False, repr=False)
class SourceSlices:
    """For each slice ``k`` of the volume: the source instance and the 0-based frame within it
    (0 for single-frame images), and how the source matrix became the model grid."""

    datasets: tuple[Dataset, ...]
    frames: tuple[int, ...]
    fit: InPlaneFit

    def __post_init__(self) -> None:
        if len(self.datasets) != len(self.frames):
            raise ValueError(f"{len(self.datasets)} datasets for {len(self.frames)} frames")

    def __repr__(self) -> str:  # never the headers: they identify the patient
        return f"SourceSlices(<{len(self.datasets)} slices, {self.fit.handling} in plane>)"

    @property
    def instances(self) -> tuple[Dataset, ...]:
        """The distinct source instances, in slice order of their first frame."""
        seen: dict[int, Dataset] = {}
        for ds in self.datasets:
            seen.setdefault(id(ds), ds)
        return tuple(seen.values())
