"""Synthetic chest radiographs and a confounded cohort, made procedurally.

The course needs chest radiographs that look real at first glance, come with
exact masks (thorax, lungs, heart, burned-in text), have a known
cardiothoracic ratio, and can be shared freely. No image here is derived from
a real patient: every radiograph is drawn from simple shapes in well under a
second (about 0.07 s of CPU for 512 x 512), deterministically from a seed.

How an image is made
--------------------
The anatomy is described in *patient coordinates*: ``x`` to the image right
(the patient's left on a PA view), ``y`` downwards, both in units of the
image's shorter side, origin at the image centre. Each pixel's patient
coordinates are found by undoing ``rotation`` and ``body_size``, and every
structure is evaluated there. Masks therefore come out exact and boolean for
any rotation (what nearest-neighbour resampling of the masks approximates),
and the image needs no interpolation.

A density map (how much tissue the beam crosses) is summed from the parts,
with the shapes and densities a radiologist expects: the trunk (neck,
sloping trapezius, chest wall, thicker abdomen) and the arms hanging at the
sides with air in the axillae; breast shadows over the lower zones in women;
air in the lungs, under domed apices, thinner towards the apices and the
chest wall, with lung wrapping round the heart's borders; the mediastinum
(superior vena cava, a rounded aortic knob, pulmonary trunk) and the heart,
densest towards its apex, with lower lobe behind its thinner right part and
the spine faintly through it, merging with the diaphragm it rests on; the trachea as a smooth tapering air column
and the main bronchi parting at about 70 degrees; dense hila with vessels
that branch, taper and fade towards the periphery over a faint mottle, more
of them at the hila and bases; posterior ribs rising from the spine and
curving steeply down the wall, spaced wider downwards, each of its own
width and density with a thin bright cortex, fading laterally and behind the
domes, with faint anterior ribs running obliquely down towards the sternum;
S-shaped clavicles with a thin cortex crossing the apices; scapulae and
humeri (rounded heads continuous with the shafts, overlapped by the
glenoid); vertebrae faint behind the heart and below the diaphragm; under
the domes the liver, a graded abdomen, the dome of the gastric bubble and a
little bowel gas. Displayed brightness
follows an exposure curve, ``1 - exp(-k * density / exposure)``: dense tissue
is bright, lungs are dark, and a higher ``exposure`` gives a darker film. A
wide unsharp mask lifts local contrast as a detector's processing does.
``contrast`` stretches the grey levels around mid-grey, quantum noise is added
(stronger where fewer photons arrive), a soft toe keeps the darkest lung
pixels above 0, then burned-in text, the L/R marker and the collimation
border are drawn on the detector (they do not rotate).

Cardiothoracic ratio
--------------------
``ctr`` is measured on the masks exactly as the course's exercise asks:
the number of columns from the leftmost to the rightmost ``True`` pixel of
the heart mask (both included) divided by the same count for the thorax mask.
The heart is scaled until that measured ratio meets the requested one.

Examples
--------
>>> cxr = synthetic_radiograph(seed=3, shape=(256, 256), ctr=0.6)
>>> cxr.image.shape, cxr.image.dtype.name, sorted(cxr.masks)
((256, 256), 'uint8', ['heart', 'lungs', 'text', 'thorax'])
>>> abs(cxr.ctr - 0.6) < 0.02
True
"""

from __future__ import annotations

import datetime
import math
import numbers
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = [
    "SyntheticRadiograph",
    "synthetic_radiograph",
    "measure_ctr",
    "pack_masks",
    "make_cohort",
    "write_course_data",
    "SITE_PROTOCOLS",
    "COURSE_EXAMPLES",
    "COHORT_SIZE",
    "COHORT_SEED",
    "COHORT_CONFOUNDING",
]

# The keyword arguments of synthetic_radiograph, in order: params[...] holds
# each of them, so synthetic_radiograph(**{k: params[k] for k in ...}) redraws.
_KWARGS = (
    "seed", "shape", "ctr", "body_size", "rotation", "exposure", "contrast",
    "noise", "border", "text", "marker", "marker_style", "dtype", "sex",
)

_DTYPE_MAX = {"uint8": 255, "uint16": 4095}  # uint16 images use 12 bits, like most detectors
_MARKER_STYLES = ("box", "plain")
_MASK_NAMES = ("thorax", "lungs", "heart", "text")


@dataclass(frozen=True)
class SyntheticRadiograph:
    """One synthetic chest radiograph and everything known about it.

    Attributes
    ----------
    image : ndarray
        2-D, ``uint8`` or ``uint16`` (12 bits used); bright means dense.
    masks : dict of str to ndarray of bool
        ``"thorax"`` (inner rib-cage outline: lungs, heart, mediastinum),
        ``"lungs"`` (one connected piece per lung), ``"heart"`` and
        ``"text"`` (every burned-in text or
        marker pixel), each of ``image.shape``.
    ctr : float
        Cardiothoracic ratio measured from the masks (see :func:`measure_ctr`).
    params : dict
        Every argument used (so ``synthetic_radiograph(**{k: params[k] ...})``
        redraws the same image), plus ``text_boxes`` (a list of
        ``(row0, col0, row1, col1)``, end-exclusive, text first, then the
        marker), ``heart_width_px``, ``thorax_width_px`` and ``anatomy`` (the
        per-seed anatomical variation that was drawn).
    """

    image: np.ndarray
    masks: dict = field(repr=False)
    ctr: float
    params: dict = field(repr=False)


# --------------------------------------------------------------------------
# argument checking


def _check_int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        limit = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be an int {limit}, got {value}")
    return value


def _check_real(name, value, low, high, *, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def _check_shape(shape, name="shape"):
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 2:
        raise TypeError(f"{name} must be a pair of ints (rows, cols), got {shape!r}")
    rows, cols = (_check_int(f"{name}[{i}]", s, 64, 4096) for i, s in enumerate(shape))
    return rows, cols


def _check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError as error:
        raise TypeError(f"dtype must be 'uint8' or 'uint16', got {dtype!r}") from error
    if name not in _DTYPE_MAX:
        raise ValueError(f"dtype must be 'uint8' or 'uint16', got {dtype!r}")
    return name


def _check_text(text):
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"text must be a str or None, got {type(text).__name__}")
    if not text.strip() or not all(32 <= ord(ch) < 127 for ch in text):
        raise ValueError(f"text must be non-empty printable ASCII (the built-in font), got {text!r}")
    return text


# --------------------------------------------------------------------------
# geometry: patient coordinates (x to the image right, y down, in units of the
# shorter image side, origin at the image centre)


@dataclass(frozen=True)
class _Frame:
    """Maps image pixels to patient coordinates and back."""

    rows: int
    cols: int
    body_size: float
    rotation: float  # degrees, counter-clockwise as displayed

    @property
    def scale(self):
        """Pixels per patient unit."""
        return min(self.rows, self.cols) * self.body_size

    @property
    def pixel(self):
        """One pixel in patient units."""
        return 1.0 / self.scale

    def coords(self, rows=slice(None), cols=slice(None)):
        """Patient (x, y) of a window of pixels, as float32.

        Without rotation they come back as a row and a column vector that
        broadcast, so anything that depends on y alone costs one column.
        """
        r = np.arange(self.rows, dtype=np.float32)[rows]
        c = np.arange(self.cols, dtype=np.float32)[cols]
        xi = ((c - (self.cols - 1) / 2) / np.float32(self.scale))[None, :]
        yi = ((r - (self.rows - 1) / 2) / np.float32(self.scale))[:, None]
        if self.rotation == 0:
            return xi, yi
        # A counter-clockwise turn on screen (rows point down) takes patient
        # (x, y) to (x cos + y sin, -x sin + y cos); undo it.
        theta = math.radians(self.rotation)
        cos, sin = np.float32(math.cos(theta)), np.float32(math.sin(theta))
        return cos * xi - sin * yi, sin * xi + cos * yi

    def to_pixels(self, x, y):
        """(row, col) of patient points, as floats."""
        theta = math.radians(self.rotation)
        cos, sin = math.cos(theta), math.sin(theta)
        x, y = np.asarray(x, float), np.asarray(y, float)
        row = (-x * sin + y * cos) * self.scale + (self.rows - 1) / 2
        col = (x * cos + y * sin) * self.scale + (self.cols - 1) / 2
        return row, col

    def window(self, x0, x1, y0, y1):
        """Slices of the pixels that cover a patient-space rectangle (None if off the image)."""
        row, col = self.to_pixels([x0, x1, x0, x1], [y0, y0, y1, y1])
        r0, r1 = max(0, math.floor(row.min())), min(self.rows, math.ceil(row.max()) + 1)
        c0, c1 = max(0, math.floor(col.min())), min(self.cols, math.ceil(col.max()) + 1)
        if r0 >= r1 or c0 >= c1:
            return None
        return slice(r0, r1), slice(c0, c1)


def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _band(distance, half_width, edge):
    """1 inside a band of the given half-width, falling to 0 over ``edge``."""
    return np.clip((half_width - np.abs(distance)) / edge + 0.5, 0.0, 1.0)


def _draw_anatomy(rng):
    """The per-seed anatomical variation: plain floats (and a list for the ribs), in patient units."""
    u = rng.uniform
    return {
        "thorax_half_width": u(0.365, 0.39),
        "apex_y": u(-0.40, -0.38),
        "apex_peak_x": u(0.14, 0.17),  # each lung's apex is a dome, highest this far from the midline
        "widest_y": u(0.08, 0.14),
        "costophrenic_y": u(0.30, 0.33),
        "dome_right_y": u(0.14, 0.17),  # the patient's right (image left) sits higher
        "dome_left_y": u(0.175, 0.20),
        "heart_x": u(0.035, 0.055),
        "heart_y": u(0.065, 0.095),
        "heart_tilt_deg": u(22.0, 32.0),
        "heart_right_share": u(0.33, 0.38),  # share of the heart's width right of its long axis
        "aortic_knob": u(0.032, 0.046),
        "rib_first_y": u(-0.355, -0.335),
        "rib_spacing": u(0.05, 0.055),
        "rib_arch": u(0.04, 0.055),
        "clavicle_y": u(-0.29, -0.27),
        "shoulder_y": u(-0.36, -0.34),
        "arm_x": u(0.5, 0.53),
        "scapula_x": u(0.29, 0.33),
        "lung_air": u(0.54, 0.62),
        "breast": u(0.8, 1.25),
        "rib_jitter": [float(v) for v in u(-0.06, 0.06, 12)],
        "rib_shift_right": u(-0.25, 0.25),  # ribs of the two sides never line up exactly (in rib spacings)
        # bowel gas: (x, depth below the domes, size) of a few pockets, most along the colon's flexures
        "bowel_gas": [[float(v) for v in row] for row in np.column_stack(
            [u(-0.3, 0.3, 7), u(0.1, 0.35, 7), u(0.018, 0.04, 7)])],
    }


def _along(func, t, a):
    """``func(t, a)`` for a smooth function of one coordinate, cheaply.

    Unrotated, ``t`` is a row or column vector and ``func`` runs on it
    directly; rotated, ``t`` is a full grid, and a fine table (a fraction
    of a pixel apart) with linear interpolation costs far less than powers
    and square roots at every pixel.
    """
    if t.ndim < 2 or min(t.shape) == 1:
        return func(t, a)
    size = 4096
    low, high = float(t.min()), float(t.max())
    values = func(np.linspace(low, high, size), a)
    # the table is evenly spaced, so the interval is found by arithmetic
    # (np.interp's search is several times slower on a large grid)
    position = (t - np.float32(low)) * np.float32((size - 1) / max(high - low, 1e-12))
    index = np.minimum(position.astype(np.int32), size - 2)
    fraction = position - index

    def lookup(v):
        v = np.asarray(v, np.float32)
        return v[index] + (v[index + 1] - v[index]) * fraction
    return tuple(lookup(v) for v in values) if isinstance(values, tuple) else lookup(values)


def _thorax_half_width(y, a):
    """Half-width of the inner rib cage at height y (0 above the apex)."""
    span = a["widest_y"] - a["apex_y"]
    s = np.clip((a["widest_y"] - y) / span, 0.0, 1.0)
    upper = a["thorax_half_width"] * np.clip(1.0 - s**3, 0.0, 1.0) ** 0.4
    upper = np.where(y < a["apex_y"], 0.0, upper)
    # the lower rib cage widens a little towards the costophrenic angles
    return upper * (1.0 + 0.1 * np.clip(y - a["widest_y"], 0.0, None))


def _apex_top(x, a):
    """Top of the lungs over each column: each apex is a dome, lower towards the mediastinum."""
    medial = np.clip(a["apex_peak_x"] - np.abs(x), 0.0, None)
    return a["apex_y"] + np.minimum(3.5 * medial**2, 0.06)


def _diaphragm_y(x, a):
    """Height of the lung bases under each column: two domes, lowest at the sides."""
    ax = np.abs(x)
    dome = np.where(x < 0, np.float32(a["dome_right_y"]), np.float32(a["dome_left_y"]))
    peak, edge = 0.17, a["thorax_half_width"]
    u = np.clip((ax - peak) / (edge - peak), 0.0, 1.0)
    # rounded domes that drop steeply into the costophrenic angles
    lateral = 0.5 * u**2 + 0.5 * (1.0 - np.sqrt(1.0 - u**2)) + np.clip(ax - edge, 0.0, None)
    medial = 0.45 * _smoothstep(1.0 - ax / peak)  # smooth under the heart, no cusp at the midline
    return dome + (a["costophrenic_y"] - dome) * np.where(ax >= peak, lateral, medial)


def _thorax_mask(x, y, a):
    """The thorax mask, the rib cage's half-width and the diaphragm's height at every pixel."""
    cage = _along(_thorax_half_width, y, a)
    dome = _along(_diaphragm_y, x, a)
    cage, dome = np.broadcast_arrays(cage, dome)  # full grids, so that windows can be cut from them
    return (np.abs(x) < cage) & (y < dome) & (y > _along(_apex_top, x, a)), cage, dome


def _mediastinum_half_widths(y, a):
    """Distances of the lungs' medial borders from the midline, image left and right.

    Image left (the patient's right): the superior vena cava, a straight
    edge down to the heart. Image right: the left subclavian artery, the
    aortic knob, the aortopulmonary window, the pulmonary trunk and the
    left atrial appendage, then the heart.
    """
    def bump(centre, width):
        return np.exp(-(((y - centre) / width) ** 2))

    base = 0.03 + 0.018 * _smoothstep((y + 0.3) / 0.3)  # the mediastinum widens towards the heart
    # image left: the superior vena cava, the azygos arch, the ascending aorta above the right atrium
    left = base + 0.01 * _smoothstep((y + 0.26) / 0.08) + 0.006 * bump(-0.17, 0.025) + 0.014 * bump(-0.04, 0.05)
    # the aortic knob: the arch seen end-on, a rounded bulge (an arc, not a gaussian hump)
    knob = 0.75 * a["aortic_knob"] * np.sqrt(np.clip(1.0 - ((y + 0.195) / 0.05) ** 2, 0.0, 1.0))
    right = (base + 0.006 + knob + 0.022 * bump(-0.115, 0.022)
             + 0.018 * bump(-0.07, 0.025) + 0.03 * _smoothstep((y - 0.0) / 0.15))
    return left, right


def _heart_geometry(a, width):
    """Centre, axes and tilt of the heart for a nominal width (patient units).

    A larger heart grows towards both sides and down onto the diaphragm.
    """
    grow = width - 0.32
    share = a["heart_right_share"] + 0.15 * grow
    return {
        "x": a["heart_x"] - 0.25 * grow,
        "y": a["heart_y"] + 0.2 * grow,
        "right": share * width,
        "left": (1.0 - share) * width,
        "height": 0.3 * width,
        "tilt": math.radians(a["heart_tilt_deg"]),
    }


_HEART_BOX = (-0.4, 0.45, -0.25, 0.4)  # patient-space box that holds any heart the fit allows


def _heart_level(x, y, g):
    """Implicit heart shape: below 1 inside."""
    dx, dy = x - g["x"], y - g["y"]
    cos, sin = math.cos(g["tilt"]), math.sin(g["tilt"])
    along = cos * dx + sin * dy  # long axis, towards the apex at the lower image right
    across = -sin * dx + cos * dy
    half = np.where(along < 0, g["right"], g["left"])
    return (along / half) ** 2 + (across / g["height"]) ** 2


def _column_extent(mask):
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[-1] - cols[0] + 1) if cols.size else 0


def measure_ctr(heart, thorax):
    """Cardiothoracic ratio from two boolean masks, as the course defines it.

    Extent = number of columns from the leftmost to the rightmost ``True``
    pixel, both included; ratio = heart extent / thorax extent.

    Examples
    --------
    >>> thorax = np.zeros((4, 10), bool); thorax[1:3, 1:9] = True
    >>> heart = np.zeros((4, 10), bool); heart[2, 3:7] = True
    >>> measure_ctr(heart, thorax)
    0.5
    """
    heart, thorax = np.asarray(heart, bool), np.asarray(thorax, bool)
    if heart.shape != thorax.shape or heart.ndim != 2:
        raise ValueError(f"heart and thorax must be 2-D masks of one shape, got {heart.shape} and {thorax.shape}")
    thorax_extent = _column_extent(thorax)
    if thorax_extent == 0:
        raise ValueError("thorax mask is empty")
    return _column_extent(heart) / thorax_extent


def _largest_per_side(lungs, frame):
    """Keep each lung's largest connected piece (slivers beside the heart are not lung)."""
    labels, count = ndimage.label(lungs)
    if count <= 2:
        return lungs
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    centre = (frame.cols - 1) / 2
    cols = ndimage.center_of_mass(lungs, labels, range(1, count + 1))
    keep = np.zeros(count + 1, bool)
    for side in (False, True):
        on_side = [i + 1 for i, (_, col) in enumerate(cols) if (col > centre) == side]
        if on_side:
            keep[max(on_side, key=lambda i: sizes[i])] = True
    return keep[labels]


def _fit_heart(frame, a, thorax, ctr):
    """Scale the heart until its measured column extent gives ``ctr``.

    The extent grows almost in proportion to the nominal width, so a few
    proportional updates come close to the target. These look at every
    other row only (the column extent hardly depends on the rows); the last
    ones, at every row, bisect down to the nearest whole column.
    """
    target = ctr * _column_extent(thorax)
    window = frame.window(*_HEART_BOX)
    x, y = frame.coords(*window)
    inside = thorax[window]

    def extent(width, step):
        rows = slice(None, None, step)
        level = _heart_level(x if x.shape[0] == 1 else x[rows], y[rows], _heart_geometry(a, width))
        return _column_extent((level < 1.0) & inside[rows])

    width = ctr * 2 * a["thorax_half_width"] / 0.9
    for _ in range(4):
        found = extent(width, 2)
        if found == 0 or abs(found - target) <= 0.5:
            break
        width *= target / found
    # the extent is a whole number of columns, so proportional steps can jump
    # over the target: once it is bracketed, bisect; keep the best width seen
    best, low, high = None, None, None
    for _ in range(8):
        found = extent(width, 1)
        if found == 0:
            break
        if best is None or abs(found - target) < abs(best[1] - target):
            best = (width, found)
        if abs(found - target) <= 0.5:
            break
        low, high = (width, high) if found < target else (low, width)
        width = (low + high) / 2 if low is not None and high is not None else width * target / found
    if best is not None:
        width = best[0]
    heart = np.zeros(thorax.shape, bool)
    heart[window] = _heart_level(x, y, _heart_geometry(a, width)) < 1.0
    heart &= thorax
    return width, heart, _column_extent(heart)


# --------------------------------------------------------------------------
# density: how much tissue the beam crosses (arbitrary units, ~1 = chest wall)


def _upsample(values, step, shape):
    """Linear interpolation of values sampled on every ``step``-th pixel back to ``shape``.

    Sample i sits on pixel ``i * step``; pixels past the last sample repeat it.
    """
    if step == 1:
        return values
    out = values
    for axis in (0, 1):
        n = out.shape[axis]
        position = np.minimum(np.arange(shape[axis], dtype=np.float32) / step, n - 1)
        low = np.minimum(position.astype(np.int32), max(n - 2, 0))
        frac = position - low
        high = np.minimum(low + 1, n - 1)
        if axis == 0:
            out = out[low] * (1 - frac)[:, None] + out[high] * frac[:, None]
        else:
            out = out[:, low] * (1 - frac)[None, :] + out[:, high] * frac[None, :]
    return out.astype(np.float32)


def _add(density, frame, bbox, structure):
    """Add ``structure(x, y)`` over the pixels covering a patient-space box."""
    window = frame.window(*bbox)
    if window is not None:
        density[window] += structure(*frame.coords(*window))


def _torso_half_width(y, a):
    """Outline of the trunk: neck, sloping trapezius, shoulder girdle, chest wall, waist."""
    neck, shoulders = 0.078, a["arm_x"] - 0.03
    axilla = a["shoulder_y"] + 0.17
    chest = (a["thorax_half_width"] + 0.045) * (1.0 + 0.08 * np.clip(y - a["widest_y"], 0.0, None))
    chest = chest - 0.035 * _smoothstep((y - 0.25) / 0.3)  # narrowing to the waist
    # the trapezius: steep beside the neck, flat towards the acromion
    trapezius = neck + (shoulders - neck) * (1.0 - np.clip((a["shoulder_y"] - y) / 0.16, 0.0, 1.0) ** 0.75)
    below = shoulders + (chest - shoulders) * _smoothstep((y - a["shoulder_y"]) / (axilla - a["shoulder_y"]))
    return np.where(y < a["shoulder_y"], trapezius, below)


def _torso_thickness(y, a):
    """Relative path length through the trunk at its midline: thin neck, thicker abdomen."""
    neck = 1.0 - 0.45 * _smoothstep((a["shoulder_y"] + 0.02 - y) / 0.12)
    return neck * (1.0 + 0.18 * _smoothstep((y - 0.1) / 0.25))


def _arm_centre(y, a):
    """The arms hang at the sides, a little away from the body further down."""
    return a["arm_x"] + 0.02 * np.clip(y - a["shoulder_y"], 0.0, None)


def _soft_tissue(x, y, a, pixel):
    """Path length through soft tissue (1 = the chest at its midline); also the body outline."""
    ax = np.abs(x)
    half = _along(_torso_half_width, y, a)
    torso = np.sqrt(np.clip(1.0 - (ax / half) ** 2, 0.0, 1.0)) * _along(_torso_thickness, y, a)
    torso *= np.clip((half - ax) / (1.5 * pixel), 0.0, 1.0)
    # arms: cylinders hanging from the rounded deltoids, with air in the axillae between them and the chest
    across = (ax - _arm_centre(y, a)) / 0.08  # linear in y: cheaper than a table
    top = a["shoulder_y"] - 0.035 + 0.05 * across**2
    arm = 0.4 * np.sqrt(np.clip(1.0 - across**2, 0.0, 1.0)) * np.clip((y - top) / (1.5 * pixel), 0.0, 1.0)
    return np.maximum(torso, arm)


def _breasts(x, y, a):
    """Breast shadows over the lower zones: a sharp, curved lower margin, fading upwards."""
    size = a["breast"]
    ax = np.abs(x)
    r = ((ax - 0.26) / (0.15 * size)) ** 2 + ((y - 0.07) / (0.13 * size)) ** 2
    lower = np.clip((1.0 - r) / 0.08, 0.0, 1.0) * np.sqrt(np.clip(1.0 - r, 0.0, 1.0))
    return 0.24 * size * lower * _smoothstep((y - 0.02) / 0.13)


def _spine(x, y, fade):
    """Vertebral bodies with end plates, discs, pedicles and spinous processes; ``fade`` behind the heart."""
    p = (y + 0.52) / 0.044
    level = p - 0.006 * p * p  # vertebrae grow taller downwards
    v = np.mod(level, 1.0)
    half = 0.027 + 0.008 * _smoothstep((y + 0.1) / 0.5)
    body = np.clip((half - np.abs(x)) / 0.004, 0.0, 1.0)
    plates = np.exp(-(((v - 0.08) / 0.05) ** 2)) + np.exp(-(((v - 0.82) / 0.05) ** 2))
    disc = _smoothstep((v - 0.86) / 0.03) * _smoothstep((0.99 - v) / 0.03)
    # end plates and discs are faint (a bright ladder is what a phantom shows),
    # fainter still behind the trachea and the upper mediastinum
    hidden = 0.6 - 0.4 * _smoothstep((-0.1 - y) / 0.08)
    plates, disc = plates * hidden, disc * hidden
    bone = body * (0.08 + 0.04 * plates - 0.06 * disc + 0.03 * _band(np.abs(x) - half + 0.003, 0.002, 0.002))
    ring = np.hypot((np.abs(x) - 0.8 * half) / 0.007, (v - 0.35) / 0.13)
    pedicles = np.exp(-(((ring - 1.0) / 0.35) ** 2))
    spinous = np.exp(-((x / 0.006) ** 2 + ((v - 0.65) / 0.12) ** 2))
    return 0.55 * (bone + 0.05 * pedicles + 0.045 * spinous) * fade


def _segment_distance(x, y, p0, p1):
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy)


def _airways(x, y):
    """Trachea down to the carina and the two main bronchi (negative: air)."""
    carina = (-0.004, -0.135)
    # the aortic arch pushes the trachea a little to the patient's right (image left)
    centre = -0.008 * np.exp(-(((y + 0.2) / 0.06) ** 2))
    half = 0.02 - 0.004 * _smoothstep((y + 0.3) / 0.15)  # tapering towards the carina
    # a round tube: the air's path length falls off towards its walls; smoothly
    # (a flat band with sharp walls gets bright rims from the unsharp mask)
    across = np.clip(1.0 - ((x - centre) / half) ** 2, 0.0, 1.0)
    trachea = across**0.75 * _smoothstep((carina[1] + 0.005 - y) / 0.02)
    # the main bronchi part at about 70 degrees: the right one steeper, shorter and wider
    right = _segment_distance(x, y, carina, (-0.036, -0.08)) / 0.014
    left = _segment_distance(x, y, carina, (0.058, -0.085)) / 0.012
    bronchi = np.sqrt(np.clip(1.0 - np.minimum(right, left) ** 2, 0.0, 1.0))
    bronchi *= _smoothstep((y - carina[1] + 0.004) / 0.01)
    # they narrow and fade into the hila, with no blunt ends
    bronchi *= 1.0 - _smoothstep((np.hypot(x - carina[0], y - carina[1]) - 0.03) / 0.045)
    return -0.27 * trachea - 0.2 * bronchi


def _rib_profile(phase, fill, cortex, edge=0.16):
    """Density across a rib at a position ``phase`` (ribs at integer + [0, fill)).

    Cortical bone makes the edges denser, the lower edge most. ``edge`` is
    the width of the rise at each margin, in half-widths of the rib.
    """
    v = 2.0 * np.mod(phase, 1.0) / fill - 1.0  # -1 (upper edge) .. 1 (lower edge)
    inside = np.clip((1.0 - np.abs(v)) / edge, 0.0, 1.0)
    v4 = (v * v) ** 2
    return inside * (1.0 - cortex + cortex * v4 * v4 * (1.0 + 0.4 * v))


def _ribs(x, y, a, heart, cage, dome, pixel):
    """Posterior ribs (rising from the spine, then curving down the wall), faint anterior ribs, the wall.

    ``pixel`` is the distance between samples (patient units): where a rib
    runs steeply its margins are widened to at least about a pixel, or they
    come out as saw teeth.
    """
    ax = np.abs(x)
    lateral = (ax - 0.03) / np.maximum(cage - 0.03, 0.05)  # 0 at the spine, 1 at the inner wall
    crest = 0.55
    rise = np.where(
        lateral <= crest,
        a["rib_arch"] * (1.0 - (1.0 - lateral / crest) ** 2),
        a["rib_arch"] * (1.0 - 7.0 * ((lateral - crest) / (1.0 - crest)) ** 2),  # steeply down the wall
    )
    slope = np.where(
        lateral <= crest,
        2.0 * (1.0 - lateral / crest) / crest,
        -14.0 * (lateral - crest) / (1.0 - crest) ** 2,
    ) * (a["rib_arch"] / np.maximum(cage - 0.03, 0.05))
    # one pixel across the rib, in phase units (the rib's own units follow from its fill)
    pixel_phase = pixel * np.sqrt(1.0 + slope * slope) / a["rib_spacing"]
    steps = (y + rise - a["rib_first_y"]) / a["rib_spacing"] + np.where(x < 0, np.float32(a["rib_shift_right"]), 0)
    steps = np.clip(steps, -1.0, None)
    phase = steps - 0.018 * np.clip(steps, 0.0, None) ** 2  # lower ribs lie further apart
    # no two ribs are spaced alike: shift each rib a little, switching from one
    # shift to the next in the middle of the gap below a rib (where it is 0)
    which = np.clip(np.floor(phase + 0.3).astype(np.int32), 0, 11)
    jitter = np.asarray(a["rib_jitter"], np.float32)
    phase = phase - jitter[which]
    # ribs differ in width and density (reusing the jitter, shuffled, keeps the
    # random stream of older seeds); each narrows and fades along the lateral wall
    fill = (0.48 + 2.0 * jitter[(which + 5) % 12]) * (1.0 - 0.15 * np.clip(lateral, 0.0, 1.0))
    strength = (1.0 + 3.0 * jitter[(which + 3) % 12]) * (1.0 - 0.45 * _smoothstep((lateral - 0.65) / 0.4))
    edge = np.maximum(0.16, 2.4 * pixel_phase / fill)
    posterior = strength * _rib_profile(phase, fill, 0.6, edge) * (phase > 0) * (phase < 11)
    posterior *= _smoothstep((lateral - 0.04) / 0.1) * _smoothstep((ax - 0.035) / 0.03)
    # anterior ribs: from the wall obliquely down towards the sternum, fading into cartilage
    slope = 0.16 * (1.0 - np.clip(lateral, 0.0, 1.0)) ** 1.2
    anterior_phase = (y - slope - a["rib_first_y"] + 0.02) / (1.75 * a["rib_spacing"])
    anterior = _rib_profile(anterior_phase, 0.3, 0.3) * (anterior_phase > 0.2) * (anterior_phase < 5.5)
    anterior *= _smoothstep((lateral - 0.3) / 0.3)
    inside = np.clip((cage + 0.025 - ax) / 0.01, 0.0, 1.0) * _smoothstep((y - a["apex_y"] + 0.04) / 0.03)
    # below the domes only the lateral parts of the lowest ribs show through the abdomen
    below = 1.0 - _smoothstep((y - np.minimum(dome, a["costophrenic_y"] - 0.1) + 0.01) / 0.08) * (
        1.0 - 0.6 * _smoothstep((lateral - 0.55) / 0.3))
    # the lateral chest wall, where the ribs are seen edge-on
    wall = np.exp(-(((ax - cage - 0.012) / 0.009) ** 2)) * _smoothstep((y - a["apex_y"]) / 0.1)
    wall *= 1.0 - _smoothstep((y - a["costophrenic_y"]) / 0.06)
    return ((0.14 * posterior + 0.035 * anterior) * inside * below + 0.08 * wall) * (1.0 - 0.65 * heart)


def _clavicles(x, y, a):
    """S-shaped clavicles from the sternal ends, across the apices, up to the acromion."""
    run = np.abs(x) - 0.035
    t = run / 0.4
    centre = a["clavicle_y"] - 0.05 * t - 0.024 * np.sin(2 * np.pi * t)
    half = 0.011 + 0.007 * np.exp(-((run / 0.03) ** 2)) + 0.003 * _smoothstep((t - 0.7) / 0.3)
    v = (y - centre) / half
    # a thin bright cortex round a fainter medulla
    tube = np.clip((1.0 - np.abs(v)) / 0.18, 0.0, 1.0) * (0.45 + 0.75 * (v * v) ** 3)
    return 0.27 * tube * _smoothstep(run / 0.015) * _smoothstep((0.41 - run) / 0.02)


def _shoulder_bones(x, y, a):
    """Humeral heads and shafts inside the deltoids; scapulae with their medial and lateral borders."""
    ax = np.abs(x)
    sy = a["shoulder_y"]
    centre = _arm_centre(y, a) - 0.012
    # humerus: one outline for the rounded head, the neck and the shaft (a
    # smooth union of a disc and a rod, so the head is not a coin stuck on),
    # filled bone with a thin cortex; the shaft is a tube (denser walls)
    hx, hy = a["arm_x"] - 0.045, sy + 0.065
    disc = np.hypot(ax - hx, y - hy) - 0.05
    rod = np.maximum(np.abs(ax - centre) - 0.021, hy - y)
    k = 0.035
    mix = np.clip(0.5 + 0.5 * (rod - disc) / k, 0.0, 1.0)
    d = rod + (disc - rod) * mix - k * mix * (1.0 - mix)
    fill = _smoothstep(-d / 0.008)
    cortex = np.exp(-(((d + 0.006) / 0.006) ** 2))
    v = np.clip((ax - centre) / 0.021, -1.0, 1.0)
    tube = _smoothstep((y - hy - 0.08) / 0.06) * (1.0 - v**4)  # the medullary canal, below the surgical neck
    humerus = fill * (0.42 + 0.05 * cortex - 0.12 * tube)
    humerus *= _smoothstep((sy + 0.32 - y) / 0.12)  # the arm leaves the beam (forearms forward, off the film)
    # the glenoid rim overlaps the medial part of the head
    glenoid = np.exp(-(((ax - hx + 0.043) / 0.01) ** 2 + ((y - hy) / 0.035) ** 2))
    # scapula: a plate between a medial and a lateral border meeting at the inferior angle
    top, bottom = sy + 0.03, sy + 0.3
    t = np.clip((y - top) / (bottom - top), 0.0, 1.0)
    medial = a["scapula_x"] + 0.035 * t
    lateral = (a["arm_x"] - 0.085) + (a["scapula_x"] + 0.045 - (a["arm_x"] - 0.085)) * t**0.8
    plate = np.clip((ax - medial) / 0.008, 0.0, 1.0) * np.clip((lateral - ax) / 0.01, 0.0, 1.0)
    plate *= _smoothstep((y - top) / 0.02) * (y < bottom)
    edges = np.exp(-(((ax - medial - 0.003) / 0.003) ** 2)) + 2.0 * np.exp(-(((lateral - ax - 0.008) / 0.008) ** 2))
    scapula = plate * (0.045 + 0.022 * edges)  # faint borders: a thin plate seen obliquely
    return humerus + scapula + 0.1 * glenoid


def _mediastinal_vessels(x, y):
    """The aortic arch seen end-on at the knob, and the descending aorta beside the spine."""
    knob = np.exp(-(((x - 0.06) / 0.03) ** 2 + ((y + 0.19) / 0.04) ** 2))
    descending = _band(x - 0.045, 0.018, 0.006) * _smoothstep((y + 0.19) / 0.03) * _smoothstep((0.25 - y) / 0.1)
    return 0.06 * knob + 0.035 * descending


def _abdomen(x, y, a):
    """Liver under the right dome, the stomach's gas bubble under the left, some bowel gas; graded, not flat."""
    dome = _along(_diaphragm_y, x, a)
    below = _smoothstep((y - dome) / 0.012)
    liver = 0.07 * below * _smoothstep((0.05 - x) / 0.1) * _smoothstep((0.45 - y) / 0.15) * _smoothstep((0.44 + x) / 0.06)
    # a dome of gas under the left hemidiaphragm (its roof follows the dome, under
    # a thin diaphragm), fading into the stomach below: no hard fluid level
    roof = dome + 0.012
    r = ((x - 0.19) / 0.06) ** 2 + ((y - roof - 0.005) / 0.05) ** 2
    bubble = _smoothstep((y - roof) / 0.012) * _smoothstep((1.0 - r) / 0.6)
    gas = 0.0
    for gx, depth, size in a["bowel_gas"]:
        gas = gas + np.exp(-(((x - gx) / size) ** 2 + ((y - a["dome_left_y"] - depth) / (0.7 * size)) ** 2))
    # not a flat slab: gas in the splenic flexure under the left dome, bowel lower down
    lucent = 0.05 * _smoothstep((x - 0.02) / 0.25) * np.exp(-np.clip(y - dome, 0.0, None) / 0.15) * below
    lucent = lucent + 0.04 * _smoothstep((y - 0.32) / 0.25)
    return liver - lucent - 0.16 * bubble - 0.07 * np.minimum(gas, 1.3)


def _hila(x, y):
    """The pulmonary arteries at the lung roots: the right hilum (image left) lower than the left."""
    def blob(cx, cy, sx, sy):
        return np.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))

    right = blob(-0.095, -0.055, 0.032, 0.06) + 0.7 * blob(-0.085, -0.11, 0.025, 0.03)
    left = blob(0.1, -0.08, 0.035, 0.04) + 0.7 * blob(0.115, -0.03, 0.026, 0.045)
    return 0.5 * (right + left)


def _vessel_tree(rng, side, levels=6):
    """Segments (x0, y0, x1, y1, level) of one lung's vessels, branching out from the hilum.

    Every branch forks in two: one child keeps close to the parent's course,
    the other turns away; both bend a little, so no vessel runs straight.
    """
    count = 7
    # upper-lobe vessels go up and out, lower-lobe ones out and down
    angles = np.radians(np.linspace(-110.0, 100.0, count) + rng.uniform(-14, 14, count))
    if side < 0:
        angles = np.pi - angles
    hilum = np.array([side * 0.105, -0.075 if side > 0 else -0.06])
    offsets = rng.uniform(0.02, 0.04, count)
    starts = hilum + offsets[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    lengths = rng.uniform(0.035, 0.065, count)
    segments = []
    for level in range(levels):
        ends = starts + lengths[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        segments.append(np.column_stack([starts, ends, np.full(angles.size, level)]))
        spread = np.radians(np.column_stack([rng.uniform(-14, 14, angles.size), rng.uniform(22, 42, angles.size)]))
        spread *= rng.choice([-1, 1], (angles.size, 1))
        angles = (angles[:, None] + spread).ravel()
        starts = np.repeat(ends, 2, axis=0)
        lengths = np.repeat(lengths, 2) * rng.uniform(0.66, 0.84, angles.size)
    return np.concatenate(segments)


def _draw_segments(segments, weights, frame):
    """Rasterise many line segments at once into a float32 canvas.

    ``skimage.draw.line_aa`` draws one segment per call; a vessel tree has
    hundreds of short segments, so sampling them all in one vectorised pass
    (two samples per pixel, splatted bilinearly) is several times faster.
    """
    rows, cols = frame.rows, frame.cols
    r0, c0 = frame.to_pixels(segments[:, 0], segments[:, 1])
    r1, c1 = frame.to_pixels(segments[:, 2], segments[:, 3])
    length = np.hypot(r1 - r0, c1 - c0)
    counts = np.ceil(2 * length).astype(int) + 2
    owner = np.repeat(np.arange(len(segments)), counts)
    t = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) / (counts - 1)[owner]
    rr = r0[owner] + t * (r1 - r0)[owner]
    cc = c0[owner] + t * (c1 - c0)[owner]
    mass = (weights * length / (counts - 1))[owner]  # ink per sample: each covers that much length
    keep = (rr >= 0) & (rr < rows - 1) & (cc >= 0) & (cc < cols - 1)
    rr, cc, mass = rr[keep], cc[keep], mass[keep]
    top, left = np.floor(rr).astype(int), np.floor(cc).astype(int)
    fr, fc = rr - top, cc - left
    canvas = np.zeros(rows * cols)
    for dr, dc, share in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        canvas += np.bincount((top + dr) * cols + left + dc, mass * share, minlength=rows * cols)
    return canvas.reshape(rows, cols).astype(np.float32)


# Vessel calibre (radius, patient units) and peak density by branching level:
# wide and dense at the hila, thin and faint towards the periphery.
_VESSEL_RADIUS = (0.007, 0.0052, 0.0038, 0.0028, 0.002, 0.0015)
_VESSEL_DENSITY = (0.12, 0.11, 0.08, 0.05, 0.026, 0.012)


def _lung_markings(rng, frame, lungs):
    """Vessels branching from the hila, tapering and fading outwards, plus a faint smooth mottle.

    Only the lungs' bounding box is blurred: the markings are masked to the
    lungs anyway. Each level is blurred to its own calibre; multiplying by
    the blur width keeps the contrast the same at every image size.
    """
    segments = np.concatenate([_vessel_tree(rng, side) for side in (-1, 1)])
    level = segments[:, 4].astype(int)
    # two scales of mottle (the countless small vessels no one can trace),
    # smoothed on their coarse grids first so that linear interpolation leaves no facets
    coarse = ndimage.gaussian_filter(rng.standard_normal((24, 24)).astype(np.float32), 1.0, mode="wrap")
    fine = ndimage.gaussian_filter(rng.standard_normal((60, 60)).astype(np.float32), 0.8, mode="wrap")
    mottle = fine / fine.std() + 1.5 * ndimage.zoom(coarse / coarse.std(), 2.5, order=1, grid_mode=True,
                                                     mode="grid-wrap")
    rows, cols = np.flatnonzero(lungs.any(axis=1)), np.flatnonzero(lungs.any(axis=0))
    markings = np.zeros((frame.rows, frame.cols), np.float32)
    if not rows.size:
        return markings
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    widths = np.maximum(0.6, np.array(_VESSEL_RADIUS) * frame.scale)  # blur widths in pixels
    weights = np.array(_VESSEL_DENSITY) * math.sqrt(2 * math.pi) * widths
    for group in ((0, 1), (2, 3), (4, 5)):
        chosen = np.isin(level, group)
        canvas = _draw_segments(segments[chosen], weights[level[chosen]], frame)
        markings[box] += ndimage.gaussian_filter(canvas[box], widths[group[0]])
    # background mottle: coarse noise, smoothly enlarged to the box (no pixel-scale grain)
    height, width = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    grain = ndimage.zoom(mottle / mottle.std(), (height / 60, width / 60), order=1, grid_mode=True,
                         mode="grid-mirror")
    markings[box] += 0.035 * grain[:height, :width]
    return markings


def _density(frame, a, masks, heart_geometry, rng, sex, cage, dome):
    """Sum the tissue the beam crosses at each pixel; also return the body mask.

    ``cage`` and ``dome`` are the rib cage's half-width and the diaphragm's
    height at every pixel (computed once for the thorax mask).
    """
    pixel = frame.pixel
    x, y = frame.coords()
    soft = _soft_tissue(x, y, a, pixel)
    body = soft > 0.05
    density = np.zeros((frame.rows, frame.cols), np.float32)
    density += 1.05 * soft

    # the heart: thickest in its middle; lung wraps around its edges, so
    # some air lies in front of and behind its outer part
    window = frame.window(*_HEART_BOX)
    heart = np.zeros((frame.rows, frame.cols), np.float32)
    x_h, y_h = frame.coords(*window)
    level = _heart_level(x_h, y_h, heart_geometry)
    heart[window] = np.sqrt(np.clip(1.0 - level, 0.0, 1.0))
    # the left ventricle makes the heart densest towards its apex, at the lower image right
    g = heart_geometry
    along = (math.cos(g["tilt"]) * (x_h - g["x"]) + math.sin(g["tilt"]) * (y_h - g["y"])) / (g["right"] + g["left"])
    heart_mass = np.zeros_like(heart)
    # the heart sits on the diaphragm, soft tissue on soft tissue: no line
    # shows where it ends (cut at the thorax mask, the dome would show through it)
    on_dome = _smoothstep((dome[window] - y_h) / 0.05 + 0.5)
    heart_mass[window] = np.clip(1.0 - level, 0.0, 1.0) ** 0.75 * (0.3 + 1.0 * _smoothstep(along + 0.45)) * on_dome
    heart_soft = np.zeros_like(heart)
    heart_soft[window] = heart[window] * on_dome
    heart *= masks["thorax"]

    # lungs: air, deepest away from their borders (a blurred mask is cheaper
    # than a distance transform and also thins the air in narrow apices)
    size = max(3, round(0.03 * frame.scale)) | 1
    lungs = masks["lungs"].astype(np.float32)
    # only the heart's borders with the lungs (not its top in the mediastinum,
    # nor its base on the diaphragm) have lung in front of and behind them
    beside = np.clip(2.0 * ndimage.uniform_filter(lungs, 3 * size), 0.0, 1.0)
    overlap = 0.6 * (1.0 - heart) ** 1.5 * masks["heart"] * beside
    air = ndimage.uniform_filter(lungs + overlap, size)
    # less air where the lung thins: towards the apices and the lateral wall
    air *= 0.7 + 0.3 * np.sqrt(np.clip(1.0 - (np.abs(x) / (cage + 0.02)) ** 2, 0.0, 1.0))
    air *= (0.72 + 0.28 * _smoothstep((y - a["apex_y"]) / 0.25)) * (1.0 - 0.1 * _smoothstep((y - 0.05) / 0.2))
    density -= a["lung_air"] * air
    # the posterior costophrenic recesses: some air behind the domes, fading
    # downwards from a crisp but anti-aliased edge at the dome (the binary
    # lung mask leaves steps along it), ending smoothly inside the wall
    recess = _smoothstep((0.95 * cage - np.abs(x)) / 0.05) * _smoothstep((np.abs(x) - 0.1) / 0.1)
    recess = recess * np.exp(-np.clip(y - dome, 0.0, None) / 0.035) * np.clip((y - dome) / (2 * pixel) + 0.5, 0.0, 1.0)
    density -= 0.22 * a["lung_air"] * recess * (1.0 - masks["heart"])
    # the mediastinum: soft tissue with no lung in front of it or behind it
    centre = ndimage.uniform_filter((masks["thorax"] & ~masks["lungs"]).astype(np.float32), size // 2 | 1)
    # the lower lobes lie behind the heart: some air under its thinner right
    # part, so that it is graded, not a flat white blob
    retrocardiac = 0.4 * a["lung_air"] * heart_soft**2
    density += 0.16 * centre * (1.0 - 0.4 * heart_soft**2) + 0.42 * heart_mass - retrocardiac

    # more markings at the hila and the bases (gravity, larger vessels), fewer at the apices and the periphery
    zones = 0.5 + 0.5 * _smoothstep((y - a["apex_y"]) / 0.45)
    zones = zones * (1.0 - 0.35 * _smoothstep((np.abs(x) / np.maximum(cage, 0.05) - 0.6) / 0.4))
    density += np.clip(2.0 * air, 0.0, 1.0) * lungs * zones * _lung_markings(rng, frame, masks["lungs"])
    window = frame.window(-0.2, 0.2, -0.2, 0.05)
    if window is not None:  # the hila are seen against the lungs; over the heart they add little
        density[window] += _hila(*frame.coords(*window)) * (1.0 - 0.8 * heart[window]) * (1.0 - 0.5 * centre[window])
    _add(density, frame, (-0.12, 0.12, -0.26, 0.3), _mediastinal_vessels)
    window = frame.window(-0.06, 0.06, -0.6, 0.6)
    if window is not None:  # the spine, faint behind the heart and below the domes
        x_s, y_s = frame.coords(*window)
        # the film curve flattens the dense heart: a little more bone there keeps the spine faintly visible
        fade = (1.0 + 0.5 * heart[window]) * (1.0 - 0.5 * _smoothstep((y_s - a["dome_right_y"]) / 0.1))
        density[window] += _spine(x_s, y_s, fade)
    _add(density, frame, (-0.12, 0.12, -0.6, -0.06), _airways)
    window = frame.window(-0.47, 0.47, a["apex_y"] - 0.05, a["costophrenic_y"] + 0.12)
    if window is not None:
        # on large images the ribs (the costliest part) are drawn on every other
        # pixel and interpolated: still several pixels across each rib
        step = 2 if min(frame.rows, frame.cols) >= 384 else 1
        coarse = tuple(slice(w.start, w.stop, step) for w in window)
        ribs = _ribs(*frame.coords(*coarse), a, heart[coarse], cage[coarse], dome[coarse], step * pixel)
        density[window] += _upsample(ribs, step, (window[0].stop - window[0].start, window[1].stop - window[1].start))
    _add(density, frame, (-0.47, 0.47, -0.45, -0.18), lambda x, y: _clavicles(x, y, a))
    for side in (-1, 1):  # one box per side: the middle holds no shoulder
        inner, outer = side * (a["scapula_x"] - 0.01), side * 0.7
        _add(density, frame, (min(inner, outer), max(inner, outer), a["shoulder_y"] - 0.02, a["shoulder_y"] + 0.45),
             lambda x, y: _shoulder_bones(x, y, a))
    _add(density, frame, (-0.5, 0.5, 0.1, 0.6), lambda x, y: _abdomen(x, y, a))
    if sex == "F":
        _add(density, frame, (-0.6, 0.6, -0.15, 0.35), lambda x, y: _breasts(x, y, a))
    return np.clip(density * body, 0.0, None), body


# --------------------------------------------------------------------------
# burned-in text and the lead marker (on the detector: they do not rotate)


@lru_cache(maxsize=1)
def _font():
    from PIL import ImageFont

    # Pillow's built-in bitmap font: nothing to download, and unlike the
    # anti-aliased FreeType default its pixels cannot change between versions.
    return ImageFont.load_default_imagefont()


def _text_bitmap(lines, scale):
    """Boolean pixels of lines of text in the built-in font, cropped to the ink, scaled up."""
    from PIL import Image, ImageDraw

    font = _font()
    height = font.getbbox("Ag")[3]
    width = max(font.getbbox(line)[2] for line in lines)
    canvas = Image.new("L", (width, (height + 1) * len(lines)))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((0, i * (height + 1)), line, fill=255, font=font)
    ink = np.asarray(canvas) > 0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return np.repeat(np.repeat(ink, scale, axis=0), scale, axis=1)


def _marker_bitmap(letter, style, scale):
    glyph = _text_bitmap([letter], scale)
    if style == "plain":
        return glyph
    pad, line = 2 * scale, scale
    boxed = np.pad(glyph, pad + line)
    boxed[:line] = boxed[-line:] = True
    boxed[:, :line] = boxed[:, -line:] = True
    return boxed


def _place(bitmap, corners, shape, margin, forbidden, avoid):
    """Box of the first corner where the bitmap misses ``forbidden`` (and ``avoid``, if any corner can)."""
    rows, cols = shape
    h, w = bitmap.shape
    fits = []
    for corner in corners:
        r0 = margin if corner[0] == "t" else rows - margin - h
        c0 = margin if corner[1] == "l" else cols - margin - w
        if r0 < 0 or c0 < 0 or r0 + h > rows or c0 + w > cols:
            continue
        window = (slice(r0, r0 + h), slice(c0, c0 + w))
        if not (forbidden[window] & bitmap).any():
            fits.append(((avoid[window] & bitmap).any(), (r0, c0, r0 + h, c0 + w)))
    return min(fits, key=lambda fit: fit[0])[1] if fits else None  # min is stable: corner order wins ties


def _corner_of(box, shape):
    return ("t" if box[0] < shape[0] - box[2] else "b") + ("l" if box[1] < shape[1] - box[3] else "r")


def _burn_in(text, marker, marker_style, shape, margin, thorax, body):
    """Put the marker and the text in corners outside the thorax (outside the body if they can)."""
    unit = min(shape)
    text_mask = np.zeros(shape, bool)
    forbidden = ndimage.binary_dilation(thorax, iterations=3)
    boxes = []
    # an "L" marker goes on the patient's left, the image right on a PA view;
    # it never changes sides, even if it has to sit on soft tissue
    marker_corners = ("tr", "br") if marker == "L" else ("tl", "bl")
    if marker is not None:
        bitmap = _marker_bitmap(marker, marker_style, max(1, round(unit / 220)))
        box = _place(bitmap, marker_corners, shape, margin, forbidden, body)
        if box is None:
            raise ValueError(f"marker {marker!r} does not fit outside the thorax; use a larger shape")
        text_mask[box[0] : box[2], box[1] : box[3]] |= bitmap
        boxes.append(box)
    if text is not None:
        scale = max(1, round(unit / 400))
        forbidden = forbidden | ndimage.binary_dilation(text_mask, iterations=2 * scale)
        taken = [_corner_of(box, shape) for box in boxes]
        corners = [c for c in ("tl", "tr", "bl", "br") if c not in taken] + taken
        best = None
        for lines in ([text], text.split()):  # wrap, one word per line, if one line will not fit
            bitmap = _text_bitmap(lines, scale)
            box = _place(bitmap, corners, shape, margin, forbidden, body)
            if box is None:
                continue
            clear = not (body[box[0] : box[2], box[1] : box[3]] & bitmap).any()
            if best is None or (clear and not best[2]):
                best = (bitmap, box, clear)
            if clear:
                break
        if best is None:
            raise ValueError(f"text {text!r} does not fit outside the thorax; shorten it or use a larger shape")
        bitmap, box, _ = best
        text_mask[box[0] : box[2], box[1] : box[3]] |= bitmap
        boxes.insert(0, box)
    return text_mask, boxes


# --------------------------------------------------------------------------
# the public generator


def synthetic_radiograph(
    *,
    seed=0,
    shape=(512, 512),
    ctr=0.45,
    body_size=1.0,
    rotation=0.0,
    exposure=1.0,
    contrast=1.0,
    noise=0.02,
    border=0,
    text=None,
    marker="L",
    marker_style="box",
    dtype="uint8",
    sex=None,
) -> SyntheticRadiograph:
    """Draw a synthetic PA chest radiograph with its masks.

    Parameters
    ----------
    seed : int
        Seeds ``numpy.random.default_rng``: the anatomy's small variations,
        the vessel tree, the texture and the noise. Same arguments, same arrays.
    shape : (int, int)
        Rows and columns, each from 64 to 4096.
    ctr : float in (0.2, 0.9)
        Target cardiothoracic ratio; the measured ``.ctr`` is within 0.02 of
        it from 0.35 to 0.7 (above 0.5 reads as cardiomegaly).
    body_size : float in [0.6, 1.25]
        Size of the patient relative to the image's shorter side.
    rotation : float in [-30, 30]
        Degrees the patient is turned, counter-clockwise as displayed (the
        convention of ``skimage.transform.rotate``). The masks turn with it.
    exposure : float in [0.25, 4]
        A higher exposure gives a darker image.
    contrast : float in (0, 4]
        Stretch of the grey levels around mid-grey.
    noise : float in [0, 0.5]
        Standard deviation of the quantum noise where the image is brightest,
        as a fraction of full scale.
    border : int
        Width in pixels of a dark collimation border along every edge
        (at most a quarter of the shorter side).
    text : str or None
        Burned-in text (printable ASCII), e.g. ``"DOE^JANE 2019-03-04"``,
        put in a corner outside the thorax, wrapped if one line will not fit.
    marker : {"L", "R", None}
        Lead side marker, in the top corner on that side of the patient.
    marker_style : {"box", "plain"}
        The letter in a box, or the letter alone.
    dtype : {"uint8", "uint16"}
        ``uint16`` images use 12 bits (0..4095).
    sex : {"F", "M", None}
        ``"F"`` adds breast shadows over the lower zones; None draws the
        sex from the seed (``params["sex"]`` holds the one drawn).

    Returns
    -------
    SyntheticRadiograph

    Raises
    ------
    TypeError, ValueError
        For a bad argument; the message names it.

    Examples
    --------
    >>> normal = synthetic_radiograph(seed=1, shape=(128, 128), ctr=0.42)
    >>> enlarged = synthetic_radiograph(seed=1, shape=(128, 128), ctr=0.62)
    >>> bool(enlarged.masks["heart"].sum() > normal.masks["heart"].sum())
    True
    >>> bool((normal.masks["text"] & normal.masks["thorax"]).any())
    False
    """
    seed = _check_int("seed", seed, 0)
    rows, cols = _check_shape(shape)
    ctr = _check_real("ctr", ctr, 0.2, 0.9, low_open=True, high_open=True)
    body_size = _check_real("body_size", body_size, 0.6, 1.25)
    rotation = _check_real("rotation", rotation, -30.0, 30.0)
    exposure = _check_real("exposure", exposure, 0.25, 4.0)
    contrast = _check_real("contrast", contrast, 0.0, 4.0, low_open=True)
    noise = _check_real("noise", noise, 0.0, 0.5)
    border = _check_int("border", border, 0, min(rows, cols) // 4)
    text = _check_text(text)
    if marker not in ("L", "R", None):
        raise ValueError(f"marker must be 'L', 'R' or None, got {marker!r}")
    if marker_style not in _MARKER_STYLES:
        raise ValueError(f"marker_style must be one of {_MARKER_STYLES}, got {marker_style!r}")
    dtype = _check_dtype(dtype)
    if sex not in ("F", "M", None):
        raise ValueError(f"sex must be 'F', 'M' or None, got {sex!r}")

    rng = np.random.default_rng(seed)
    anatomy = _draw_anatomy(rng)
    drawn = rng.random()  # drawn even when sex is given, so that params["sex"] redraws the same pixels
    if sex is None:
        sex = "F" if drawn < 0.5 else "M"
    frame = _Frame(rows, cols, body_size, rotation)
    x, y = frame.coords()
    thorax, cage, dome = _thorax_mask(x, y, anatomy)
    heart_width, heart, heart_extent = _fit_heart(frame, anatomy, thorax, ctr)
    left, right = _along(_mediastinum_half_widths, y, anatomy)
    lungs = _largest_per_side(thorax & ~heart & ((x < -left) | (x > right)), frame)
    masks = {"thorax": thorax, "lungs": lungs, "heart": heart}
    density, body = _density(frame, anatomy, masks, _heart_geometry(anatomy, heart_width), rng, sex, cage, dome)

    # film response (dense is bright; more exposure is darker), contrast
    # around mid-grey, then quantum noise, strongest where fewest photons arrive
    bright = 1.0 - np.exp(-1.4 * density / exposure)
    # the detector's image processing lifts local contrast (an unsharp mask
    # several centimetres wide): graded abdomen and mediastinum, not flat white
    # (blurred at a quarter of the resolution: it is smooth anyway, and 16 times cheaper)
    quarter = bright[::4, ::4]
    smooth = max(3, round(0.02 * frame.scale)) | 1
    quarter = ndimage.uniform_filter(ndimage.uniform_filter(quarter, smooth), smooth)
    bright += 0.3 * (bright - _upsample(quarter, 4, (rows, cols)))
    bright = 0.5 + contrast * (bright - 0.5)
    bright += noise * (0.35 + 0.65 * np.clip(bright, 0.0, 1.0)) * rng.standard_normal(bright.shape, np.float32)
    # a soft toe instead of a hard clip: dark lungs keep some grey (no pile-up at 0)
    toe = np.float32(0.08)
    bright = np.where(bright < toe, toe * np.exp((bright - toe) / toe), np.minimum(bright, 1.0))
    bright[~body] = np.minimum(bright[~body], toe)  # air outside the patient stays black

    margin = border + max(2, round(min(rows, cols) / 100))
    text_mask, boxes = _burn_in(text, marker, marker_style, (rows, cols), margin, thorax, body)
    if border:
        bright[:border], bright[-border:], bright[:, :border], bright[:, -border:] = 0.03, 0.03, 0.03, 0.03
    bright[text_mask] = 1.0
    masks["text"] = text_mask

    image = np.round(bright * _DTYPE_MAX[dtype]).astype(dtype)
    thorax_extent = _column_extent(thorax)
    params = {
        "seed": seed, "shape": (rows, cols), "ctr": ctr, "body_size": body_size, "rotation": rotation,
        "exposure": exposure, "contrast": contrast, "noise": noise, "border": border, "text": text,
        "marker": marker, "marker_style": marker_style, "dtype": dtype, "sex": sex,
        "text_boxes": [tuple(int(v) for v in box) for box in boxes],
        "heart_width_px": heart_extent, "thorax_width_px": thorax_extent,
        "anatomy": anatomy,
    }
    return SyntheticRadiograph(image=image, masks=masks, ctr=heart_extent / thorax_extent, params=params)


def pack_masks(masks):
    """Pack boolean masks into one uint8 image (the course's mask PNG format).

    Bits: 1 thorax, 2 lungs, 4 heart, 8 burned-in text and markers (the
    bits of :data:`medprep_helpers.data.MASK_BITS`); missing masks stay 0.

    Examples
    --------
    >>> packed = pack_masks({"thorax": np.array([[True, True]]), "heart": np.array([[False, True]])})
    >>> packed.tolist()
    [[1, 5]]
    """
    from medprep_helpers.data import MASK_BITS

    unknown = set(masks) - set(MASK_BITS)
    if unknown:
        raise ValueError(f"masks has unknown names {sorted(unknown)}; expected some of {sorted(MASK_BITS)}")
    shapes = {np.shape(m) for m in masks.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"masks must be 2-D arrays of one shape, got shapes {sorted(shapes)}")
    packed = np.zeros(next(iter(shapes)), np.uint8)
    for name, mask in masks.items():
        packed |= np.where(np.asarray(mask, bool), np.uint8(MASK_BITS[name]), np.uint8(0))
    return packed


# --------------------------------------------------------------------------
# the cohort: three sites, batch effects and a confounded label

#: How each site acquires its images (the batch effects). ``share`` is the
#: site's fraction of the cohort; ``border`` a (min, max) width in pixels.
SITE_PROTOCOLS = {
    "clinic": {  # outpatient TB screening, first-year radiography students
        "share": 0.35, "shape": (256, 256), "exposure": 1.35, "contrast": 0.9, "noise": 0.03,
        "border": (8, 14), "marker_style": "plain", "marker_missing": 0.15, "rotation_sd": 3.0,
    },
    "hospital": {  # tertiary inpatient hospital: many portable AP films
        "share": 0.35, "shape": (288, 320), "exposure": 1.0, "contrast": 1.1, "noise": 0.012,
        "border": (0, 0), "marker_style": "box", "marker_missing": 0.0, "rotation_sd": 2.0,
    },
    "community": {  # community practice that burns the patient's name into the image
        "share": 0.30, "shape": (272, 272), "exposure": 0.92, "contrast": 1.0, "noise": 0.018,
        "border": (0, 4), "marker_style": "box", "marker_missing": 0.0, "rotation_sd": 1.5,
    },
}

# Who each site sees at full confounding (confounding=1): the lesson's scenario.
_SITE_CASE_MIX = {
    "clinic": {"cardiomegaly": 0.02, "age": 30.0, "male": 0.40, "ap": 0.02},
    "hospital": {"cardiomegaly": 0.85, "age": 70.0, "male": 0.68, "ap": 0.65},
    "community": {"cardiomegaly": 0.25, "age": 52.0, "male": 0.50, "ap": 0.10},
}

_FIELD_MM = 400.0  # the shorter image side spans 40 cm at every site
_SURNAMES = ("DOE", "ROE", "POE", "MOE", "LEE", "FOX", "KAY", "RAY")
_GIVEN = ("JANE", "JOHN", "ANN", "MAX", "EVA", "SAM", "LIV", "BEN")


def _case_mix(confounding):
    """Per-site probabilities and mean age for a confounding strength in [0, 1].

    At 0 every site has the cohort-wide mix (share-weighted mean of the
    full-strength mixes); at 1 each site has its own; in between, linear.
    """
    shares = {site: SITE_PROTOCOLS[site]["share"] for site in SITE_PROTOCOLS}
    pooled = {key: sum(shares[s] * _SITE_CASE_MIX[s][key] for s in shares) for key in _SITE_CASE_MIX["clinic"]}
    return {
        site: {key: (1 - confounding) * pooled[key] + confounding * mix[key] for key in pooled}
        for site, mix in _SITE_CASE_MIX.items()
    }


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def make_cohort(n=240, *, seed=0, confounding=0.8, shape_by_site=None):
    """A synthetic multi-site cohort: metadata and radiographs.

    Three sites (``clinic``, ``hospital``, ``community``) differ in image
    size, exposure, contrast, noise, collimation border, marker style and
    burned-in text (the batch effects), and in whom they see.

    Parameters
    ----------
    n : int
        Number of subjects (at least 3); sites get 35 / 35 / 30 %.
    seed : int
        Seeds everything; each subject's image seed is in the ``seed`` column.
    confounding : float in [0, 1]
        How strongly site goes with the label and with age, sex and view.
        0: every site sees the same mix of patients (cardiomegaly rate about
        0.38, mean age about 51, same sex ratio and AP rate), so the label is
        independent of site, age and sex. 1: the lesson's scenario in full:
        the clinic sees young, healthy patients (2 % cardiomegaly, mean age
        30), the hospital older ones (85 %, mean age 70), more men and mostly
        AP supine films; within a site, patients with cardiomegaly are also
        older and more often male. Values in between mix the two linearly;
        the default 0.8 still leaves some cardiomegaly outside the hospital
        and some normal hearts inside it.
    shape_by_site : dict, optional
        Image shape (rows, cols) per site, overriding :data:`SITE_PROTOCOLS`
        (e.g. smaller images for quick tests); each side at least 128.

    Returns
    -------
    metadata : pandas.DataFrame
        One row per subject: ``subject_id`` ("sub-0001", ...), ``site``,
        ``age`` (years), ``sex`` ("F"/"M"), ``view`` ("PA"/"AP"),
        ``position`` ("erect"/"supine"), ``ctr`` (measured from the masks),
        ``cardiomegaly`` (``ctr > 0.5``), ``heart_width_px``,
        ``thorax_width_px``, ``pixel_spacing_mm``, ``study_date``, and every
        argument given to :func:`synthetic_radiograph` (``seed``, ``rows``,
        ``cols``, ``target_ctr``, ``body_size``, ``rotation``, ``exposure``,
        ``contrast``, ``noise``, ``border``, ``marker``, ``marker_style``,
        ``text``; no marker or text is an empty string).
    radiographs : list of SyntheticRadiograph
        In the order of the rows.

    Notes
    -----
    CTR follows biology a little: within each class it rises with age, is
    slightly higher in women and on AP films (magnification). Normal hearts
    get a CTR of 0.35 to 0.48 and enlarged ones 0.52 to 0.68, so the label
    never hangs on a pixel of measurement.

    Examples
    --------
    >>> small = {site: (128, 128) for site in SITE_PROTOCOLS}
    >>> meta, images = make_cohort(12, seed=1, shape_by_site=small)
    >>> len(meta), sorted(meta["site"].unique())
    (12, ['clinic', 'community', 'hospital'])
    >>> bool((meta["cardiomegaly"] == (meta["ctr"] > 0.5)).all())
    True
    """
    n = _check_int("n", n, 3, 100_000)
    seed = _check_int("seed", seed, 0)
    confounding = _check_real("confounding", confounding, 0.0, 1.0)
    shapes = {site: protocol["shape"] for site, protocol in SITE_PROTOCOLS.items()}
    if shape_by_site is not None:
        if not isinstance(shape_by_site, dict):
            raise TypeError(f"shape_by_site must be a dict of site -> (rows, cols), got {type(shape_by_site).__name__}")
        for site, shape in shape_by_site.items():
            if site not in SITE_PROTOCOLS:
                raise ValueError(f"shape_by_site has unknown site {site!r}; sites are {sorted(SITE_PROTOCOLS)}")
            rows, cols = _check_shape(shape, f"shape_by_site[{site!r}]")
            if min(rows, cols) < 128:
                raise ValueError(f"shape_by_site[{site!r}] must be at least 128 x 128, got {shape!r}")
            shapes[site] = (rows, cols)

    rng = np.random.default_rng(seed)
    mix = _case_mix(confounding)
    counts = {site: int(round(p["share"] * n)) for site, p in SITE_PROTOCOLS.items()}
    counts["community"] = n - counts["clinic"] - counts["hospital"]
    sites = rng.permutation(np.repeat(list(counts), list(counts.values())))

    rows, radiographs = [], []
    for number, site in enumerate(sites, start=1):
        protocol, case = SITE_PROTOCOLS[site], mix[site]
        diseased = rng.random() < case["cardiomegaly"]
        # within a site, cardiomegaly patients are older and more often male (as confounding grows)
        tilt = 1.0 if diseased else -1.0
        age = int(np.clip(round(rng.normal(case["age"] + confounding * 6.0 * tilt, 12.0)), 18, 95))
        male = rng.random() < np.clip(case["male"] + confounding * 0.08 * tilt, 0.0, 1.0)
        view = "AP" if rng.random() < case["ap"] else "PA"
        position = "supine" if view == "AP" and rng.random() < 0.75 else "erect"
        # CTR: age and sex shift it within each class (real biology), AP magnifies the heart
        z = 0.06 * (age - 50) + (0.0 if male else 0.4) + rng.normal(0.0, 0.8)
        ap = view == "AP"
        target = 0.52 + 0.14 * _sigmoid(z) + 0.02 * ap if diseased else 0.35 + 0.115 * _sigmoid(z) + 0.015 * ap
        body_size = float(np.clip(rng.normal(0.98 if male else 0.93, 0.025) + 0.02 * ap, 0.86, 1.05))
        border_low, border_high = protocol["border"]
        marker = None if rng.random() < protocol["marker_missing"] else "L"
        date = datetime.date(2016, 1, 1) + datetime.timedelta(days=int(rng.integers(0, 8 * 365)))
        if site == "community":
            text = f"{rng.choice(_SURNAMES)}^{rng.choice(_GIVEN)} {date.isoformat()}"
        elif site == "hospital" and view == "AP":
            text = "PORTABLE"
        else:
            text = None
        kwargs = {
            "seed": int(rng.integers(0, 2**31 - 1)),
            "shape": shapes[site],
            "ctr": round(float(target), 4),
            "body_size": round(body_size, 4),
            "rotation": round(float(np.clip(rng.normal(0.0, protocol["rotation_sd"]), -8, 8)), 2),
            "exposure": round(float(protocol["exposure"] * np.exp(rng.normal(0.0, 0.07))), 4),
            "contrast": round(float(protocol["contrast"] * np.exp(rng.normal(0.0, 0.05))), 4),
            "noise": round(float(protocol["noise"] * rng.uniform(0.85, 1.15)), 5),
            "border": int(rng.integers(border_low, border_high + 1)),
            "text": text,
            "marker": marker,
            "marker_style": protocol["marker_style"],
            "dtype": "uint8",
            "sex": "M" if male else "F",
        }
        cxr = synthetic_radiograph(**kwargs)
        radiographs.append(cxr)
        rows.append({
            "subject_id": f"sub-{number:04d}",
            "site": str(site),
            "age": age,
            "sex": "M" if male else "F",
            "view": view,
            "position": position,
            "ctr": round(cxr.ctr, 6),
            "cardiomegaly": bool(cxr.ctr > 0.5),
            "heart_width_px": cxr.params["heart_width_px"],
            "thorax_width_px": cxr.params["thorax_width_px"],
            "pixel_spacing_mm": round(_FIELD_MM / min(kwargs["shape"]), 4),
            "study_date": date.isoformat(),
            "seed": kwargs["seed"],
            "rows": kwargs["shape"][0],
            "cols": kwargs["shape"][1],
            "target_ctr": kwargs["ctr"],
            **{k: kwargs[k] for k in ("body_size", "rotation", "exposure", "contrast", "noise", "border")},
            "marker": marker or "",
            "marker_style": kwargs["marker_style"],
            "text": text or "",
        })
    return pd.DataFrame(rows), radiographs


# --------------------------------------------------------------------------
# the course data

#: The lesson's three example radiographs: arguments to synthetic_radiograph
#: and how each is stored (the storage differences are part of the lesson).
COURSE_EXAMPLES = {
    "normal_rotated": {
        "stored_as": "8-bit grey PNG",
        "args": {"seed": 11, "shape": (560, 480), "ctr": 0.44, "rotation": 3.0, "noise": 0.015,
                 "text": "DOE^JANE 2019-03-04", "marker": "L", "marker_style": "box", "dtype": "uint8",
                 "sex": "F"},
    },
    "cardiomegaly": {
        "stored_as": "RGBA PNG, as screenshot exports often are",
        "args": {"seed": 12, "shape": (620, 700), "ctr": 0.6, "body_size": 0.95, "noise": 0.015, "exposure": 1.1,
                 "text": "ROE^JOHN 2020-11-17", "marker": "L", "marker_style": "plain", "dtype": "uint8",
                 "sex": "M"},
    },
    "normal_2": {
        "stored_as": "16-bit grey PNG (12 bits used)",
        "args": {"seed": 13, "shape": (512, 512), "ctr": 0.43, "rotation": -1.0, "noise": 0.012,
                 "text": "POE^ANN 2018-06-30", "marker": "L", "marker_style": "box", "dtype": "uint16",
                 "sex": "F"},
    },
}
COHORT_SIZE, COHORT_SEED, COHORT_CONFOUNDING = 240, 2024, 0.8


def _write_png(path, array):
    from PIL import Image

    # Pillow writes uint8 grey/RGBA and uint16 grey ("I;16") losslessly
    Image.fromarray(array).save(path, compress_level=6)


def write_course_data(directory):
    """Write the course's synthetic data under ``directory``.

    Layout: ``examples/{normal_rotated,cardiomegaly,normal_2}.png`` with
    ``<name>_masks.png`` and ``examples/examples.csv``; ``cohort/metadata.csv``,
    ``cohort/images/<subject_id>.png`` and ``cohort/masks/<subject_id>.png``
    for :data:`COHORT_SIZE` subjects. Mask PNGs are bit-packed
    (:func:`pack_masks`). Writing again gives identical pixel arrays.
    Only ``python -m medprep_helpers.data --generate`` should point this at
    the course's ``data/`` folder.

    Returns
    -------
    list of pathlib.Path
        Every file written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:  # doctest: +SKIP
    ...     written = write_course_data(folder)
    """
    if not isinstance(directory, (str, Path)):
        raise TypeError(f"directory must be a str or pathlib.Path, got {type(directory).__name__}")
    root = Path(directory)
    examples, images, masks = root / "examples", root / "cohort" / "images", root / "cohort" / "masks"
    for folder in (examples, images, masks):
        folder.mkdir(parents=True, exist_ok=True)
    written = []

    rows = []
    for name, spec in COURSE_EXAMPLES.items():
        cxr = synthetic_radiograph(**spec["args"])
        image = cxr.image
        if name == "cardiomegaly":
            image = np.dstack([image, image, image, np.full_like(image, 255)])
        _write_png(examples / f"{name}.png", image)
        _write_png(examples / f"{name}_masks.png", pack_masks(cxr.masks))
        written += [examples / f"{name}.png", examples / f"{name}_masks.png"]
        args = cxr.params
        rows.append({
            "name": name, "image_file": f"{name}.png", "mask_file": f"{name}_masks.png",
            "stored_as": spec["stored_as"], "rows": image.shape[0], "cols": image.shape[1],
            "channels": 1 if image.ndim == 2 else image.shape[2], "dtype": image.dtype.name,
            "ctr": round(cxr.ctr, 6), "cardiomegaly": bool(cxr.ctr > 0.5),
            "heart_width_px": args["heart_width_px"], "thorax_width_px": args["thorax_width_px"],
            "pixel_spacing_mm": round(_FIELD_MM / min(image.shape[:2]), 4),
            **{k: args[k] for k in ("seed", "rotation", "body_size", "exposure", "noise")},
            "text": args["text"] or "", "marker": args["marker"] or "",
        })
    pd.DataFrame(rows).to_csv(examples / "examples.csv", index=False)
    written.append(examples / "examples.csv")

    metadata, radiographs = make_cohort(COHORT_SIZE, seed=COHORT_SEED, confounding=COHORT_CONFOUNDING)
    metadata["image_file"] = [f"images/{sid}.png" for sid in metadata["subject_id"]]
    metadata["mask_file"] = [f"masks/{sid}.png" for sid in metadata["subject_id"]]
    for subject_id, cxr in zip(metadata["subject_id"], radiographs):
        _write_png(images / f"{subject_id}.png", cxr.image)
        _write_png(masks / f"{subject_id}.png", pack_masks(cxr.masks))
        written += [images / f"{subject_id}.png", masks / f"{subject_id}.png"]
    metadata.to_csv(root / "cohort" / "metadata.csv", index=False)
    written.append(root / "cohort" / "metadata.csv")
    return written
