"""The segmenter the repository ships: a versioned model artifact in ``models/segmenter/``.

A first ``make run`` has no GPU and a few CPU minutes, too few to train a segmenter whose
contours the risk models can rely on. So the repository carries one trained once, at length, on a
synthetic cohort of its own (other patients than ``make run``'s cohort, so that every contour it
draws there is out of sample), as two files:

* ``models/segmenter/model.onnx`` — the exported graph;
* ``models/segmenter/entry.json`` — its bundle entry (metrics, parameters, training data), whose
  ``files.model.sha256`` is checked before the file is copied into a bundle.

``make segmenter-model`` reproduces it (:data:`REPRODUCE` is the command); :func:`install`
copies it into a bundle as its ``segmenter`` entry, and :func:`publish` writes a trained bundle's
segmenter entry into the folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

from cervixai.bundle import BundleError, FileRef, ModelEntry, add_file, load_bundle, write_entry

FOLDER = Path(__file__).resolve().parent.parent / "models" / "segmenter"
MODEL = "model.onnx"
ENTRY = "entry.json"
BUNDLE_PATH = "segmenter/model.onnx"
REPRODUCE = "make segmenter-model"


def available(folder: Path | None = None) -> bool:
    """Whether the artifact is present (a checkout has it; a wheel install does not)."""
    folder = folder or FOLDER
    return (folder / MODEL).is_file() and (folder / ENTRY).is_file()


def read_entry(folder: Path | None = None) -> ModelEntry:
    """The artifact's bundle entry; BundleError when it is malformed."""
    folder = folder or FOLDER
    try:
        return ModelEntry.from_dict(json.loads((folder / ENTRY).read_text()))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise BundleError(f"{folder / ENTRY} is not a segmenter entry: {e}") from e


def install(bundle: Path, folder: Path | None = None) -> ModelEntry:
    """Copy the artifact into ``bundle`` as its ``segmenter`` entry, after checking the ONNX
    file's sha256 against the entry (BundleError when they differ)."""
    folder = folder or FOLDER
    entry = read_entry(folder)
    content = (folder / MODEL).read_bytes()
    actual = hashlib.sha256(content).hexdigest()
    expected = entry.files["model"].sha256
    if actual != expected:
        raise BundleError(f"{folder / MODEL} has sha256 {actual[:16]}…, {ENTRY} says "
                          f"{expected[:16]}…; refusing to install it (reproduce it with "
                          f"`{REPRODUCE}`)")
    ref = add_file(bundle, BUNDLE_PATH, content)
    installed = replace(entry, files={**entry.files, "model": ref},
                        parameters={**entry.parameters, "shipped_from": "models/segmenter"})
    write_entry(bundle, installed)
    return installed


def publish(bundle: Path, folder: Path | None = None) -> ModelEntry:
    """Write ``bundle``'s segmenter (sha256-checked) into ``folder`` as the shipped artifact."""
    folder = folder or FOLDER
    loaded = load_bundle(bundle)
    entry = loaded.entry("segmenter")
    source = loaded.verified_path("segmenter")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / MODEL)
    published = replace(entry, files={"model": FileRef(BUNDLE_PATH, entry.files["model"].sha256)})
    data = asdict(published)
    data["files"] = {role: asdict(ref) for role, ref in published.files.items()}
    (folder / ENTRY).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return published


def main(argv: list[str] | None = None) -> int:
    """``python -m cervixai.shipped BUNDLE``: publish BUNDLE's segmenter as the artifact."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cervixai.shipped",
                                     description="write a bundle's segmenter into "
                                                 "models/segmenter/ as the shipped artifact")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--folder", type=Path, default=None,
                        help=f"where to write it (default {FOLDER})")
    args = parser.parse_args(argv)
    entry = publish(args.bundle, args.folder)
    test = entry.metrics.get("test", {})
    print(f"published segmenter {entry.version} to {args.folder or FOLDER} (test Dice "
          f"{test.get('dice', {}).get('mean')} on {test.get('patients')} patients)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
