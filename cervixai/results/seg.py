"""The predicted lesion as a DICOM Segmentation (highdicom), filed into the source study.

Binary, one segment: category *morphologically abnormal structure* (SCT 49755003), type
*neoplasm* (SCT 108369006), anatomic region *cervix uteri* (SCT 71252005), algorithm
identification (cervixai segmenter, the model version, family *artificial intelligence*). The
mask lies on the source image grid and references each source instance; the SEG joins the
source study (StudyInstanceUID, the patient and study modules copied by highdicom) in a new
series. Empty prediction rule: the SEG is still written, with its one segment and no lesion
frame but one empty frame (highdicom keeps a frame when all are empty), so "no lesion found" is
filed as a result instead of leaving the study without one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from cervix.v1 import common_pb2
from cervixai import __version__
from cervixai.dicom.source import SourceSlices
from cervixai.results.grid import to_source_grid

if TYPE_CHECKING:  # highdicom is imported only when a result object is built
    import highdicom as hd

Bool = npt.NDArray[np.bool_]

MANUFACTURER = "cervixai"
SEGMENT_LABEL = "Cervical lesion"
SEG_SERIES_NUMBER = 9801
SR_SERIES_NUMBER = 9802


def cervix_uteri() -> hd.sr.CodedConcept:
    import highdicom as hd

    return hd.sr.CodedConcept("71252005", "SCT", "Cervix uteri")


def build_seg(source: SourceSlices, mask: Bool, segmenter: common_pb2.ModelIdentity) -> Dataset:
    """The DICOM SEG of ``mask`` (slices, 256, 256, the model grid) over ``source``'s images."""
    import highdicom as hd

    if mask.shape[0] != len(source.datasets):
        raise ValueError(f"a mask of {mask.shape[0]} slices for {len(source.datasets)} source "
                         "slices")
    on_source = to_source_grid(np.asarray(mask, bool), source.fit)
    instances = source.instances
    if len(instances) == 1 and len(source.datasets) > 1:
        # one enhanced multi-frame image: frames in the source's own frame order
        frames = np.zeros((int(instances[0].NumberOfFrames), *on_source.shape[1:]), bool)
        for k, frame in enumerate(source.frames):
            frames[frame] = on_source[k]
        pixel_array = frames
    else:
        # single-frame images, given to highdicom in slice order
        pixel_array = on_source
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm(segmenter),
        anatomic_regions=[cervix_uteri()])
    seg = hd.seg.Segmentation(
        source_images=list(instances), pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=generate_uid(), series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, manufacturer_model_name="cervixai segmenter",
        software_versions=__version__, device_serial_number=segmenter.version or "unknown",
        series_description="cervixai lesion segmentation", content_label="LESION",
        content_description="Automatic segmentation of the cervical lesion")
    return seg


def algorithm(model: common_pb2.ModelIdentity) -> hd.AlgorithmIdentificationSequence:
    """The AlgorithmIdentificationSequence of a served model."""
    import highdicom as hd

    return hd.AlgorithmIdentificationSequence(
        name=f"cervixai {model.name}", version=model.version or "unknown",
        family=codes.cid7162.ArtificialIntelligence,
        parameters={"algorithm": model.algorithm} if model.algorithm else None)
