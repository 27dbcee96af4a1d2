"""What the listener does with one received instance, whichever way it came (C-STORE on the
DICOM port, or the gateway's STOW-RS endpoint through ``Studies/StoreInstance``): read its
header, check it, write it to the spool durably and record it, all before the sender is told it
is stored. The outcome is a DICOM status: 0x0000, or the failure the C-STORE response and the
STOW-RS response carry (PS3.4 B.2.3, PS3.18 10.5.3):

======  =================================================================  ====================
0xA700  the study would pass the listener's size limit, or the disk or     out of resources:
        the database failed                                                the sender may retry
0xA900  SOP Class UID other than the presentation context's, a missing     data set does not
        SOP Instance / Study / Series UID, or (STOW-RS) another study's    match
        instance sent to ``/studies/{uid}``
0xC000  the bytes cannot be parsed (STOW-RS: not a PS3.10 file)            cannot understand
0x0122  (STOW-RS) a SOP class other than MR and Enhanced MR Image Storage  SOP class not
                                                                           supported
0xC122  (STOW-RS) a transfer syntax ingestion does not decode without loss transfer syntax not
                                                                           supported
======  =================================================================  ====================

C-STORE negotiates the SOP class and the transfer syntax per presentation context, so those two
are refused at association time there; STOW-RS has no negotiation, so they are checked here.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass

import pydicom
from pydicom import uid

from listener.config import ListenerConfig
from listener.metrics import INSTANCES
from listener.spool import Spool, write_durably
from listener.store import Store

log = logging.getLogger(__name__)

STORAGE_CLASSES = (uid.MRImageStorage, uid.EnhancedMRImageStorage)
TRANSFER_SYNTAXES = [
    uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian, uid.RLELossless, uid.JPEGLosslessSV1, uid.JPEGLossless,
    uid.JPEGLSLossless, uid.JPEGLSNearLossless, uid.JPEG2000Lossless, uid.JPEG2000,
]
_HEADER_TAGS = ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                "AccessionNumber"]
STUDY_LOCKS = 64
STORED = 0x0000
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
SOP_CLASS_NOT_SUPPORTED = 0x0122
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122


@dataclass(frozen=True)
class Outcome:
    """What became of one instance; the UIDs are for the sender's response only."""

    status: int
    comment: str = ""
    sop_class_uid: str = ""
    sop_instance_uid: str = ""

    @property
    def stored(self) -> bool:
        return self.status == STORED


class Intake:
    """Checks and stores instances for the SCP and for ``Studies/StoreInstance``."""

    def __init__(self, config: ListenerConfig, spool: Spool, store: Store) -> None:
        self.config = config
        self.spool = spool
        self.store = store
        # one lock per study (the byte limit is checked and the instance stored under it),
        # taken from a fixed set so that their number does not grow with the studies seen
        self._study_locks = [threading.Lock() for _ in range(STUDY_LOCKS)]

    def _lock(self, key: str) -> threading.Lock:
        return self._study_locks[int(key[:8], 16) % STUDY_LOCKS]

    def take(self, encoded: bytes, *, context_class: str | None = None,
             study_uid: str | None = None) -> Outcome:
        """Store ``encoded`` (a PS3.10 file) or say why not. ``context_class``: the C-STORE's
        presentation context (the SOP class and transfer syntax were negotiated); without it
        (STOW-RS) both are checked here. ``study_uid``: the study the instance must belong to."""
        try:
            header = pydicom.dcmread(io.BytesIO(encoded), stop_before_pixels=True,
                                     specific_tags=_HEADER_TAGS)
        except Exception as e:  # pydicom raises many types for bytes it cannot parse
            log.warning("refused an instance that cannot be parsed (%s)", type(e).__name__)
            return _refused(CANNOT_UNDERSTAND, "cannot parse the data set"
                            if context_class else "not a DICOM file (PS3.10)", "unparseable")
        sop_class = str(header.get("SOPClassUID", "")).strip()
        sop_instance = str(header.get("SOPInstanceUID", "")).strip()

        def refused(status: int, comment: str, reason: str) -> Outcome:
            return _refused(status, comment, reason, sop_class, sop_instance)

        if context_class is not None:
            if sop_class and sop_class != context_class:
                return refused(DOES_NOT_MATCH, "SOP Class UID differs from the presentation "
                                               "context's", "sop_class_mismatch")
        else:
            if sop_class not in STORAGE_CLASSES:
                return refused(SOP_CLASS_NOT_SUPPORTED, "only MR Image Storage and Enhanced MR "
                                                        "Image Storage are accepted",
                               "sop_class_unsupported")
            syntax = str(header.file_meta.get("TransferSyntaxUID", "")).strip()
            if syntax not in TRANSFER_SYNTAXES:
                return refused(TRANSFER_SYNTAX_NOT_SUPPORTED,
                               "transfer syntax not accepted (lossy or unknown); send it "
                               "uncompressed or losslessly compressed",
                               "transfer_syntax_unsupported")
        uids = {"SOPInstanceUID": sop_instance,
                **{name: str(header.get(name, "")).strip()
                   for name in ("StudyInstanceUID", "SeriesInstanceUID")}}
        missing = [name for name, value in uids.items() if not value]
        if missing:
            return refused(DOES_NOT_MATCH, f"no {missing[0]}", "missing_uid")
        if study_uid is not None and uids["StudyInstanceUID"] != study_uid.strip():
            return refused(DOES_NOT_MATCH, "the instance belongs to another study than the "
                                           "request's", "study_mismatch")
        keys = self.spool.keys
        study = keys.key("study", uids["StudyInstanceUID"])
        accession = str(header.get("AccessionNumber", "") or "").strip()
        with self._lock(study):
            if self.store.study_bytes(study) + len(encoded) > self.config.max_study_bytes:
                return refused(OUT_OF_RESOURCES, "the study passes the listener's size limit",
                               "study_too_large")
            instance = keys.key("instance", sop_instance)
            path = self.spool.instance_path(study, instance)
            try:
                write_durably(path, encoded)
                self.store.add_instance(study, keys.key("accession", accession) if accession
                                        else None, keys.key("series", uids["SeriesInstanceUID"]),
                                        instance, len(encoded))
            except Exception as e:  # disk full, database locked or failing
                log.error("could not store an instance (%s)", type(e).__name__)
                return refused(OUT_OF_RESOURCES, "the listener could not store it now",
                               "storage_error")
        INSTANCES.labels("stored").inc()
        return Outcome(STORED, "", sop_class, sop_instance)


def _refused(status: int, comment: str, reason: str, sop_class: str = "",
             sop_instance: str = "") -> Outcome:
    INSTANCES.labels(reason).inc()
    return Outcome(status, comment, sop_class, sop_instance)
