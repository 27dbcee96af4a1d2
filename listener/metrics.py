"""The listener's Prometheus metrics (served on ``CERVIXAI_LISTENER_METRICS_PORT``). No label
carries an identifier: reasons and outcomes are from fixed sets."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ASSOCIATIONS = Counter("cervixai_listener_associations_total",
                       "DICOM associations requested, by outcome (accepted; rejected_caller: not "
                       "on the allow-list; rejected: another called AE title, or the "
                       "association limit)", ["outcome"])
INSTANCES = Counter("cervixai_listener_instances_total",
                    "C-STORE requests, by outcome (stored, or the refusal's reason)",
                    ["outcome"])
ECHOES = Counter("cervixai_listener_echoes_total", "C-ECHO requests answered")
SPOOL_BYTES = Gauge("cervixai_listener_spool_bytes",
                    "Bytes of received instances and result objects on the spool")
STUDIES = Gauge("cervixai_listener_studies", "Studies known to the listener, by state",
                ["state"])
ASSESSMENTS = Counter("cervixai_listener_assessments_total",
                      "Assessments the listener asked the gateway for, by outcome (ok, refused: "
                      "the study or record is not assessable, retry: the gateway was "
                      "unavailable, failed)", ["outcome"])
EXPORTS = Counter("cervixai_listener_exports_total",
                  "Result objects sent to a destination, by kind and outcome (sent, retry, "
                  "rejected: a permanent failure, gave_up: the retries ran out)",
                  ["kind", "outcome"])
