"""A coronal T2-weighted fat-suppressed pelvic MR phantom with a cervical lesion.

Anatomy is built from smooth shapes in patient millimetres (LPS: x to the patient's left, y
posterior, z superior) and sampled on the series grid: coronal slices stacked anterior to
posterior, rows running superior to inferior, columns right to left. Signal levels follow T2 FS
contrast: urine and fluid bright, myometrium and endometrium bright, tumour intermediate-high,
cervical stroma and muscle dark, fat suppressed, bone marrow and air dark. Edges carry partial
volume (each voxel averages three sub-slices through the slice thickness and a 1 mm in-plane
ramp), and the image has a smooth bias field and Rician noise.

The lesion's size follows the pathological tumour size. Two image-only latents shape it: margin
``irregularity`` (lobulation amplitude) and ``heterogeneity`` (texture contrast and bright
necrotic foci). The ground-truth mask is the set of voxels whose lesion fraction is at least 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter
from scipy.special import expit

F32 = npt.NDArray[np.float32]
# (x, y, z) offsets from a shape's centre → factor scaling its radius in that direction.
PerturbFn = Callable[[F32, F32, F32], F32]

SUB_SLICES = 3
RAMP_MM = 1.0


@dataclass(frozen=True)
class Grid:
    """The series grid: voxel centre coordinates (mm) along each axis."""

    slices: int
    matrix: int
    pixel_mm: float
    slice_mm: float
    y0: float  # centre of the first slice (most anterior)

    @property
    def xs(self) -> F32:  # columns: right → left, centred on 0
        return ((np.arange(self.matrix) - (self.matrix - 1) / 2) * self.pixel_mm).astype(np.float32)

    @property
    def zs(self) -> F32:  # rows: superior → inferior, centred on 0
        return ((-(np.arange(self.matrix) - (self.matrix - 1) / 2)) * self.pixel_mm).astype(
            np.float32)

    def ys(self, offset: float = 0.0) -> F32:
        return (self.y0 + (np.arange(self.slices) + offset) * self.slice_mm).astype(np.float32)

    @property
    def origin_mm(self) -> tuple[float, float, float]:
        """Patient position of voxel [0, 0, 0]'s centre."""
        return (float(self.xs[0]), float(self.y0), float(self.zs[0]))


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]   # x, y, z (mm)
    radii: tuple[float, float, float]
    signal: float


class _Canvas:
    """Paints tissues onto the grid with partial-volume weights, inside bounding boxes."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.image = np.zeros((grid.slices, grid.matrix, grid.matrix), dtype=np.float32)
        self.offsets = [(k + 0.5) / SUB_SLICES - 0.5 for k in range(SUB_SLICES)]

    def _box(self, centre: tuple[float, float, float], radii: tuple[float, float, float],
             margin: float = 2.0) -> tuple[slice, slice, slice] | None:
        g = self.grid
        xs, zs, ys = g.xs, g.zs, g.ys()
        def rng(coords: F32, c: float, r: float, half: float) -> slice | None:
            inside = np.flatnonzero(np.abs(coords - c) <= r + margin + half)
            return slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else None
        s = rng(ys, centre[1], radii[1], g.slice_mm / 2)
        r = rng(zs, centre[2], radii[2], 0)
        c = rng(xs, centre[0], radii[0], 0)
        if s is None or r is None or c is None:
            return None
        return s, r, c

    def fraction(self, shape: Ellipsoid, perturb: PerturbFn | None = None,
                 thick: bool = True) -> tuple[tuple[slice, slice, slice], F32] | None:
        """Box and per-voxel fraction (0..1) of ``shape``, averaged over the slice thickness
        (``thick``) or sampled at the slice centre (for shapes far larger than a slice)."""
        box = self._box(shape.centre, shape.radii, margin=3.0 + (6.0 if perturb else 0.0))
        if box is None:
            return None
        g = self.grid
        cx, cy, cz = shape.centre
        ax, ay, az = shape.radii
        x = (g.xs[box[2]] - cx)[None, None, :]
        z = (g.zs[box[1]] - cz)[None, :, None]
        total = np.zeros((box[0].stop - box[0].start, z.shape[1], x.shape[2]), dtype=np.float32)
        offsets = self.offsets if thick else [0.0]
        for off in offsets:
            y = (g.ys(off)[box[0]] - cy)[:, None, None]
            rho = np.sqrt((x / ax) ** 2 + (y / ay) ** 2 + (z / az) ** 2)
            if perturb is not None:
                rho = rho / perturb(x, y, z)
            dist = (1.0 - rho) * min(ax, ay, az)
            total += np.clip(dist / RAMP_MM + 0.5, 0.0, 1.0)
        fraction: F32 = (total / len(offsets)).astype(np.float32)
        return box, fraction

    def paint(self, shape: Ellipsoid, signal: F32 | float | None = None,
              perturb: PerturbFn | None = None,
              thick: bool = True) -> tuple[tuple[slice, slice, slice], F32] | None:
        found = self.fraction(shape, perturb, thick)
        if found is None:
            return None
        box, frac = found
        value = shape.signal if signal is None else signal
        region = self.image[box]
        region *= 1.0 - frac
        region += frac * value
        return box, frac


def _lobulation(rng: np.random.Generator, amplitude: float) -> PerturbFn:
    """A radial scale 1 + amplitude·f(direction), f a sum of a few low-order lobes."""
    lobes = [(int(rng.integers(2, 6)), int(rng.integers(1, 4)), rng.uniform(0, 2 * np.pi),
              rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.0)) for _ in range(3)]
    norm = sum(w for *_, w in lobes)

    def perturb(x: F32, y: F32, z: F32) -> F32:
        theta = np.arctan2(z, x)
        phi = np.arctan2(y, np.sqrt(x * x + z * z) + 1e-6)
        f = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=np.float32)
        for n, m, a, b, w in lobes:
            f += w * np.cos(n * theta + a) * np.cos(m * phi + b)
        out: F32 = (1.0 + amplitude * f / norm).astype(np.float32)
        return out

    return perturb


@dataclass(frozen=True)
class Rendered:
    volume: npt.NDArray[np.uint16]   # (slices, rows, cols)
    mask: npt.NDArray[np.bool_]
    grid: Grid


def render(rng: np.random.Generator, *, tumor_size_cm: float, heterogeneity: float,
           irregularity: float, matrix: int, pixel_mm: float, slice_mm: float,
           slices: int) -> Rendered:
    """Render one patient's series and lesion mask."""
    cervix = (rng.normal(0, 4), rng.normal(8, 4), rng.normal(-5, 5))
    grid = Grid(slices, matrix, pixel_mm, slice_mm,
                y0=cervix[1] - (slices - 1) / 2 * slice_mm + rng.normal(0, slice_mm / 2))
    canvas = _Canvas(grid)

    def j(value: float) -> float:
        """A per-patient variation of an anatomical size or signal level."""
        return float(value * rng.uniform(0.85, 1.15))

    # body and suppressed fat
    canvas.paint(Ellipsoid((0, 10, 0), (j(175), j(125), 400), j(90)), thick=False)
    canvas.paint(Ellipsoid((0, 10, 0), (j(150), j(105), 400), j(130)), thick=False)
    # pelvic side wall muscles (obturator internus, iliopsoas) and gluteal muscles
    for side in (-1, 1):
        canvas.paint(Ellipsoid((side * j(70), 5, j(-10)), (j(18), j(35), j(55)), j(230)))
        canvas.paint(Ellipsoid((side * j(75), j(-20), j(60)), (j(22), j(25), j(60)), j(240)))
        canvas.paint(Ellipsoid((side * j(95), j(60), j(-10)), (j(35), j(40), j(70)), j(250)))
        # iliac wing, acetabulum and femoral head: dark marrow inside darker cortex
        canvas.paint(Ellipsoid((side * j(110), j(25), j(70)), (j(18), j(45), j(50)), j(35)))
        canvas.paint(Ellipsoid((side * j(110), j(25), j(70)), (j(13), j(40), j(45)), j(120)))
        head = (side * j(95), j(5), j(-45))
        canvas.paint(Ellipsoid(head, (j(26), j(26), j(26)), j(35)))
        canvas.paint(Ellipsoid(head, (j(22), j(22), j(22)), j(125)))
        # external iliac vessels: flow voids
        canvas.paint(Ellipsoid((side * j(55), j(-5), j(25)), (j(5), j(6), j(45)), j(40)))
        # ovary with a bright follicle
        ovary = (side * j(45), j(15), j(45))
        canvas.paint(Ellipsoid(ovary, (j(12), j(9), j(15)), j(430)))
        canvas.paint(Ellipsoid((ovary[0], ovary[1], ovary[2] + 3), (4, 4, 4), j(1250)))
    # sacrum posteriorly
    canvas.paint(Ellipsoid((0, j(85), j(30)), (j(45), j(18), j(60)), j(110)))
    # bowel loops in the upper pelvis: mixed intermediate and fluid-bright
    for _ in range(int(rng.integers(4, 9))):
        centre = (rng.uniform(-60, 60), rng.uniform(-40, 40), rng.uniform(50, 100))
        canvas.paint(Ellipsoid(centre, (j(14), j(12), j(14)), float(rng.uniform(250, 900))))
    # bladder: wall then urine, antero-superior to the cervix
    bladder = (j(0) + cervix[0], cervix[1] - j(40), cervix[2] + j(35))
    fill = rng.uniform(0.7, 1.3)
    canvas.paint(Ellipsoid(bladder, (j(48) * fill, j(32) * fill, j(35) * fill), j(260)))
    canvas.paint(Ellipsoid(bladder, (j(44) * fill, j(28) * fill, j(31) * fill), j(1450)))
    # rectum: wall and gas/fluid lumen, posterior to the cervix
    rectum = (cervix[0] + rng.normal(0, 4), cervix[1] + j(38), cervix[2] - j(5))
    canvas.paint(Ellipsoid(rectum, (j(20), j(17), j(45)), j(300)))
    lumen = j(40) if rng.random() < 0.6 else j(650)
    canvas.paint(Ellipsoid(rectum, (j(11), j(9), j(40)), lumen))
    # uterus: myometrium, bright endometrium; cervix: dark stroma, intermediate mucosa
    tilt = rng.normal(0, 6)
    uterus = (cervix[0] + tilt, cervix[1] - j(5), cervix[2] + j(48))
    canvas.paint(Ellipsoid(uterus, (j(30), j(24), j(38)), j(650)))
    canvas.paint(Ellipsoid(uterus, (j(6), j(5), j(25)), j(950)))
    canvas.paint(Ellipsoid(cervix, (j(17), j(16), j(26)), j(210)))
    canvas.paint(Ellipsoid(cervix, (j(5), j(5), j(20)), j(330)))
    # vagina below the cervix
    canvas.paint(Ellipsoid((cervix[0], cervix[1] + 2, cervix[2] - j(40)), (j(13), j(8), j(22)),
                           j(230)))

    # the lesion
    d = max(tumor_size_cm, 0.3) * 10.0
    radii = (d / 2, d / 2 * rng.uniform(0.6, 0.95), d / 2 * rng.uniform(0.7, 1.0))
    centre = (cervix[0] + rng.normal(0, 3), cervix[1] + rng.normal(0, 2),
              cervix[2] + rng.normal(0, 4) + max(0.0, d / 2 - 20) * 0.3)
    amplitude = 0.04 + 0.3 * float(expit(1.5 * irregularity))
    lesion = Ellipsoid(centre, radii, 0.0)
    found = canvas.fraction(lesion, _lobulation(rng, amplitude))
    mask = np.zeros(canvas.image.shape, dtype=bool)
    if found is not None:
        box, frac = found
        contrast = 0.04 + 0.22 * float(expit(1.5 * heterogeneity))
        texture = gaussian_filter(rng.standard_normal(frac.shape).astype(np.float32),
                                  (0.6, 2.0, 2.0))
        texture /= texture.std() + 1e-6
        base = j(560)
        signal = base * (1.0 + contrast * texture)
        for _ in range(int(rng.poisson(0.3 + 3.0 * float(expit(2.0 * heterogeneity))))):
            k = [rng.integers(0, n) for n in frac.shape]
            if frac[tuple(k)] < 0.9:
                continue
            zz, yy, xx = np.ogrid[:frac.shape[0], :frac.shape[1], :frac.shape[2]]
            r = rng.uniform(1.5, 4.0) / np.array([grid.slice_mm, pixel_mm, pixel_mm])
            blob = ((zz - k[0]) / max(r[0], 0.6)) ** 2 + ((yy - k[1]) / r[1]) ** 2 + (
                (xx - k[2]) / r[2]) ** 2 <= 1
            signal = np.where(blob, base * rng.uniform(1.8, 2.4), signal)
        region = canvas.image[box]
        region *= 1.0 - frac
        region += frac * signal
        mask[box] = frac >= 0.5

    image = canvas.image
    # smooth multiplicative bias field (coil sensitivity): a random low-order polynomial
    u = np.linspace(-1, 1, image.shape[2], dtype=np.float32)[None, None, :]
    v = np.linspace(-1, 1, image.shape[1], dtype=np.float32)[None, :, None]
    w = np.linspace(-1, 1, image.shape[0], dtype=np.float32)[:, None, None]
    a = rng.normal(0, 1, 6).astype(np.float32)
    field = a[0] * u + a[1] * v + a[2] * u * v + a[3] * (u * u - 0.33) + a[4] * (v * v - 0.33)
    field = field + 0.3 * a[5] * w
    image *= np.exp(0.08 * field).astype(np.float32)
    # fine tissue texture and Rician noise
    image *= 1.0 + 0.04 * gaussian_filter(rng.standard_normal(image.shape).astype(np.float32),
                                          (0.5, 1.0, 1.0))
    sigma = rng.uniform(10, 18)
    noisy = np.hypot(image + rng.normal(0, sigma, image.shape).astype(np.float32),
                     rng.normal(0, sigma, image.shape).astype(np.float32))
    gain = rng.uniform(0.8, 1.5)
    volume = np.clip(noisy * gain, 0, 65535).astype(np.uint16)
    return Rendered(volume, mask, grid)
