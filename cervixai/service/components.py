"""The processes of a cervixai system: names, modules, environment prefixes, proto services and
default ports, written once (the launcher, the gateway's backends and the evaluation harness read
them from here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    """One process of the system."""

    name: str        # segmenter: the label of its logs and metrics
    module: str      # python -m services.segmenter
    prefix: str      # CERVIXAI_SEGMENTER_*: its environment variables
    service: str     # cervix.v1.Segmenter: the proto service it serves (and reports health for)
    port: int        # its default gRPC port on loopback

    @property
    def address_variable(self) -> str:
        """The gateway's variable naming where this backend listens (``..._ADDRESS``)."""
        return f"{self.prefix}_ADDRESS"

    @property
    def default_address(self) -> str:
        return f"127.0.0.1:{self.port}"


SEGMENTER = Component("segmenter", "services.segmenter", "CERVIXAI_SEGMENTER",
                      "cervix.v1.Segmenter", 50051)
CLASSIFIER = Component("classifier", "services.classifier", "CERVIXAI_CLASSIFIER",
                       "cervix.v1.Classifier", 50052)
SURVIVAL = Component("survival", "services.survival", "CERVIXAI_SURVIVAL", "cervix.v1.Survival",
                     50053)
GATEWAY = Component("gateway", "gateway", "CERVIXAI_GATEWAY", "cervix.v1.Gateway", 50050)
# the DICOM listener (docs/pacs.md): its gRPC port serves cervix.v1.Studies to the gateway; it also
# listens for DICOM associations (CERVIXAI_LISTENER_DICOM_PORT, 11112). Optional: `cervixai up
# --listener` starts it.
LISTENER = Component("listener", "listener", "CERVIXAI_LISTENER", "cervix.v1.Studies", 50054)

MODEL_SERVICES = (SEGMENTER, CLASSIFIER, SURVIVAL)
# in start order: the gateway last, once its backends listen
COMPONENTS = (*MODEL_SERVICES, GATEWAY)
BY_NAME = {c.name: c for c in COMPONENTS}
