"""How far a small contour error swings each radiomics feature, every figure from the same run.

    python bench/feature_sensitivity.py --cohort COHORT [--bundle BUNDLE] [--baseline REV]
        [--patients N] [--cache DIR] [--repeats 3]

For every patient of a cohort (ingested as the gateway ingests a series) the features of
:data:`cervixai.features.radiomics.FEATURE_NAMES` are computed on the true mask and on

* the true mask eroded and dilated by one voxel in plane (4-neighbourhood on each slice: the
  slices are 4–6 mm thick, so an in-plane pixel is the contour error a reader or a network makes),
  and by one voxel in 3-D (6-neighbourhood: a whole slice more or less at each end);
* the true mask made ragged: every pixel just inside or just outside the outline flipped with
  probability ½ (a one-pixel jagged outline, as a network's thresholded probabilities leave);
* the segmenter's mask, when ``--bundle`` names a bundle with a ``segmenter`` entry (run as the
  segmenter service runs it, :mod:`cervixai.segmentation.inference`: depth padding, threshold,
  largest component).

Per feature and perturbation it prints the median |Δ| over the inter-patient interquartile
range of the true-mask values (the SD where the IQR is 0): how much of the spread between
patients a contour error moves a patient by; and Spearman's ρ between true-mask and perturbed
values: whether patients keep their order. On a synthetic cohort it also prints each feature's
Spearman ρ with the generator's image-only latents (``heterogeneity``, ``irregularity``, redrawn
from the cohort's seed with :func:`cervixai.cohort.synth.draw_patients`) and the true tumour
size, on true masks and on perturbed and segmenter masks: whether the signal the outcomes depend on
survives the contour error.

``--baseline REV`` computes the same table for ``cervixai/features/radiomics.py`` as of git
revision REV in the same run (before / after side by side, then a summary of both), and times
both implementations on the true masks, interleaved. ``--cache DIR`` keeps the segmenter's
masks between runs (keyed by the segmenter's sha256 and the cohort's fingerprint).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.ndimage import binary_dilation, binary_erosion
from scipy.stats import spearmanr

from cervixai.cohort import format as cf

REPO = Path(__file__).resolve().parent.parent
MODULE = "cervixai/features/radiomics.py"
IN_PLANE = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=bool)
SIX = np.array([[[0, 0, 0], [0, 1, 0], [0, 0, 0]], [[0, 1, 0], [1, 1, 1], [0, 1, 0]],
                [[0, 0, 0], [0, 1, 0], [0, 0, 0]]], dtype=bool)
PERTURBATIONS = ("erode", "dilate", "erode 3-D", "dilate 3-D", "ragged")
LATENTS = ("heterogeneity", "irregularity", "size")
# A feature a one-voxel error moves by more than this share of the inter-patient IQR is fragile.
FRAGILE = 0.25
# The feature each current one replaced (the margin, core and smooth-outline change), so that the
# side-by-side table lines a feature up with its predecessor; a name on both sides pairs itself.
REPLACED = {
    "shape_smooth_surface_mm2": "shape_surface_mm2", "shape_ellipsoid_fill": "shape_sphericity",
    "outline_smooth_perimeter_mm": "outline_perimeter_mm",
    **{f"intensity_core_{s}": f"intensity_{s}"
       for s in ("mean", "p10", "p50", "p90", "skewness", "entropy")},
    "intensity_rim_contrast": "intensity_shell_contrast",
    **{f"texture_core_{s}": f"texture_{s}"
       for s in ("contrast", "homogeneity", "energy", "correlation", "entropy")},
    "texture_core_local_cv": "texture_local_std",
    "margin_smooth_ellipsoid_cv": "margin_ellipsoid_cv",
    "margin_smooth_slice_ellipse_cv": "margin_slice_ellipse_cv",
    **{f"heterogeneity_core_{s}": f"heterogeneity_{s}"
       for s in ("cv", "robust_cv", "bright_fraction", "lag1_cv")},
}

Bool = npt.NDArray[np.bool_]
F32 = npt.NDArray[np.float32]
Extractor = Callable[[F32, Bool, tuple[float, float, float]], dict[str, float]]


@dataclass
class Implementation:
    """One version of the radiomics module and what it measured."""

    label: str
    names: tuple[str, ...]
    extract: Extractor
    values: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # mask kind → rows
    seconds: list[float] = field(default_factory=list)                       # per patient


def load_implementation(label: str, revision: str | None) -> Implementation:
    """The working tree's radiomics module, or the one at git ``revision``."""
    if revision is None:
        module = importlib.import_module("cervixai.features.radiomics")
    else:
        source = subprocess.run(["git", "show", f"{revision}:{MODULE}"], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout
        path = Path(tempfile.mkdtemp()) / "radiomics_baseline.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("radiomics_baseline", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return Implementation(label, tuple(module.FEATURE_NAMES), module.radiomics)


def perturbed(mask: Bool, seed: int) -> dict[str, Bool]:
    """The true mask eroded and dilated by one voxel, in plane and in 3-D, and made ragged: each
    pixel just inside the outline dropped and each pixel just outside it added with probability
    ½ (about the same area, a one-pixel jagged outline, as a network's threshold leaves)."""
    pad = np.pad(mask, 2)
    inner = (slice(2, -2),) * 3
    eroded, dilated = binary_erosion(pad, IN_PLANE), binary_dilation(pad, IN_PLANE)
    flip = np.random.default_rng(seed).random(pad.shape) < 0.5
    ragged = (eroded | (pad & flip)) | (dilated & ~pad & flip)
    return {
        "erode": eroded[inner],
        "dilate": dilated[inner],
        "erode 3-D": binary_erosion(pad, SIX)[inner],
        "dilate 3-D": binary_dilation(pad, SIX)[inner],
        "ragged": ragged[inner],
    }


def segmenter_masks(bundle: Path, cohort: Path, ids: list[str], cache: Path | None
                    ) -> dict[str, Bool]:
    """The served mask of each patient (:class:`cervixai.segmentation.inference.BundleSegmenter`,
    what the segmenter service runs), cached per segmenter and cohort."""
    from cervixai.bundle import cohort_fingerprint, load_bundle
    from cervixai.dicom import load_series_from_path
    from cervixai.segmentation.inference import BundleSegmenter

    segmenter_sha = load_bundle(bundle).entry("segmenter").files["model"].sha256
    cohort_id = json.dumps(cohort_fingerprint(cohort), sort_keys=True)
    key = hashlib.sha256(f"{segmenter_sha} {cohort_id}".encode()).hexdigest()[:16]
    store = cache / f"segmenter-{key}" if cache else None
    segmenter: BundleSegmenter | None = None
    masks = {}
    for pid in ids:
        saved = store / f"{pid}.npz" if store else None
        if saved is not None and saved.exists():
            with np.load(saved) as z:
                shape = tuple(int(n) for n in z["shape"])
                masks[pid] = np.unpackbits(z["bits"])[: int(np.prod(shape))].reshape(
                    shape).astype(bool)
            continue
        segmenter = segmenter or BundleSegmenter.load(bundle)
        mask = segmenter.mask(load_series_from_path(cohort / cf.IMAGES_DIR / pid).volume)
        masks[pid] = mask
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(saved, bits=np.packbits(mask), shape=np.array(mask.shape))
    return masks


def latents(cohort: Path, ids: list[str]) -> dict[str, npt.NDArray[np.float64]] | None:
    """The generator's image latents and true tumour size per patient; None for a cohort the
    synthetic generator did not write."""
    from cervixai.cohort.synth import GENERATOR, draw_patients

    manifest = json.loads((cohort / cf.MANIFEST).read_text())
    if manifest.get("source") != GENERATOR:
        return None
    drawn = draw_patients(int(manifest["patients"]), int(manifest["seed"]))
    index = [int(pid.removeprefix("SYN-")) - 1 for pid in ids]
    return {"heterogeneity": drawn.heterogeneity[index],
            "irregularity": drawn.irregularity[index],
            "size": np.asarray(drawn.clinical.true_tumor_size_cm, np.float64)[index]}


def rho(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman's ρ; NaN when either side is constant."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def spread(values: npt.NDArray[np.float64]) -> float:
    q25, q75 = np.percentile(values, [25, 75])
    return float(q75 - q25) if q75 > q25 else float(values.std())


def column(impl: Implementation, kind: str, name: str) -> npt.NDArray[np.float64]:
    return np.array([row[name] for row in impl.values[kind]], np.float64)


def shift(impl: Implementation, kind: str, name: str) -> float:
    """Median |Δ| from the true mask over the inter-patient spread."""
    truth = column(impl, "truth", name)
    scale = spread(truth)
    if scale == 0:
        return float("nan")
    return float(np.median(np.abs(column(impl, kind, name) - truth)) / scale)


def fmt(value: float, digits: int = 2) -> str:
    return "—" if not np.isfinite(value) else f"{value:.{digits}f}"


def feature_table(impl: Implementation, kinds: list[str],
                  truth_latents: dict[str, npt.NDArray[np.float64]] | None) -> list[str]:
    """One markdown row per feature: shift / ρ per mask kind, then the latents' ρ."""
    head = ["feature", "IQR"] + [f"{k} Δ/IQR · ρ" for k in kinds]
    if truth_latents:
        head += [f"ρ {latent}: truth · worst perturbed · seg" if "segmenter" in kinds
                 else f"ρ {latent}: truth · worst perturbed" for latent in LATENTS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in impl.names:
        truth = column(impl, "truth", name)
        if np.ptp(truth) == 0:
            continue  # lesion_found: 1 on every true mask
        cells = [name, fmt(spread(truth), 3)]
        for kind in kinds:
            cells.append(f"{fmt(shift(impl, kind, name))} · "
                         f"{fmt(rho(truth, column(impl, kind, name)))}")
        if truth_latents:
            for latent in LATENTS:
                signal = truth_latents[latent]
                on_truth = rho(truth, signal)
                sign = np.sign(on_truth) if np.isfinite(on_truth) else 1.0
                worst = min(sign * rho(column(impl, k, name), signal) for k in PERTURBATIONS)
                cell = f"{fmt(on_truth)} · {fmt(sign * worst)}"
                if "segmenter" in kinds:
                    cell += f" · {fmt(rho(column(impl, 'segmenter', name), signal))}"
                cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def recovered(impl: Implementation, kinds: list[str], signal: npt.NDArray[np.float64],
              folds: int = 5) -> dict[str, float]:
    """Spearman ρ between a latent and its prediction from the whole feature vector: a ridge
    regression fit on true-mask features of the other folds (as the models are trained), applied
    to each kind of mask of the held-out fold (as they are served)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names = [n for n in impl.names if np.ptp(column(impl, "truth", n)) > 0]
    table = {k: np.column_stack([column(impl, k, n) for n in names]) for k in ["truth", *kinds]}
    predicted = {k: np.zeros(len(signal)) for k in table}
    fold = np.arange(len(signal)) % min(folds, len(signal))
    for f in range(min(folds, len(signal))):
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 11)))
        model.fit(table["truth"][fold != f], signal[fold != f])
        for k, x in table.items():
            predicted[k][fold == f] = model.predict(x[fold == f])
    return {k: rho(p, signal) for k, p in predicted.items()}


def side_by_side(before: Implementation, after: Implementation, kinds: list[str],
                 truth_latents: dict[str, npt.NDArray[np.float64]] | None) -> list[str]:
    """One row per feature and its predecessor (:data:`REPLACED`): median |Δ|/IQR before → after
    per mask kind, and Spearman's ρ with the latent the feature follows most closely on true
    masks (|ρ| ≥ 0.3), on true masks and on the worst perturbed (or the segmenter's) masks."""
    def varying(impl: Implementation, name: str | None) -> bool:
        return name in impl.names and bool(np.ptp(column(impl, "truth", str(name))) > 0)

    pairs: list[tuple[str | None, str | None]] = [
        (REPLACED.get(n, n) if varying(before, REPLACED.get(n, n)) else None, n)
        for n in after.names if varying(after, n)]
    pairs += [(n, None) for n in before.names
              if varying(before, n) and n not in {old for old, _ in pairs}]
    served = "segmenter" if "segmenter" in kinds else None
    head = ["before → after", *kinds]
    if truth_latents:
        head += ["latent", "ρ truth", f"ρ {served or 'worst perturbed'}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def arrow(values: list[float | None]) -> str:
        return " → ".join("·" if v is None else fmt(v) for v in values)

    for old, new in pairs:
        sides = [(before, old), (after, new)]
        cells = [f"{old or '(new)'} → {new or '(dropped)'}" if old != new else str(new)]
        for kind in kinds:
            cells.append(arrow([shift(i, kind, n) if n else None for i, n in sides]))
        if truth_latents:
            main = new or old
            impl = after if new else before
            assert main is not None
            scored = {k: rho(column(impl, "truth", main), v) for k, v in truth_latents.items()}
            latent = max(scored, key=lambda k: abs(scored[k]))
            if abs(scored[latent]) < 0.3:
                cells += ["—", "", ""]
            else:
                signal = truth_latents[latent]
                on_truth: list[float | None] = []
                on_served: list[float | None] = []
                for i, n in sides:
                    if n is None:
                        on_truth.append(None)
                        on_served.append(None)
                        continue
                    r = rho(column(i, "truth", n), signal)
                    on_truth.append(r)
                    sign = np.sign(r) if np.isfinite(r) and r != 0 else 1.0
                    served_kinds = [served] if served else list(PERTURBATIONS)
                    on_served.append(sign * min(sign * rho(column(i, k, n), signal)
                                                for k in served_kinds))
                cells += [latent, arrow(on_truth), arrow(on_served)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary(impls: list[Implementation], kinds: list[str],
            truth_latents: dict[str, npt.NDArray[np.float64]] | None) -> list[str]:
    """Both implementations side by side: how many features are fragile, and the strongest
    association with each latent on each kind of mask."""
    head = ["", *(impl.label for impl in impls)]
    rows: list[list[str]] = []
    for kind in kinds:
        row = [f"features moved > {FRAGILE} IQR by {kind} (of varying)"]
        for impl in impls:
            varying = [n for n in impl.names if np.ptp(column(impl, "truth", n)) > 0]
            moved = [n for n in varying if shift(impl, kind, n) > FRAGILE]
            row.append(f"{len(moved)} of {len(varying)}")
        rows.append(row)
    for kind in kinds:
        row = [f"median ρ(truth, {kind}) over features"]
        for impl in impls:
            varying = [n for n in impl.names if np.ptp(column(impl, "truth", n)) > 0]
            row.append(fmt(float(np.nanmedian(
                [rho(column(impl, "truth", n), column(impl, kind, n)) for n in varying]))))
        rows.append(row)
    if truth_latents:
        fits = {impl.label: {latent: recovered(impl, kinds, truth_latents[latent])
                             for latent in LATENTS} for impl in impls}
        for latent in LATENTS:
            for kind in ["truth", *kinds]:
                rows.append([f"{latent} recovered from all features (ridge fit on truth, "
                             f"5-fold), ρ on {kind} masks",
                             *(fmt(fits[impl.label][latent][kind]) for impl in impls)])
        for latent in LATENTS:
            for kind in ["truth", *kinds]:
                row = [f"best \\|ρ\\| with {latent}, {kind} masks"]
                for impl in impls:
                    scored = [(abs(rho(column(impl, kind, n), truth_latents[latent])), n)
                              for n in impl.names if np.ptp(column(impl, "truth", n)) > 0]
                    best, name = max((s, n) for s, n in scored if np.isfinite(s))
                    row.append(f"{best:.2f} ({name})")
                rows.append(row)
    row = ["extraction ms per patient (median, true mask)"]
    for impl in impls:
        row.append(f"{1000 * statistics.median(impl.seconds):.1f}")
    rows.append(row)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cohort", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, help="a bundle with a segmenter entry")
    parser.add_argument("--baseline", help="git revision of radiomics.py to compare against")
    parser.add_argument("--patients", type=int, default=0, help="first N patients (0: all)")
    parser.add_argument("--cache", type=Path, help="folder that keeps the segmenter's masks")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per patient")
    args = parser.parse_args()

    from cervixai.cohort.masks import read_mask
    from cervixai.dicom import load_series_from_path

    ids = sorted(p.name for p in (args.cohort / cf.IMAGES_DIR).iterdir())
    if args.patients:
        ids = ids[: args.patients]
    impls = [load_implementation("before", args.baseline)] if args.baseline else []
    impls.append(load_implementation("after" if args.baseline else "current", None))
    kinds = list(PERTURBATIONS)
    seg = {}
    if args.bundle:
        started = time.perf_counter()
        seg = segmenter_masks(args.bundle, args.cohort, ids, args.cache)
        kinds.append("segmenter")
        print(f"segmenter masks: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    for impl in impls:
        impl.values = {kind: [] for kind in ["truth", *kinds]}

    dice = []
    for n, pid in enumerate(ids, 1):
        series = load_series_from_path(args.cohort / cf.IMAGES_DIR / pid)
        truth = read_mask(args.cohort / cf.MASKS_DIR / f"{pid}.dcm", series.geometry,
                          series.volume.shape)
        spacing_mm = tuple(float(s) for s in series.geometry.spacing_mm)
        spacing = (spacing_mm[0], spacing_mm[1], spacing_mm[2])
        masks = {"truth": truth, **perturbed(truth, n)}
        if seg:
            masks["segmenter"] = seg[pid]
            both = int(np.count_nonzero(truth & seg[pid]))
            sizes = int(np.count_nonzero(truth)) + int(np.count_nonzero(seg[pid]))
            dice.append(2 * both / max(1, sizes))
        for _ in range(args.repeats):  # interleaved, so the machine's load hits both alike
            for impl in impls:
                start = time.perf_counter()
                impl.extract(series.volume, truth, spacing)
                impl.seconds.append(time.perf_counter() - start)
        for impl in impls:
            for kind, mask in masks.items():
                impl.values[kind].append(impl.extract(series.volume, mask, spacing))
        print(f"\r{n}/{len(ids)} patients", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for impl in impls:  # per patient: the median of its repeats
        impl.seconds = [statistics.median(impl.seconds[i: i + args.repeats])
                        for i in range(0, len(impl.seconds), args.repeats)]

    signal = latents(args.cohort, ids)
    # a lesion too small for any voxel to be half inside has no true mask: every feature is 0
    # whatever the perturbation, which says nothing about the features
    found = [i for i, row in enumerate(impls[0].values["truth"]) if row["lesion_found"]]
    for impl in impls:
        impl.values = {k: [rows[i] for i in found] for k, rows in impl.values.items()}
        impl.seconds = [impl.seconds[i] for i in found]
    if signal is not None:
        signal = {k: v[found] for k, v in signal.items()}
    dice = [dice[i] for i in found] if dice else []
    print(f"{len(found)} patients with a lesion (of {len(ids)}) of {args.cohort}"
          + (f"; segmenter {args.bundle}, Dice against the truth median "
             f"{statistics.median(dice):.3f} (IQR {np.percentile(dice, 25):.3f}–"
             f"{np.percentile(dice, 75):.3f})" if dice else ""))
    print("Cells: median |Δ| over the inter-patient IQR · Spearman ρ(true-mask value, perturbed "
          "value); ρ with a latent on true masks · the weakest over the five perturbed masks"
          + (" · segmenter masks" if seg else "") + " (sign: as on true masks).")
    for impl in impls:
        rev = f" ({args.baseline})" if impl.label == "before" else ""
        print(f"\n### {impl.label}{rev}: {len(impl.names)} features\n")
        print("\n".join(feature_table(impl, kinds, signal)))
    if len(impls) == 2:
        print("\n### side by side: median |Δ|/IQR, and ρ with the feature's latent\n")
        print("\n".join(side_by_side(impls[0], impls[1], kinds, signal)))
    print("\n### summary\n")
    print("\n".join(summary(impls, kinds, signal)))


if __name__ == "__main__":
    main()
