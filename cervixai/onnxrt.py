"""onnxruntime, imported with its telemetry turned off: every import of it in cervixai is this one.

onnxruntime's Linux wheels (1.32) carry a telemetry client: on import it writes a device identifier
and an event database under ``~/.cache/Microsoft/DeveloperTools`` and its uploader sends events to
``mobile.events.data.microsoft.com``. cervixai makes no connection beyond loopback, and in a
container with no route out the uploader's flush at exit held a stopped service for 10–30 s after
it had drained (past a 40 s stop timeout, the kill). ``ORT_DISABLE_TELEMETRY=1``, set here before
the first import (the wheel reads it when it creates its environment), turns the client off; the
images set it too. Should something have imported onnxruntime earlier, its events are disabled.
"""

from __future__ import annotations

import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"

import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]

ort.disable_telemetry_events()

__all__ = ["ort"]
