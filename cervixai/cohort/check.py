"""``cervixai cohort check DIR``: validate a cohort folder and list every problem found."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from cervixai.clinical.schema import BY_NAME, OUTCOME_VARIABLES, Stage
from cervixai.clinical.validate import validate_record
from cervixai.cohort import format as cf
from cervixai.errors import InvalidInput

OUTCOME_CHECKS = ("parametrial_invasion", "recurrence", "death", "rfs_event", "os_event")
RECURRENCE_SITES = next(v.levels for v in OUTCOME_VARIABLES if v.name == "recurrence")


def check_cohort(root: Path, *, stage: Stage = Stage.POSTOPERATIVE, images: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> list[cf.Problem]:
    """Every problem of the cohort at ``root``; an empty list means it is usable for training."""
    problems: list[cf.Problem] = []
    if not root.is_dir():
        return [cf.Problem(None, str(root), "not a folder")]
    problems += _check_manifest(root)
    path = root / cf.CLINICAL_CSV
    if not path.exists():
        return [*problems, cf.Problem(None, cf.CLINICAL_CSV, "missing")]
    header, rows = cf.read_csv(path)
    required = set(cf.ID_COLUMNS) | set(cf.OUTCOME_COLUMNS)
    for column in sorted(required - set(header)):
        problems.append(cf.Problem(None, cf.CLINICAL_CSV, f"column {column!r} is missing"))
    for column in header:
        if column not in cf.CLINICAL_COLUMNS:
            problems.append(cf.Problem(None, cf.CLINICAL_CSV, f"unknown column {column!r}"))
    if problems and any("column" in p.message for p in problems):
        return problems
    ids = Counter(r["patient_id"] for r in rows)
    problems += [cf.Problem(pid, "patient_id", f"appears {n} times") for pid, n in ids.items()
                 if n > 1]
    for row in rows:
        problems += list(_check_row(row, stage))
    problems += _check_splits(rows)
    if (root / cf.ORACLE_CSV).exists():
        _, oracle = cf.read_csv(root / cf.ORACLE_CSV)
        if {r["patient_id"] for r in oracle} != set(ids):
            problems.append(cf.Problem(None, cf.ORACLE_CSV, "patient ids differ from clinical.csv"))
    if images:
        problems += _check_images(root, [r["patient_id"] for r in rows], progress)
    return problems


def _check_manifest(root: Path) -> list[cf.Problem]:
    path = root / cf.MANIFEST
    if not path.exists():
        return [cf.Problem(None, cf.MANIFEST, "missing")]
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        return [cf.Problem(None, cf.MANIFEST, f"not JSON: {e}")]
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != cf.FORMAT_VERSION:
        return [cf.Problem(None, cf.MANIFEST,
                           f"format_version {version!r} is not supported (expected "
                           f"{cf.FORMAT_VERSION})")]
    return []


def _check_row(row: dict[str, str], stage: Stage) -> Iterator[cf.Problem]:
    pid = row.get("patient_id") or None
    if pid is None:
        yield cf.Problem(None, "patient_id", "empty")
    if row.get("split") not in cf.SPLITS:
        yield cf.Problem(pid, "split", f"{row.get('split')!r} is not one of train, test")
    clinical = {k: v for k, v in row.items() if k in BY_NAME}
    try:
        validate_record(clinical, stage, prefix="")
    except InvalidInput as e:
        for v in e.violations:
            yield cf.Problem(pid, v.field.lstrip("."), v.description)
    flags: dict[str, int] = {}
    for name in OUTCOME_CHECKS:
        value = row.get(name, "").strip()
        if value not in ("0", "1"):
            yield cf.Problem(pid, name, f"must be 0 or 1, got {value!r}")
        else:
            flags[name] = int(value)
    months: dict[str, float] = {}
    for name in ("rfs_months", "os_months"):
        try:
            months[name] = float(row.get(name, ""))
            if not math.isfinite(months[name]) or months[name] < 0:
                raise ValueError
        except ValueError:
            yield cf.Problem(pid, name, f"must be a non-negative number of months, got "
                                        f"{row.get(name)!r}")
    if len(months) == 2 and months["rfs_months"] > months["os_months"] + 1e-6:
        yield cf.Problem(pid, "rfs_months", f"{months['rfs_months']:g} exceeds os_months "
                                            f"{months['os_months']:g}")
    if flags.get("death") is not None and flags.get("os_event") is not None \
            and flags["death"] != flags["os_event"]:
        yield cf.Problem(pid, "os_event", "must equal death (death is the OS event)")
    if flags.get("recurrence") == 1 and flags.get("rfs_event") == 0:
        yield cf.Problem(pid, "rfs_event", "must be 1 when recurrence is 1")
    site = row.get("recurrence_site", "").strip().lower()
    sites = RECURRENCE_SITES
    if site not in sites:
        yield cf.Problem(pid, "recurrence_site", f"{site!r} is not one of {', '.join(sites)}")
    elif flags.get("recurrence") is not None and (site != "no") != bool(flags["recurrence"]):
        yield cf.Problem(pid, "recurrence_site", f"{site!r} contradicts recurrence "
                                                 f"{flags['recurrence']}")
    involvement = row.get("parametrial_involvement", "").strip().lower()
    if flags.get("parametrial_invasion") is not None and involvement in ("yes", "no") \
            and (involvement == "yes") != bool(flags["parametrial_invasion"]):
        yield cf.Problem(pid, "parametrial_invasion",
                         f"contradicts parametrial_involvement {involvement!r}")


def _check_splits(rows: list[dict[str, str]]) -> list[cf.Problem]:
    problems = []
    for split in cf.SPLITS:
        members = [r for r in rows if r.get("split") == split]
        if not members:
            problems.append(cf.Problem(None, "split", f"no patient in {split!r}"))
            continue
        for task in cf.TASKS:
            try:
                positives = sum(cf.task_label(r, task) for r in members)
            except (KeyError, ValueError):
                continue  # reported per row
            if positives == 0:
                problems.append(cf.Problem(None, task, f"no positive patient in {split!r}: the "
                                                       "task cannot be trained or scored"))
    return problems


def _check_images(root: Path, ids: list[str],
                  progress: Callable[[int, int], None] | None) -> list[cf.Problem]:
    from cervixai.cohort.masks import read_mask
    from cervixai.dicom import load_series_from_path

    problems = []
    for done, pid in enumerate(ids, 1):
        folder = root / cf.IMAGES_DIR / pid
        mask_path = root / cf.MASKS_DIR / f"{pid}.dcm"
        if not folder.is_dir():
            problems.append(cf.Problem(pid, cf.IMAGES_DIR, f"folder {folder.name} is missing"))
        else:
            try:
                series = load_series_from_path(folder)
            except InvalidInput as e:
                problems += [cf.Problem(pid, "images", str(v)) for v in e.violations]
            else:
                if not mask_path.exists():
                    problems.append(cf.Problem(pid, cf.MASKS_DIR, f"{mask_path.name} is missing"))
                else:
                    try:
                        mask = read_mask(mask_path, series.geometry, series.volume.shape)
                    except (ValueError, AttributeError, OSError) as e:
                        problems.append(cf.Problem(pid, cf.MASKS_DIR, f"unreadable: {e}"))
                    else:
                        if not mask.any():  # e.g. a microinvasive tumour thinner than a slice
                            problems.append(cf.Problem(
                                pid, cf.MASKS_DIR, "the lesion mask is empty on this series "
                                "(no visible lesion)", severity="note"))
        if progress:
            progress(done, len(ids))
    return problems
