"""The spool: received instances and result objects on disk, written durably, named by keys.

A file is written to a temporary name in its folder, fsync'd, renamed into place and the folder
fsync'd, so that once :func:`write_durably` returns the bytes survive a crash or a power loss (the
C-STORE SCP answers success only after that). Nothing on disk is named by a UID: a study, series
or instance is keyed by an HMAC of its UID under a secret generated once per spool
(:class:`Keys`), so a directory listing or the database says nothing about whose study it is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
from pathlib import Path

KEY_FILE = "spool.key"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically and durably (see the module docstring)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class Keys:
    """Keyed hashes of identifiers (StudyInstanceUID, AccessionNumber, ...): stable for one
    spool, not reversible, not comparable across sites."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def of_spool(cls, spool: Path) -> Keys:
        """The spool's secret, created (0600) on first use."""
        path = spool / KEY_FILE
        if not path.exists():
            write_durably(path, secrets.token_bytes(32))
        secret = path.read_bytes()
        if len(secret) != 32:
            raise ValueError(f"{path} is not a spool key (32 bytes); restore it or remove the "
                             f"whole spool")
        return cls(secret)

    def key(self, kind: str, value: str) -> str:
        return hmac.new(self._secret, f"{kind}:{value.strip()}".encode(),
                        hashlib.sha256).hexdigest()[:32]


class Spool:
    """The folder layout: ``studies/<study key>/<instance key>.dcm`` for received instances,
    ``results/<study key>/<kind>.dcm`` for result objects waiting to be sent."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in ("studies", "results"):
            (root / folder).mkdir(mode=0o700, exist_ok=True)
        self.keys = Keys.of_spool(root)

    def instance_path(self, study: str, instance: str) -> Path:
        return self.root / "studies" / study / f"{instance}.dcm"

    def result_path(self, study: str, kind: str) -> Path:
        return self.root / "results" / study / f"{kind}.dcm"

    def remove_study(self, study: str) -> None:
        """Every file of a study: its instances and its result objects."""
        for folder in ("studies", "results"):
            shutil.rmtree(self.root / folder / study, ignore_errors=True)

    def remove_instances(self, study: str) -> None:
        shutil.rmtree(self.root / "studies" / study, ignore_errors=True)

    def result_bytes(self, study: str) -> int:
        """The size of a study's result objects waiting to be sent."""
        return sum(p.stat().st_size for p in (self.root / "results" / study).glob("*.dcm"))

    def writable(self) -> bool:
        """Whether a file can be written and synced here now (readiness)."""
        probe = self.root / ".probe"
        try:
            write_durably(probe, b"ok")
            probe.unlink()
            return True
        except OSError:
            return False
