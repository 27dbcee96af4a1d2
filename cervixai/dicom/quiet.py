"""pydicom's own messages, kept out of stderr and the logs: they quote element values (UIDs,
names) verbatim, e.g. ``Invalid value for VR UI: '1.2.840....'``.

:func:`quiet_pydicom` (called when :mod:`cervixai.dicom` is imported and by every
:func:`~cervixai.dicom.load_series`) makes this package the owner of pydicom's diagnostics:

- a filter on the ``pydicom`` logger and its child loggers rewrites every record before any
  handler sees it: each quoted value, UID-like and digit run is replaced by ``…``, and the
  record is demoted to DEBUG and dropped unless ``cervixai.dicom`` logs DEBUG; records of
  WARNING and above are counted by level (:func:`pydicom_message_counts`);
- Python warnings raised from pydicom's modules are ignored (pydicom's ``warn_and_log`` sends
  the same text to its logger too, which is redacted and counted above).
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections import Counter

_OWN = logging.getLogger("cervixai.dicom")

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|b'[^']*'")
_DIGITS = re.compile(r"\d[\d.^\\ -]*")  # UIDs, dates, numbers, multi-valued numbers
_PYDICOM_MODULES = r"pydicom(\.|$)"
_lock = threading.Lock()
_counts: Counter[str] = Counter()


def redact(text: str) -> str:
    """pydicom's message with values replaced by ``…``: quoted text, UIDs and numbers."""
    return _DIGITS.sub("…", _QUOTED.sub("'…'", text))


class _Redact(logging.Filter):
    """Rewrites a pydicom record in place: values redacted, level DEBUG, counted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = redact(record.getMessage())
        except Exception:  # a record whose arguments do not format
            text = "(unformattable message)"
        if record.levelno >= logging.WARNING:
            with _lock:
                _counts[record.levelname] += 1
        record.msg, record.args = f"pydicom {record.levelname.lower()}: {text}", ()
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # handlers seldom filter by level: decide here, as cervixai.dicom's own DEBUG would
        return _OWN.isEnabledFor(logging.DEBUG)


_FILTER = _Redact()


def quiet_pydicom() -> None:
    """Route pydicom's loggers and warnings as described in the module docstring. Filters are
    added to the pydicom loggers that exist (idempotent: a filter is added once per logger);
    the warnings filter is re-added when missing, because ``catch_warnings`` blocks (test
    runners, callers) restore the filter list they started with (a list scan)."""
    names = ["pydicom", *(n for n in list(logging.Logger.manager.loggerDict)
                          if n.startswith("pydicom."))]
    with _lock:
        for name in names:
            target = logging.getLogger(name)
            if _FILTER not in target.filters:
                target.addFilter(_FILTER)
    if not any(f[0] == "ignore" and f[3] is not None and f[3].pattern == _PYDICOM_MODULES
               for f in warnings.filters):
        warnings.filterwarnings("ignore", module=_PYDICOM_MODULES)


def pydicom_message_counts() -> dict[str, int]:
    """How many records pydicom logged at each level (WARNING and above) since start."""
    with _lock:
        return dict(_counts)
