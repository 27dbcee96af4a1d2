"""Model bundles: a folder with one ``manifest.json`` and the files it lists (ONNX and tables).

::

    BUNDLE/
      manifest.json
      segmenter/model.onnx
      classifier/parametrial_invasion.onnx
      survival/rfs.onnx, survival/rfs_baseline.json
      reports/...                       (Markdown/CSV reports; not verified, never loaded)

Each model entry records what it is (task, algorithm, feature set, input schema, threshold),
how good it is (metrics with confidence intervals), what it was trained on (a fingerprint of the
cohort), with which libraries, and the sha256 of every file it needs. Services load a file only
through :meth:`Bundle.verified_path`, which refuses a file whose sha256 differs from the manifest.
Nothing in a bundle is ever unpickled.

Training commands add or replace their entries with :func:`write_entry` (and change one with
:func:`update_entry`): each re-reads the manifest, changes it and replaces it atomically while it
holds an exclusive lock on ``manifest.json.lock`` beside it, so the segmenter, classifier and
survival trainers can fill one bundle in any order, at the same time too, without losing an
entry. Readers take no lock: the atomic rename shows them either the old manifest or the new.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from cervix.v1 import common_pb2
from cervixai import __version__
from cervixai.errors import CervixError

MANIFEST = "manifest.json"
MANIFEST_LOCK = MANIFEST + ".lock"
MANIFEST_VERSION = 1


class BundleError(CervixError):
    """A bundle is missing, malformed, or a file does not match its recorded sha256."""


@dataclass(frozen=True)
class FileRef:
    """A file of the bundle, relative to its root, with its sha256 (hex)."""

    path: str
    sha256: str


@dataclass(frozen=True)
class ModelEntry:
    """One model of a bundle. ``name`` is unique: ``segmenter``, ``classifier.recurrence``,
    ``survival.os`` ... ``files['model']`` is the ONNX graph; other roles are tables the
    service needs (a baseline survival curve, a feature list)."""

    name: str
    task: str
    algorithm: str
    feature_set: str
    files: dict[str, FileRef]
    inputs: list[dict[str, Any]] = field(default_factory=list)   # name, dtype, shape
    outputs: list[dict[str, Any]] = field(default_factory=list)
    threshold: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    @property
    def version(self) -> str:
        """A short identity for replies and metrics: the first 12 hex digits of the model sha."""
        return self.files["model"].sha256[:12] if "model" in self.files else ""

    def to_proto(self) -> common_pb2.ModelIdentity:
        """The ModelIdentity every reply carries for this model."""
        return common_pb2.ModelIdentity(
            name=self.name, version=self.version,
            sha256=self.files["model"].sha256 if "model" in self.files else "",
            algorithm=self.algorithm, feature_set=self.feature_set)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelEntry:
        files = {role: FileRef(**ref) for role, ref in data.get("files", {}).items()}
        return cls(**{**data, "files": files})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` (plus Python and cervixai)."""
    versions = {"python": platform.python_version(), "cervixai": __version__}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cohort_fingerprint(cohort: Path) -> dict[str, Any]:
    """What identifies the training data: sha256 of clinical.csv and the cohort manifest."""
    fingerprint: dict[str, Any] = {"cohort": cohort.name}
    for name in ("clinical.csv", "cohort.json"):
        path = cohort / name
        if path.exists():
            fingerprint[f"{name}_sha256"] = sha256_of(path)
    manifest = cohort / "cohort.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        fingerprint.update({k: data[k] for k in ("source", "seed", "patients") if k in data})
    return fingerprint


@dataclass
class Bundle:
    """A loaded manifest and the folder it describes."""

    root: Path
    models: dict[str, ModelEntry]
    created: str = ""

    def entry(self, name: str) -> ModelEntry:
        try:
            return self.models[name]
        except KeyError:
            raise BundleError(f"bundle {self.root} has no model {name!r}; it has "
                              f"{', '.join(sorted(self.models)) or 'none'}") from None

    def verified_path(self, name: str, role: str = "model") -> Path:
        """The path of one file of model ``name``, after checking its sha256."""
        entry = self.entry(name)
        ref = entry.files.get(role)
        if ref is None:
            raise BundleError(f"model {name!r} has no {role!r} file")
        path = (self.root / ref.path).resolve()
        if self.root.resolve() not in path.parents:
            raise BundleError(f"model {name!r}: {ref.path!r} points outside the bundle")
        if not path.is_file():
            raise BundleError(f"model {name!r}: {ref.path} is missing from {self.root}")
        actual = sha256_of(path)
        if actual != ref.sha256:
            raise BundleError(f"model {name!r}: {ref.path} has sha256 {actual[:16]}…, the "
                              f"manifest says {ref.sha256[:16]}…; refusing to load it")
        return path

    def verified_bytes(self, name: str, role: str = "model") -> bytes:
        """The contents of one file, read once and checked against its sha256."""
        path = self.verified_path(name, role)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.entry(name).files[role].sha256:
            raise BundleError(f"model {name!r}: {path.name} changed while being read")
        return data


def load_bundle(root: Path) -> Bundle:
    """Read ``root/manifest.json``; BundleError explains what is wrong."""
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} is not a model bundle: {MANIFEST} is missing")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{path} is not valid JSON: {e}") from e
    if data.get("manifest_version") != MANIFEST_VERSION:
        raise BundleError(f"{path}: manifest_version {data.get('manifest_version')!r} is not "
                          f"supported (expected {MANIFEST_VERSION})")
    try:
        models = {name: ModelEntry.from_dict(entry) for name, entry in data["models"].items()}
    except (KeyError, TypeError) as e:
        raise BundleError(f"{path}: malformed model entry ({e})") from e
    return Bundle(root, models, data.get("created", ""))


def add_file(root: Path, relative: str, content: bytes) -> FileRef:
    """Write ``content`` under the bundle and return its reference (atomic replace)."""
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(target, content)
    return FileRef(relative, hashlib.sha256(content).hexdigest())


def write_entry(root: Path, entry: ModelEntry) -> ModelEntry:
    """Add or replace ``entry`` in the bundle's manifest (created if missing), under the
    manifest lock; returns the entry as a reader of the manifest will load it (``created``
    filled in when it was empty, tuples become lists)."""
    with manifest_lock(root):
        data = _read_manifest(root)
        return _put_entry(root, data, entry)


def update_entry(root: Path, name: str, change: Callable[[ModelEntry], ModelEntry | None]
                 ) -> ModelEntry | None:
    """Replace entry ``name`` by ``change(entry)``, read and written under the manifest lock, so
    that an entry another writer replaced meanwhile is the one changed, never overwritten by a
    stale copy. Returns what was written; None (nothing written) when the bundle has no such
    entry or ``change`` returns None."""
    with manifest_lock(root):
        data = _read_manifest(root)
        current = data["models"].get(name)
        changed = None if current is None else change(ModelEntry.from_dict(current))
        if changed is None:
            return None
        if changed.name != name:
            raise BundleError(f"update_entry of {name!r} returned an entry named "
                              f"{changed.name!r}")
        return _put_entry(root, data, changed)


@contextmanager
def manifest_lock(root: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``root``'s manifest: one writer at a time re-reads, changes
    and replaces it. Blocks until the lock is free; released when the block ends, or by the
    kernel when the holder dies."""
    root.mkdir(parents=True, exist_ok=True)
    # A file of its own, never replaced: a lock on manifest.json would be on the inode that the
    # next atomic rename retires, and a writer arriving after the rename would lock another.
    with (root / MANIFEST_LOCK).open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.exists():
        return {"manifest_version": MANIFEST_VERSION, "models": {}}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _put_entry(root: Path, data: dict[str, Any], entry: ModelEntry) -> ModelEntry:
    """Set ``entry`` in the manifest ``data`` and write it (the caller holds the lock)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if not entry.created:
        entry = replace(entry, created=now)
    record = _jsonable(entry)
    data["models"][entry.name] = record
    data["updated"] = now
    data.setdefault("created", now)
    _atomic_write(root / MANIFEST, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return ModelEntry.from_dict(json.loads(json.dumps(record)))


def _jsonable(entry: ModelEntry) -> dict[str, Any]:
    out = asdict(entry)
    out["files"] = {role: asdict(ref) for role, ref in entry.files.items()}
    return out


def _atomic_write(target: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; services may run as another user
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
