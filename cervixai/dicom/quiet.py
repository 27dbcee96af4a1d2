"""pydicom's own messages, kept out of stderr and the logs: they quote element values (UIDs,
names) verbatim, e.g. ``Invalid value for VR UI: '1.2.840....'``.

:func:`quiet_pydicom` (called once when :mod:`cervixai.dicom` is imported; idempotent) makes
this package the owner of pydicom's diagnostics in its process:

- the ``pydicom`` logger stops propagating to the root logger; a handler counts its records
  of WARNING and above by level and re-logs each at DEBUG on ``cervixai.dicom.quiet`` with every
  quoted value, UID-like and digit run replaced by ``…``;
- Python warnings raised from pydicom's modules are ignored (pydicom's ``warn_and_log`` sends
  the same text to its logger too, which is counted above).
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections import Counter

logger = logging.getLogger(__name__)

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|b'[^']*'")
_DIGITS = re.compile(r"\d[\d.^\\ -]*")  # UIDs, dates, numbers, multi-valued numbers
_PYDICOM_MODULES = r"pydicom(\.|$)"
_lock = threading.Lock()
_counts: Counter[str] = Counter()
_installed = False


def redact(text: str) -> str:
    """pydicom's message with values replaced by ``…``: quoted text, UIDs and numbers."""
    return _DIGITS.sub("…", _QUOTED.sub("'…'", text))


class _Relay(logging.Handler):
    """Counts pydicom's records and re-logs them, redacted, at DEBUG."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = redact(record.getMessage())
        except Exception:  # a record whose arguments do not format: count it all the same
            text = "(unformattable message)"
        with _lock:
            _counts[record.levelname] += 1
        logger.debug("pydicom %s: %s", record.levelname.lower(), text)


def quiet_pydicom() -> None:
    """Route pydicom's logger and warnings as described in the module docstring. The logger is
    set up once; the warnings filter is re-added when missing, because ``catch_warnings``
    blocks (test runners, callers) restore the filter list they started with — so
    :func:`cervixai.dicom.load_series` calls this on every call (a list scan)."""
    global _installed
    with _lock:
        first = not _installed
        _installed = True
    if first:
        pydicom_logger = logging.getLogger("pydicom")
        pydicom_logger.propagate = False
        pydicom_logger.addHandler(_Relay(level=logging.WARNING))
    if not any(f[0] == "ignore" and f[3] is not None and f[3].pattern == _PYDICOM_MODULES
               for f in warnings.filters):
        warnings.filterwarnings("ignore", module=_PYDICOM_MODULES)


def pydicom_message_counts() -> dict[str, int]:
    """How many records pydicom logged at each level (WARNING and above) since start."""
    with _lock:
        return dict(_counts)
