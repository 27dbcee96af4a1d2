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
the SCP cannot take gets a DIMSE failure status with an error comment (listener/intake.py):
0xA900 (missing UIDs or a SOP class other than its context's), 0xA700 (the study would pass the
byte limit, or the disk or database failed: out of resources, the sender may retry), 0xC000 (it
cannot be parsed).
"""

from __future__ import annotations

import logging
from typing import Any

from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from cervixai.service.tls import server_ssl_context, watch_ssl_context
from listener.config import ListenerConfig
from listener.intake import STORAGE_CLASSES, TRANSFER_SYNTAXES, Intake
from listener.metrics import ASSOCIATIONS, ECHOES

log = logging.getLogger(__name__)

VERIFICATION = uid.UID("1.2.840.10008.1.1")
# A-ASSOCIATE-RJ: rejected-permanent, by the service user, calling AE title not recognised
_REJECT_CALLER = (0x01, 0x01, 0x03)


class StoreSCP:
    """The listener's DICOM side."""

    def __init__(self, config: ListenerConfig, intake: Intake) -> None:
        self.config = config
        self.intake = intake
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

    def _store(self, event: evt.Event) -> Dataset | int:
        outcome = self.intake.take(event.encoded_dataset(include_meta=True),
                                   context_class=event.context.abstract_syntax)
        if outcome.stored:
            return 0x0000
        status = Dataset()
        status.Status = outcome.status
        status.ErrorComment = outcome.comment[:64]   # LO: at most 64 characters
        return status
