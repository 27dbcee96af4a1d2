"""``python -m listener`` (also ``cervixai dicom-listener``): the DICOM listener's whole life.

Configuration errors, and a spool or database that cannot be opened, exit with status 2 and one
line on stderr. The gRPC server (cervix.v1.Studies and health) listens first, NOT_SERVING; then
the DICOM port opens and the worker starts; health turns SERVING and stays so while the spool
and the database are writable (checked every few seconds). SIGTERM: health NOT_SERVING, the
DICOM port closes (an association in progress is aborted: its unacknowledged instance is the
sender's to send again), in-flight gRPC calls drain, the worker stops between two steps; exit 0.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading
from collections.abc import Sequence

from cervix.v1 import studies_pb2_grpc
from cervixai.service.components import LISTENER
from cervixai.service.logs import configure_logging
from cervixai.service.model import set_build_info
from cervixai.service.server import create_server
from listener.config import ListenerConfig
from listener.intake import Intake
from listener.scp import StoreSCP
from listener.spool import Spool
from listener.store import Store, StoreError
from listener.studies import StudiesServicer
from listener.worker import Worker

log = logging.getLogger("listener")

READINESS_SECONDS = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cervixai dicom-listener",
        description="Receive studies from the PACS by DICOM C-STORE, join them with their "
                    "clinical record, have them assessed and send the SEG and SR back "
                    "(configuration from CERVIXAI_LISTENER_* variables: docs/pacs.md).")
    parser.parse_args(argv)
    try:
        config = ListenerConfig.from_env()
    except ValueError as e:
        print(f"listener: configuration error: {e}", file=sys.stderr)
        return 2
    configure_logging(LISTENER.name, config.server.log_level)
    try:
        spool = Spool(config.spool)
        store = Store(config.database)
    except (OSError, ValueError, sqlite3.Error, StoreError) as e:
        print(f"listener: cannot open the spool {config.spool}: {e}", file=sys.stderr)
        return 2
    set_build_info(LISTENER)
    worker = Worker(config, spool, store)
    intake = Intake(config, spool, store)
    scp = StoreSCP(config, intake)
    servicer = StudiesServicer(store, spool.keys, intake, worker.wake)
    app = create_server(config.server, LISTENER.name,
                        [(studies_pb2_grpc.add_StudiesServicer_to_server, servicer)],
                        [LISTENER.service])
    app.install_signal_handlers()
    app.start()
    scp.start()
    worker.start()
    stopping = threading.Event()

    def watch_storage() -> None:
        while not stopping.wait(READINESS_SECONDS):
            writable = spool.writable() and store.writable()
            if not writable:
                log.error("the spool or the database is not writable: not ready")
            if not app.stopped:
                app.set_serving(writable)

    app.set_serving(spool.writable() and store.writable())
    threading.Thread(target=watch_storage, name="listener-readiness", daemon=True).start()
    log.info("serving: DICOM %s on %s:%d, gRPC %s, destinations: %s", config.ae_title,
             config.server.host, scp.port, app.address,
             ", ".join(config.destinations) or "none (results are not sent)")
    app.wait_for_termination()
    stopping.set()
    scp.stop()
    worker.stop()
    store.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
