"""The C-STORE and C-ECHO SCP (pynetdicom): associations from the allow-list only; each received
instance on disk, fsync'd, and recorded before the SCP answers success.

Negotiated: MR Image Storage and Enhanced MR Image Storage in the transfer syntaxes ingestion
decodes without loss — uncompressed (implicit and explicit little endian, explicit big endian),
deflated, RLE, JPEG Lossless, JPEG-LS lossless and near-lossless, JPEG 2000 (lossless and
either; ingestion refuses a lossy codestream by what it contains). Lossy-only syntaxes (JPEG
Baseline / Extended) are not offered, so a sender that has both converts or sends uncompressed.
With ``CERVIXAI_LISTENER_DICOM_TLS_CERT`` / ``_KEY`` the port speaks DICOM over TLS (PS3.15 Annex
B; ``_DICOM_TLS_CLIENT_CA``: callers must present a certificate that CA signed).
Other SOP classes are refused at negotiation (the presentation context is rejected). An instance
the SCP cannot take gets a DIMSE failure status with an error comment: 0xA900 (missing UIDs or a
SOP class other than its context's), 0xA700 (the study would pass the byte limit, or the disk or
database failed: out of resources, the sender may retry), 0xC000 (it cannot be parsed).
"""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

import pydicom
from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from cervixai.service.tls import server_ssl_context, watch_ssl_context
from listener.config import ListenerConfig
from listener.metrics import ASSOCIATIONS, ECHOES, INSTANCES
from listener.spool import Spool, write_durably
from listener.store import Store

log = logging.getLogger(__name__)

STORAGE_CLASSES = (uid.MRImageStorage, uid.EnhancedMRImageStorage)
VERIFICATION = uid.UID("1.2.840.10008.1.1")
TRANSFER_SYNTAXES = [
    uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian, uid.RLELossless, uid.JPEGLosslessSV1, uid.JPEGLossless,
    uid.JPEGLSLossless, uid.JPEGLSNearLossless, uid.JPEG2000Lossless, uid.JPEG2000,
]
_HEADER_TAGS = ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                "AccessionNumber"]
STUDY_LOCKS = 64
# A-ASSOCIATE-RJ: rejected-permanent, by the service user, calling AE title not recognised
_REJECT_CALLER = (0x01, 0x01, 0x03)


def _status(code: int, comment: str, reason: str) -> Dataset:
    INSTANCES.labels(reason).inc()
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]   # LO: at most 64 characters
    return status


class StoreSCP:
    """The listener's DICOM side."""

    def __init__(self, config: ListenerConfig, spool: Spool, store: Store) -> None:
        self.config = config
        self.spool = spool
        self.store = store
        # one lock per study (the byte limit is checked and the instance stored under it),
        # taken from a fixed set so that their number does not grow with the studies seen
        self._study_locks = [threading.Lock() for _ in range(STUDY_LOCKS)]
        ae = AE(ae_title=config.ae_title)
        ae.maximum_associations = config.max_associations
        ae.maximum_pdu_size = config.max_pdu_bytes
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = config.network_timeout_seconds
        ae.require_called_aet = True
        for sop_class in STORAGE_CLASSES:
            ae.add_supported_context(sop_class, TRANSFER_SYNTAXES)
        ae.add_supported_context(VERIFICATION)
        self.ae = ae
        self._server: Any = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1]) if self._server is not None else 0

    def start(self) -> None:
        if not self.config.allowed_callers:
            log.warning("CERVIXAI_LISTENER_ALLOWED_CALLERS is empty: every association is "
                        "refused")
        handlers: list[Any] = [(evt.EVT_REQUESTED, self._requested), (evt.EVT_C_ECHO, self._echo),
                    (evt.EVT_C_STORE, self._store), (evt.EVT_ACCEPTED, self._accepted),
                    (evt.EVT_REJECTED, self._rejected)]
        config = self.config
        context = None
        if config.dicom_tls_cert and config.dicom_tls_key:
            context = server_ssl_context(config.dicom_tls_cert, config.dicom_tls_key,
                                         config.dicom_tls_client_ca)
            watch_ssl_context(lambda: context, config.dicom_tls_cert, config.dicom_tls_key,
                              "DICOM TLS")
        self._server = self.ae.start_server((config.server.host, config.dicom_port),
                                            block=False, ssl_context=context,
                                            evt_handlers=handlers)
        log.info("DICOM: %s listening on %s:%d%s", config.ae_title, config.server.host,
                 self.port, " (TLS" + (", client certificates required)"
                                       if config.dicom_tls_client_ca else ")")
                 if context else "")

    def stop(self) -> None:
        """Stop accepting associations and end the ones in progress."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        self.ae.shutdown()

    def _requested(self, event: evt.Event) -> None:
        primitive = event.assoc.requestor.primitive
        title = primitive.calling_ae_title if primitive is not None else ""
        address = event.assoc.requestor.address
        if not any(c.admits(title, address) for c in self.config.allowed_callers):
            ASSOCIATIONS.labels("rejected_caller").inc()
            log.warning("refused an association: calling AE title not on the allow-list "
                        "from this address")
            # as pynetdicom rejects an unknown called AE title: the A-ASSOCIATE-RJ, then the
            # association ends (kill() lets the DUL send the PDU before the socket closes)
            event.assoc.acse.send_reject(*_REJECT_CALLER)
            event.assoc.kill()

    def _accepted(self, event: evt.Event) -> None:
        ASSOCIATIONS.labels("accepted").inc()

    def _rejected(self, event: evt.Event) -> None:
        """pynetdicom's own rejections: a wrong called AE title, the association limit."""
        ASSOCIATIONS.labels("rejected").inc()

    def _echo(self, event: evt.Event) -> int:
        ECHOES.inc()
        return 0x0000

    def _lock(self, key: str) -> threading.Lock:
        return self._study_locks[int(key[:8], 16) % STUDY_LOCKS]

    def _store(self, event: evt.Event) -> Dataset | int:
        try:
            encoded = event.encoded_dataset(include_meta=True)
            header = pydicom.dcmread(io.BytesIO(encoded), stop_before_pixels=True,
                                     specific_tags=_HEADER_TAGS)
        except Exception as e:  # pydicom raises many types for bytes it cannot parse
            log.warning("refused an instance that cannot be parsed (%s)", type(e).__name__)
            return _status(0xC000, "cannot parse the data set", "unparseable")
        context_class = event.context.abstract_syntax
        sop_class = str(header.get("SOPClassUID", ""))
        if sop_class and sop_class != context_class:
            return _status(0xA900, "SOP Class UID differs from the presentation context's",
                           "sop_class_mismatch")
        uids = {name: str(header.get(name, "")).strip()
                for name in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")}
        missing = [name for name, value in uids.items() if not value]
        if missing:
            return _status(0xA900, f"no {missing[0]}", "missing_uid")
        keys = self.spool.keys
        study = keys.key("study", uids["StudyInstanceUID"])
        accession = str(header.get("AccessionNumber", "") or "").strip()
        with self._lock(study):
            if self.store.study_bytes(study) + len(encoded) > self.config.max_study_bytes:
                return _status(0xA700, "the study passes the listener's size limit",
                               "study_too_large")
            instance = keys.key("instance", uids["SOPInstanceUID"])
            path = self.spool.instance_path(study, instance)
            try:
                write_durably(path, encoded)
                self.store.add_instance(study, keys.key("accession", accession) if accession
                                        else None, keys.key("series", uids["SeriesInstanceUID"]),
                                        instance, len(encoded))
            except Exception as e:  # disk full, database locked or failing
                log.error("could not store an instance (%s)", type(e).__name__)
                return _status(0xA700, "the listener could not store it now", "storage_error")
        INSTANCES.labels("stored").inc()
        return 0x0000
