"""Augmentations that move an image and its masks together, reproducibly.

Every function here takes a 2-D grey image and, optionally, a dict of boolean
masks of the same shape (``{"thorax": ..., "lungs": ..., "heart": ...}``, as
:func:`medprep_helpers.data.load_example` returns them), and gives back the
transformed image and the transformed masks, still aligned.

Conventions, the same for every function:

- **Images** are interpolated linearly (``order=1``) with
  ``preserve_range=True`` and come back as **float64 in the input's own
  range** (a uint8 image gives floats between 0 and 255). We do not cast
  back: rounding would throw away the sub-pixel information interpolation
  creates, and a float64 result is what scikit-image returns too. Cast back
  yourself if you need to, e.g. ``np.rint(out).astype(np.uint8)``.
- **Masks** are interpolated with nearest neighbour (``order=0``) and stay
  ``bool``: a pixel is in the heart or it is not.
- Pixels that come from outside the input are filled with ``cval`` (default
  0, black) in the image and ``False`` in the masks. Warps do not clip
  (``clip=False``): linear interpolation cannot overshoot, and scikit-image's
  clipping would hide the soft edge between image and ``cval`` whenever no
  pixel is entirely ``cval``.
- Inputs are never modified; outputs never share memory with inputs.
- Geometry uses scikit-image's ``(x, y) = (column, row)`` convention for
  points; angles of rotation are in degrees, counter-clockwise on screen
  (as :func:`skimage.transform.rotate`), shears in radians.

:func:`random_augment` draws a small, realistic affine augmentation from a
seed, applies it as one composed warp, and returns the parameters it drew, so
that :func:`apply_augmentation` reproduces the image exactly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2gray, rgba2rgb
from skimage.transform import AffineTransform, PiecewiseAffineTransform, resize, warp, warp_coords

__all__ = [
    "to_grayscale_float",
    "rotate_with_masks",
    "shear_with_masks",
    "WaveMesh",
    "wave_warp_with_masks",
    "crop_with_masks",
    "resize_with_masks",
    "largest_valid_crop",
    "content_bounding_box",
    "draw_augmentation_params",
    "augmentation_transform",
    "apply_augmentation",
    "random_augment",
    "augment_batch",
]

# The parameters of one affine augmentation and the values that leave an image unchanged.
_IDENTITY_PARAMS = {
    "rotation": 0.0,  # degrees, counter-clockwise on screen
    "shear": 0.0,  # radians; lower rows move right for positive values
    "scale": 1.0,  # zoom factor; > 1 magnifies
    "shift_rows": 0.0,  # fraction of the image height; > 0 moves content down
    "shift_cols": 0.0,  # fraction of the image width; > 0 moves content right
    "flip": False,  # mirror left-right (not realistic for chest radiographs)
}

# Sanity limits for the bounds of random_augment: beyond them an "augmentation"
# is no longer a plausible radiograph.
_BOUND_LIMITS = {
    "max_rotation": (45.0, "degrees"),
    "max_shear": (0.5, "radians"),
    "max_scale": (0.5, "(a fraction: zoom factors 1 - max_scale .. 1 + max_scale)"),
    "max_shift": (0.5, "(a fraction of the image size)"),
}


# --------------------------------------------------------------------------- validation
def _real(value, name: str) -> float:
    """A finite real number as a float, or a TypeError/ValueError that names it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _pair_of_ints(value, name: str, minimum: int = 1) -> tuple[int, int]:
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = tuple(value.tolist())
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of integers (rows, cols), got {value!r}")
    return (_positive_int(value[0], f"{name}[0]", minimum), _positive_int(value[1], f"{name}[1]", minimum))


def _check_image(image, name: str = "image") -> np.ndarray:
    """Check that ``image`` is a finite 2-D grey image; return it ready for scikit-image.

    Integer and float64 images are returned as they are (scikit-image converts
    integers to float64 itself, and every helper writes its result into a new
    array); only bool, float16 and float32 images are converted here, so that
    every result is float64. Not copying matters for speed: a needless 2 MB
    copy per 512 x 512 image costs as much as a tenth of the warp itself.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D grey image (rows, cols), got shape {image.shape}; "
            "convert colour images with to_grayscale_float first"
        )
    if image.size == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    if image.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {image.dtype}")
    if image.dtype.kind == "f" and not np.isfinite(image).all():  # integers are always finite
        raise ValueError(f"{name} contains NaN or infinite values")
    if image.dtype == bool or (image.dtype.kind == "f" and image.dtype != np.float64):
        return image.astype(np.float64)
    return image


def _check_masks(masks, shape: tuple[int, ...], name: str = "masks") -> dict[str, np.ndarray] | None:
    """``None``, or a dict of boolean arrays that all have the image's shape."""
    if masks is None:
        return None
    if not isinstance(masks, Mapping):
        raise TypeError(f"{name} must be a dict of boolean arrays (or None), got {type(masks).__name__}")
    for key, mask in masks.items():
        label = f"{name}[{key!r}]"
        if not isinstance(mask, np.ndarray):
            raise TypeError(f"{label} must be a numpy array, got {type(mask).__name__}")
        if mask.dtype != bool:
            raise TypeError(f"{label} must be a boolean array, got dtype {mask.dtype} (use mask > 0)")
        if mask.shape != tuple(shape):
            raise ValueError(f"{label} has shape {mask.shape} but the image has shape {tuple(shape)}")
    return dict(masks)


def _check_cval(cval) -> float:
    return _real(cval, "cval")


# --------------------------------------------------------------------------- masks, packed
# Every mask of an image moves with the same nearest-neighbour map, so we pack up
# to 8 masks into the bits of one uint8 image and warp that once: nearest
# neighbour copies whole source pixels, so the bits come back exact. This is
# what makes the helpers faster than warping mask after mask (bench/bench_augment.py).
_BITS_PER_LAYER = 8


def _transform_masks(masks: dict[str, np.ndarray] | None, transform_layer: Callable[[np.ndarray], np.ndarray]):
    """Apply ``transform_layer`` (a nearest-neighbour map of a uint8 image) to every mask."""
    if masks is None:
        return None
    names = list(masks)
    result = {}
    for start in range(0, len(names), _BITS_PER_LAYER):
        chunk = names[start : start + _BITS_PER_LAYER]
        packed = np.zeros(masks[chunk[0]].shape, dtype=np.uint8)
        for bit, key in enumerate(chunk):
            packed |= masks[key].view(np.uint8) << bit
        moved = np.asarray(transform_layer(packed)).astype(np.uint8)
        for bit, key in enumerate(chunk):
            result[key] = (moved & (1 << bit)).astype(bool)
    return result


def _ndimage_matrix(inverse_xy: np.ndarray) -> np.ndarray:
    """The inverse map of scikit-image's (x, y) convention as ndimage's (row, col) matrix."""
    swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return swap @ inverse_xy @ swap


def _warp_affine(image: np.ndarray, masks, forward: AffineTransform, cval: float):
    """One warp of the image and one of the packed masks for a forward affine transform."""
    # Measured on 512 x 512 images (2 cores): for the image, scikit-image's compiled
    # affine path (taken when warp gets a (3, 3) matrix and order=1) needs ~6-10 ms;
    # precomputed coordinates cost ~23 ms to compute plus ~15 ms in
    # ndimage.map_coordinates, and ndimage.affine_transform ~20 ms. For order 0
    # there is no compiled path: warp computes every pixel's coordinates and calls
    # map_coordinates, ~90 ms per mask; ndimage.affine_transform on the packed
    # masks takes ~10 ms for up to 8 masks, with identical results ("grid-constant"
    # is the ndimage mode scikit-image's "constant" maps to).
    inverse = np.linalg.inv(forward.params)
    warped = warp(image, inverse, order=1, mode="constant", cval=cval, clip=False, preserve_range=True)
    matrix = _ndimage_matrix(inverse)
    moved = _transform_masks(
        masks, lambda layer: ndi.affine_transform(layer, matrix, order=0, mode="grid-constant", cval=0)
    )
    return warped, moved


# --------------------------------------------------------------------------- grey conversion
def to_grayscale_float(image, *, bits_stored: int | None = None) -> np.ndarray:
    """Convert a grey, RGB or RGBA image to a float64 grey image in [0, 1].

    Parameters
    ----------
    image : ndarray
        ``(rows, cols)`` grey, ``(rows, cols, 3)`` RGB or ``(rows, cols, 4)``
        RGBA, of dtype bool, uint8, uint16 or float (floats must already lie
        in [0, 1]).
    bits_stored : int, optional
        For integer images: the bit depth the values really use. By default
        an image is scaled by its dtype's maximum (255 for uint8, 65535 for
        uint16), the scikit-image convention. We do *not* guess the bit depth
        from the image's own maximum: two images from the same detector would
        then be scaled differently depending on their content, which is
        exactly the kind of hidden inconsistency that misleads a model. A
        12-bit detector stored in uint16 (DICOM ``BitsStored`` = 12) is
        scaled correctly with ``bits_stored=12``.

    Returns
    -------
    ndarray of float64, shape (rows, cols)
        Values in [0, 1]; always a new array.

    Notes
    -----
    RGBA images are composited on a **black** background
    (``skimage.color.rgba2rgb(image, background=(0, 0, 0))``): in a
    radiograph black is "nothing there", whereas scikit-image's default white
    background would turn transparent pixels into dense bone. For an opaque
    alpha channel (the lesson's ``cardiomegaly.png`` is saved as RGBA with
    alpha 255 everywhere) both choices give the same result: the alpha
    channel is dropped. RGB is converted with ``skimage.color.rgb2gray``
    (luminance weights); a grey image stored as RGB keeps its values.

    Examples
    --------
    >>> rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    >>> rgba[..., :3] = 51
    >>> rgba[..., 3] = 255
    >>> to_grayscale_float(rgba)
    array([[0.2, 0.2],
           [0.2, 0.2]])
    >>> to_grayscale_float(np.array([[0, 4095]], dtype=np.uint16), bits_stored=12)
    array([[0., 1.]])
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ValueError(
            "image must be (rows, cols) grey, (rows, cols, 3) RGB or (rows, cols, 4) RGBA, "
            f"got shape {image.shape}"
        )
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")

    if image.dtype == bool:
        if bits_stored is not None:
            raise ValueError("bits_stored only applies to uint8 and uint16 images, image is bool")
        scaled = image.astype(np.float64)
    elif image.dtype in (np.uint8, np.uint16):
        dtype_bits = image.dtype.itemsize * 8
        bits = dtype_bits if bits_stored is None else _positive_int(bits_stored, "bits_stored")
        if bits > dtype_bits:
            raise ValueError(f"bits_stored must be at most {dtype_bits} for a {image.dtype} image, got {bits}")
        top = 2**bits - 1
        if image.max() > top:
            raise ValueError(f"image has values up to {image.max()}, more than bits_stored={bits} allows ({top})")
        scaled = image / top
    elif image.dtype.kind == "f":
        if bits_stored is not None:
            raise ValueError(f"bits_stored only applies to uint8 and uint16 images, image is {image.dtype}")
        scaled = image.astype(np.float64)
        if not np.isfinite(scaled).all():
            raise ValueError("image contains NaN or infinite values")
        if scaled.min() < 0 or scaled.max() > 1:
            raise ValueError(
                f"a float image must lie in [0, 1], got values {scaled.min():.4g}..{scaled.max():.4g}; "
                "rescale it first, e.g. skimage.exposure.rescale_intensity(image, out_range=(0.0, 1.0))"
            )
    else:
        raise TypeError(f"image must be bool, uint8, uint16 or float, got dtype {image.dtype}")

    if scaled.ndim == 3 and scaled.shape[2] == 4:
        scaled = rgba2rgb(scaled, background=(0, 0, 0))
    if scaled.ndim == 3:
        scaled = rgb2gray(scaled)
    return np.asarray(scaled, dtype=np.float64)


# --------------------------------------------------------------------------- single transforms
def rotate_with_masks(image: np.ndarray, masks, angle: float, *, cval: float = 0.0):
    """Rotate an image and its masks about the image centre.

    The same result as ``skimage.transform.rotate(image, angle, order=1,
    preserve_range=True, clip=False)`` for the image and ``order=0`` for each
    mask, but all masks move in a single warp.

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
    masks : dict of str to bool ndarray, or None
        Each mask has the image's shape.
    angle : float
        Degrees, counter-clockwise on screen. Clinically realistic
        positioning errors are a few degrees.
    cval : float
        Image value for the corners that come from outside the input.

    Returns
    -------
    image : ndarray of float64
        In the input's range; same shape (corners are filled with ``cval``:
        crop them with :func:`largest_valid_crop`).
    masks : dict of bool ndarray, or None

    Examples
    --------
    A bar right of the centre turns to above the centre:

    >>> image = np.zeros((5, 5)); image[2, 3:] = 1
    >>> rotated, masks = rotate_with_masks(image, {"bar": image > 0}, 90)
    >>> np.argwhere(masks["bar"])  # (row, col) of each mask pixel
    array([[0, 2],
           [1, 2]])
    >>> rotated[:2, 2]
    array([1., 1.])
    """
    return apply_augmentation(image, masks, {"rotation": _real(angle, "angle")}, cval=cval)


def shear_with_masks(image: np.ndarray, masks, shear: float, *, cval: float = 0.0):
    """Shear an image and its masks horizontally about the image centre.

    Each row moves sideways by ``tan(shear) * (row - centre_row)`` pixels:
    for a positive ``shear`` the lower half moves right and the upper half
    left, and the centre row stays put (the lesson's
    ``warp(image, AffineTransform(shear=0.2))`` shears about the top-left
    corner instead, which also shifts the whole image).

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
    masks : dict of str to bool ndarray, or None
    shear : float
        Shear angle in radians, ``-pi/2 < shear < pi/2``.
    cval : float
        Image value for pixels that come from outside the input.

    Returns
    -------
    image : ndarray of float64
    masks : dict of bool ndarray, or None

    Examples
    --------
    >>> image = np.zeros((5, 5)); image[:, 2] = 1
    >>> _, masks = shear_with_masks(image, {"line": image > 0}, np.arctan(1.0))
    >>> masks["line"].astype(int)
    array([[1, 0, 0, 0, 0],
           [0, 1, 0, 0, 0],
           [0, 0, 1, 0, 0],
           [0, 0, 0, 1, 0],
           [0, 0, 0, 0, 1]])
    """
    return apply_augmentation(image, masks, {"shear": _real(shear, "shear")}, cval=cval)


@dataclass(frozen=True)
class WaveMesh:
    """The control points of a wave warp, as ``(x, y) = (column, row)`` arrays.

    Attributes
    ----------
    source : ndarray, shape (n_points, 2)
        A regular grid of points in the input image.
    destination : ndarray, shape (n_points, 2)
        Where each source point lands in the output image. Draw the mesh over
        the output with ``ax.plot(mesh.destination[:, 0], mesh.destination[:, 1], ".b")``.
    grid : tuple of int
        ``(rows, cols)`` of the mesh.
    """

    source: np.ndarray
    destination: np.ndarray
    grid: tuple[int, int]


def wave_warp_with_masks(
    image: np.ndarray,
    masks,
    *,
    amplitude: float,
    n_waves: float,
    grid: tuple[int, int] = (10, 20),
    direction: str = "horizontal",
    cval: float = 0.0,
):
    """Bend an image and its masks along a sine wave (a piecewise-affine warp).

    A regular mesh of ``grid`` points is laid over the image and every point
    is displaced by ``amplitude * sin(2 * pi * n_waves * t)``, where ``t``
    runs from 0 to 1 across the image; scikit-image's
    :class:`~skimage.transform.PiecewiseAffineTransform` then moves every
    pixel with its mesh triangle. This is the lesson's "wave over a mesh": a
    deliberately *unrealistic* augmentation. It changes the shape of organs,
    so measurements such as the cardiothoracic ratio no longer hold.

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
    masks : dict of str to bool ndarray, or None
    amplitude : float
        Largest displacement in pixels, ``0 <= amplitude <= half the image``
        along the direction of displacement.
    n_waves : float
        Number of full sine periods across the image, ``>= 0``.
    grid : (int, int)
        Rows and columns of mesh points, each at least 2. Several points per
        wave are needed for a smooth bend.
    direction : {"horizontal", "vertical"}
        ``"horizontal"``: rows move sideways by an amount that varies down
        the image, so widths (heart, thorax) change. ``"vertical"``: columns
        move up and down by an amount that varies across the image, as in
        the lesson's figure.
    cval : float
        Image value for pixels that come from outside the input.

    Returns
    -------
    image : ndarray of float64
    masks : dict of bool ndarray, or None
    mesh : WaveMesh
        Source and destination control points, for drawing the mesh.

    Examples
    --------
    >>> image = np.ones((20, 30))
    >>> out, _, mesh = wave_warp_with_masks(image, None, amplitude=3, n_waves=1, grid=(5, 6))
    >>> out.shape, mesh.source.shape
    ((20, 30), (30, 2))
    >>> round(float(np.abs(mesh.destination - mesh.source).max()), 6)  # the amplitude
    3.0
    """
    pixels = _check_image(image)
    masks = _check_masks(masks, pixels.shape)
    cval = _check_cval(cval)
    if direction not in ("horizontal", "vertical"):
        raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
    amplitude = _real(amplitude, "amplitude")
    rows, cols = pixels.shape
    extent = cols if direction == "horizontal" else rows
    if not 0 <= amplitude <= extent / 2:
        raise ValueError(f"amplitude must be between 0 and {extent / 2} pixels (half the image), got {amplitude}")
    n_waves = _real(n_waves, "n_waves")
    if n_waves < 0:
        raise ValueError(f"n_waves must be >= 0, got {n_waves}")
    grid = _pair_of_ints(grid, "grid", minimum=2)

    mesh_cols, mesh_rows = np.meshgrid(np.linspace(0, cols - 1, grid[1]), np.linspace(0, rows - 1, grid[0]))
    source = np.column_stack([mesh_cols.ravel(), mesh_rows.ravel()])
    destination = source.copy()
    if direction == "horizontal":
        destination[:, 0] += amplitude * np.sin(2 * np.pi * n_waves * source[:, 1] / max(rows - 1, 1))
    else:
        destination[:, 1] += amplitude * np.sin(2 * np.pi * n_waves * source[:, 0] / max(cols - 1, 1))

    # warp needs the map from output to input, so estimate destination -> source.
    inverse = PiecewiseAffineTransform.from_estimate(destination, source)
    if not inverse:
        raise ValueError(f"the wave mesh could not be triangulated ({inverse}); use a grid of at least (2, 2)")
    # The expensive part (finding every pixel's triangle) is done once and
    # shared by the image and the masks.
    coords = warp_coords(inverse, pixels.shape)
    warped = warp(pixels, coords, order=1, mode="constant", cval=cval, clip=False, preserve_range=True)
    moved = _transform_masks(
        masks, lambda layer: ndi.map_coordinates(layer, coords, order=0, mode="grid-constant", cval=0)
    )
    return warped, moved, WaveMesh(source=source, destination=destination, grid=grid)


def _check_box(box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    if not isinstance(box, Sequence) or isinstance(box, str) or len(box) != 4:
        raise TypeError(f"box must be (top, bottom, left, right), got {box!r}")
    top, bottom, left, right = (_positive_int(v, f"box[{i}]", minimum=0) for i, v in enumerate(box))
    rows, cols = shape
    if not (top < bottom <= rows and left < right <= cols):
        raise ValueError(
            f"box must satisfy 0 <= top < bottom <= {rows} and 0 <= left < right <= {cols} "
            f"for an image of shape {shape}, got {tuple(box)}"
        )
    return top, bottom, left, right


def crop_with_masks(image: np.ndarray, masks, box: tuple[int, int, int, int]):
    """Crop an image and its masks to ``box = (top, bottom, left, right)``.

    The box is half-open, like slicing: ``image[top:bottom, left:right]``.
    :func:`largest_valid_crop` and :func:`content_bounding_box` return boxes
    in this form.

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
    masks : dict of str to bool ndarray, or None
    box : (int, int, int, int)

    Returns
    -------
    image : ndarray of float64
        A copy (never a view of the input).
    masks : dict of bool ndarray, or None

    Examples
    --------
    >>> image = np.arange(12).reshape(3, 4)
    >>> cropped, _ = crop_with_masks(image, None, (1, 3, 0, 2))
    >>> cropped
    array([[4., 5.],
           [8., 9.]])
    """
    pixels = _check_image(image)
    masks = _check_masks(masks, pixels.shape)
    top, bottom, left, right = _check_box(box, pixels.shape)
    window = (slice(top, bottom), slice(left, right))
    cropped_masks = None if masks is None else {key: mask[window].copy() for key, mask in masks.items()}
    return pixels[window].astype(np.float64), cropped_masks  # astype copies


def resize_with_masks(image: np.ndarray, masks, output_shape: tuple[int, int], *, anti_aliasing: bool | None = None):
    """Resize an image and its masks to ``output_shape = (rows, cols)``.

    Uses :func:`skimage.transform.resize`: linear interpolation for the
    image (with scikit-image's anti-aliasing when shrinking, unless
    ``anti_aliasing=False``), nearest neighbour for the masks.

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
    masks : dict of str to bool ndarray, or None
    output_shape : (int, int)
        Positive integers (``skimage`` rejects float shapes).
    anti_aliasing : bool, optional
        Passed to :func:`skimage.transform.resize` for the image.

    Returns
    -------
    image : ndarray of float64
    masks : dict of bool ndarray, or None

    Examples
    --------
    >>> image = np.zeros((4, 4)); image[:2, :2] = 1
    >>> out, masks = resize_with_masks(image, {"square": image > 0}, (8, 8))
    >>> int(masks["square"].sum()), out.shape
    (16, (8, 8))
    """
    pixels = _check_image(image)
    masks = _check_masks(masks, pixels.shape)
    output_shape = _pair_of_ints(output_shape, "output_shape")
    if anti_aliasing is not None and not isinstance(anti_aliasing, bool):
        raise TypeError(f"anti_aliasing must be True, False or None, got {anti_aliasing!r}")
    resized = resize(pixels, output_shape, order=1, preserve_range=True, anti_aliasing=anti_aliasing)
    moved = _transform_masks(
        masks,
        lambda layer: resize(layer, output_shape, order=0, preserve_range=True, anti_aliasing=False),
    )
    return resized, moved


# --------------------------------------------------------------------------- crops
def largest_valid_crop(image_shape: tuple[int, int], angle: float) -> tuple[int, int, int, int]:
    """The largest centred crop that holds no filled-in corner after a rotation.

    Rotating an image (:func:`rotate_with_masks`, ``skimage.transform.rotate``)
    brings in wedges of ``cval`` at the corners: harsh artificial edges that a
    model learns to notice. This returns the largest axis-aligned rectangle,
    centred on the image, that lies entirely inside the rotated image, so
    cropping to it removes every wedge pixel.

    The rectangle comes from closed-form geometry (the maximal-area
    rectangle inscribed in a rotated rectangle); we write it by hand because
    no maintained library provides it. It is computed on the pixel centres
    (a ``rows x cols`` image spans ``(rows - 1) x (cols - 1)`` between its
    first and last pixel centres), which makes it exact for linear and
    nearest-neighbour interpolation, and rounded inwards so that the crop
    stays centred.

    Parameters
    ----------
    image_shape : (int, int)
        ``(rows, cols)`` of the image *before* rotation (rotation without
        resizing keeps the shape).
    angle : float
        The rotation in degrees (any sign).

    Returns
    -------
    (top, bottom, left, right) : tuple of int
        A half-open box for :func:`crop_with_masks`.

    Examples
    --------
    >>> largest_valid_crop((100, 100), 0)
    (0, 100, 0, 100)
    >>> largest_valid_crop((512, 512), 2)
    (9, 503, 9, 503)
    """
    rows, cols = _pair_of_ints(image_shape, "image_shape")
    theta = math.radians(_real(angle, "angle"))
    width, height = cols - 1, rows - 1  # distances between the outermost pixel centres
    sin_a, cos_a = abs(math.sin(theta)), abs(math.cos(theta))
    if width == 0 or height == 0 or sin_a < 1e-12:
        inner_width, inner_height = float(width), float(height)
    elif cos_a < 1e-12:  # a quarter turn: the rotated image is the transposed frame
        inner_width, inner_height = float(min(width, height)), float(min(width, height))
    else:
        long_side, short_side = max(width, height), min(width, height)
        if short_side <= 2 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-12:
            # Two corners of the crop touch the two long sides of the rotated image.
            half = short_side / 2
            if width >= height:
                inner_width, inner_height = half / sin_a, half / cos_a
            else:
                inner_width, inner_height = half / cos_a, half / sin_a
        else:
            # All four corners touch the rotated image's sides.
            cos_2a = cos_a * cos_a - sin_a * sin_a
            inner_width = (width * cos_a - height * sin_a) / cos_2a
            inner_height = (height * cos_a - width * sin_a) / cos_2a
    # The rotated image must also cover the crop inside the original frame.
    inner_width, inner_height = min(inner_width, width), min(inner_height, height)

    def centred(n_pixels: int, span: float) -> tuple[int, int]:
        # k pixels span k - 1 between centres. Where the rotation limits the span,
        # a tiny margin keeps a corner that sits exactly on the rotated edge from
        # picking up a trace of cval through floating-point rounding.
        if span < n_pixels - 1:
            span -= 1e-6 * max(span, 1.0)
        keep = max(1, int(math.floor(span)) + 1)
        if (n_pixels - keep) % 2:  # an odd remainder cannot be split evenly: drop one more
            keep -= 1
        keep = max(keep, 1 if n_pixels % 2 else 2)
        start = (n_pixels - keep) // 2
        return start, start + keep

    top, bottom = centred(rows, inner_height)
    left, right = centred(cols, inner_width)
    return top, bottom, left, right


def content_bounding_box(image: np.ndarray, threshold: float = 0.1, *, min_fraction: float = 0.02):
    """Find a dark border (collimation) around an image, as a box to crop it away.

    Rows and columns at the edges of the image are border while fewer than
    ``min_fraction`` of their pixels are brighter than ``threshold``; the box
    is everything between the first and the last row (and column) that is
    not. Counting bright pixels instead of averaging makes the search robust
    to noise in the border and to a body that fills only part of a row.

    Parameters
    ----------
    image : ndarray
        Anything :func:`to_grayscale_float` accepts (grey, RGB, RGBA; uint8,
        uint16 or float in [0, 1]).
    threshold : float
        Brightness in [0, 1] (on the scale of :func:`to_grayscale_float`)
        above which a pixel counts as content.
    min_fraction : float
        Fraction of a row's (column's) pixels, in (0, 1], that must be
        brighter than ``threshold`` for it to count as content.

    Returns
    -------
    (top, bottom, left, right) : tuple of int
        A half-open box for :func:`crop_with_masks`; the whole image if there
        is no border.

    Examples
    --------
    >>> image = np.zeros((6, 8)); image[1:5, 2:7] = 0.8
    >>> content_bounding_box(image)
    (1, 5, 2, 7)
    """
    grey = to_grayscale_float(image)
    threshold = _real(threshold, "threshold")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1) (a brightness on the 0..1 scale), got {threshold}")
    min_fraction = _real(min_fraction, "min_fraction")
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
    bright = grey > threshold
    content_rows = np.flatnonzero(bright.mean(axis=1) >= min_fraction)
    content_cols = np.flatnonzero(bright.mean(axis=0) >= min_fraction)
    if content_rows.size == 0 or content_cols.size == 0:
        raise ValueError(
            f"image has no content: no row or column has {min_fraction:.0%} of its pixels "
            f"brighter than threshold={threshold}; lower the threshold"
        )
    return int(content_rows[0]), int(content_rows[-1]) + 1, int(content_cols[0]), int(content_cols[-1]) + 1


# --------------------------------------------------------------------------- random augmentation
def _check_params(params) -> dict:
    """A complete, validated parameter dict (missing keys take their identity value)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict like random_augment returns, got {type(params).__name__}")
    unknown = sorted(set(params) - set(_IDENTITY_PARAMS), key=str)
    if unknown:
        raise ValueError(f"params has unknown keys {unknown}; expected keys {list(_IDENTITY_PARAMS)}")
    checked = dict(_IDENTITY_PARAMS)
    for key, value in params.items():
        if key == "flip":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"params['flip'] must be True or False, got {value!r}")
            checked[key] = bool(value)
        else:
            checked[key] = _real(value, f"params[{key!r}]")
    if checked["scale"] <= 0:
        raise ValueError(f"params['scale'] must be > 0 (a zoom factor), got {checked['scale']}")
    if abs(checked["shear"]) >= math.pi / 2:
        raise ValueError(f"params['shear'] must be between -pi/2 and pi/2 radians, got {checked['shear']}")
    return checked


def augmentation_transform(image_shape: tuple[int, int], params) -> AffineTransform:
    """The forward affine transform of an augmentation, about the image centre.

    In order, about the image centre: mirror (if ``flip``), zoom by
    ``scale``, shear, rotate, then shift by ``shift_rows * rows`` and
    ``shift_cols * cols`` pixels. Useful to move landmarks with the image:
    ``augmentation_transform(shape, params)(points_xy)``.

    Parameters
    ----------
    image_shape : (int, int)
        ``(rows, cols)``.
    params : dict
        As returned by :func:`random_augment`; missing keys mean "no change"
        (``rotation=0``, ``shear=0``, ``scale=1``, ``shift_rows=0``,
        ``shift_cols=0``, ``flip=False``).

    Returns
    -------
    skimage.transform.AffineTransform
        Maps input ``(x, y)`` points to output points.

    Examples
    --------
    >>> tform = augmentation_transform((101, 101), {"rotation": 90})
    >>> np.round(tform([[100, 50]]), 6)  # the right edge's middle goes to the top
    array([[50.,  0.]])
    """
    rows, cols = _pair_of_ints(image_shape, "image_shape")
    p = _check_params(params)
    centre_x, centre_y = (cols - 1) / 2, (rows - 1) / 2  # the centre skimage.transform.rotate uses
    theta = math.radians(p["rotation"])
    to_centre = np.array([[1.0, 0.0, -centre_x], [0.0, 1.0, -centre_y], [0.0, 0.0, 1.0]])
    mirror = np.diag([-1.0 if p["flip"] else 1.0, 1.0, 1.0])
    zoom = np.diag([p["scale"], p["scale"], 1.0])
    shear = np.array([[1.0, math.tan(p["shear"]), 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # With y pointing down, this matrix turns points counter-clockwise on screen.
    rotation = np.array(
        [[math.cos(theta), math.sin(theta), 0.0], [-math.sin(theta), math.cos(theta), 0.0], [0.0, 0.0, 1.0]]
    )
    back = np.array(
        [
            [1.0, 0.0, centre_x + p["shift_cols"] * cols],
            [0.0, 1.0, centre_y + p["shift_rows"] * rows],
            [0.0, 0.0, 1.0],
        ]
    )
    return AffineTransform(matrix=back @ rotation @ shear @ zoom @ mirror @ to_centre)


def _check_bounds(max_rotation, max_shear, max_scale, max_shift, flip) -> dict:
    bounds = {}
    for name, value in (
        ("max_rotation", max_rotation),
        ("max_shear", max_shear),
        ("max_scale", max_scale),
        ("max_shift", max_shift),
    ):
        value = _real(value, name)
        limit, unit = _BOUND_LIMITS[name]
        too_big = value >= limit if name == "max_scale" else value > limit
        if value < 0 or too_big:
            closing = ")" if name == "max_scale" else "]"
            raise ValueError(f"{name} must be in [0, {limit}{closing} {unit}, got {value}")
        bounds[name] = value
    if not isinstance(flip, (bool, np.bool_)):
        raise TypeError(f"flip must be True or False, got {flip!r}")
    bounds["flip"] = bool(flip)
    return bounds


def draw_augmentation_params(
    rng: np.random.Generator,
    *,
    max_rotation: float = 3.0,
    max_shear: float = 0.05,
    max_scale: float = 0.05,
    max_shift: float = 0.03,
    flip: bool = False,
) -> dict:
    """Draw one set of augmentation parameters, uniformly within the bounds.

    The draws always happen in the same order (rotation, shear, scale,
    shift_rows, shift_cols, flip), whatever the bounds, so a seed gives the
    same rotation whether or not flips are allowed.

    Parameters
    ----------
    rng : numpy.random.Generator
    max_rotation, max_shear, max_scale, max_shift, flip
        See :func:`random_augment`.

    Returns
    -------
    dict
        Plain Python floats and a bool: keys ``rotation``, ``shear``,
        ``scale``, ``shift_rows``, ``shift_cols``, ``flip``. It can be stored
        as JSON next to the augmented image.

    Examples
    --------
    >>> params = draw_augmentation_params(np.random.default_rng(0))
    >>> sorted(params)
    ['flip', 'rotation', 'scale', 'shear', 'shift_cols', 'shift_rows']
    >>> abs(params["rotation"]) <= 3.0
    True
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    bounds = _check_bounds(max_rotation, max_shear, max_scale, max_shift, flip)
    rotation, shear, zoom, shift_rows, shift_cols = rng.uniform(-1.0, 1.0, size=5)
    mirror = rng.random() < 0.5
    return {
        "rotation": float(rotation * bounds["max_rotation"]),
        "shear": float(shear * bounds["max_shear"]),
        "scale": float(1.0 + zoom * bounds["max_scale"]),
        "shift_rows": float(shift_rows * bounds["max_shift"]),
        "shift_cols": float(shift_cols * bounds["max_shift"]),
        "flip": bool(mirror and bounds["flip"]),
    }


def apply_augmentation(image: np.ndarray, masks, params, *, cval: float = 0.0):
    """Apply an augmentation, e.g. to reproduce one drawn by :func:`random_augment`.

    The whole augmentation is one composed affine transform
    (:func:`augmentation_transform`): one warp for the image and one for all
    its masks together, so interpolation blurs the image only once.

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
    masks : dict of str to bool ndarray, or None
    params : dict
        Keys ``rotation``, ``shear``, ``scale``, ``shift_rows``,
        ``shift_cols``, ``flip``; missing keys mean "no change".
    cval : float
        Image value for pixels that come from outside the input.

    Returns
    -------
    image : ndarray of float64
        In the input's range.
    masks : dict of bool ndarray, or None

    Examples
    --------
    >>> image = np.arange(9.0).reshape(3, 3)
    >>> shifted, _ = apply_augmentation(image, None, {"shift_cols": 1 / 3})
    >>> shifted
    array([[0., 0., 1.],
           [0., 3., 4.],
           [0., 6., 7.]])
    """
    pixels = _check_image(image)
    masks = _check_masks(masks, pixels.shape)
    forward = augmentation_transform(pixels.shape, params)
    return _warp_affine(pixels, masks, forward, _check_cval(cval))


def _rng_from(seed, rng) -> np.random.Generator:
    if seed is not None and rng is not None:
        raise ValueError("give either seed or rng, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be a non-negative integer, got {seed!r}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(seed)


def random_augment(
    image: np.ndarray,
    masks=None,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    max_rotation: float = 3.0,
    max_shear: float = 0.05,
    max_scale: float = 0.05,
    max_shift: float = 0.03,
    flip: bool = False,
    cval: float = 0.0,
):
    """Augment an image and its masks with a small random affine transform.

    Each parameter is drawn uniformly within its bound. The defaults mimic
    what really varies between chest radiographs: patient rotation of a few
    degrees, a slight obliquity (shear), magnification differences of about
    5 % and centring differences of a few percent of the field. The
    augmentation is applied as one composed warp (see
    :func:`apply_augmentation`), and the parameters are returned, so that
    ``apply_augmentation(image, masks, params)`` reproduces the result
    exactly, even without the seed.

    Horizontal flips are off by default and should stay off for chest
    radiographs: the heart lies on the patient's left, so a mirrored image
    shows situs inversus, an anatomy the model should not learn as normal.

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
    masks : dict of str to bool ndarray, optional
    seed : int, optional
        Seed for ``np.random.default_rng``. Give ``seed`` or ``rng``, not
        both; with neither, the draw is not reproducible from a seed (but
        still from the returned ``params``).
    rng : numpy.random.Generator, optional
        A generator to draw from (and advance), e.g. to augment many images
        from one seed.
    max_rotation : float
        Degrees, in [0, 45].
    max_shear : float
        Radians, in [0, 0.5].
    max_scale : float
        Zoom factors are drawn from ``1 +- max_scale``; in [0, 0.5).
    max_shift : float
        Shifts, as a fraction of the image height (width), in [0, 0.5].
    flip : bool
        Allow left-right mirroring (with probability 1/2). See above.
    cval : float
        Image value for pixels that come from outside the input.

    Returns
    -------
    image : ndarray of float64
        In the input's range, same shape.
    masks : dict of bool ndarray, or None
    params : dict
        What was drawn: ``rotation`` (degrees), ``shear`` (radians),
        ``scale``, ``shift_rows``, ``shift_cols`` (fractions), ``flip``.

    Examples
    --------
    >>> image = np.random.default_rng(1).random((64, 64))
    >>> augmented, _, params = random_augment(image, seed=7)
    >>> again, _ = apply_augmentation(image, None, params)
    >>> bool(np.array_equal(augmented, again))
    True
    """
    pixels = _check_image(image)
    masks = _check_masks(masks, pixels.shape)
    cval = _check_cval(cval)
    generator = _rng_from(seed, rng)
    params = draw_augmentation_params(
        generator, max_rotation=max_rotation, max_shear=max_shear, max_scale=max_scale, max_shift=max_shift, flip=flip
    )
    warped, moved = _warp_affine(pixels, masks, augmentation_transform(pixels.shape, params), cval)
    return warped, moved, params


def augment_batch(
    images,
    masks=None,
    *,
    seed: int = 0,
    max_rotation: float = 3.0,
    max_shear: float = 0.05,
    max_scale: float = 0.05,
    max_shift: float = 0.03,
    flip: bool = False,
    cval: float = 0.0,
):
    """Augment many images (and their masks), each with its own random draw.

    The same as calling :func:`random_augment` on each image in turn with one
    shared generator ``np.random.default_rng(seed)``, so image ``i`` is
    reproduced by ``apply_augmentation(images[i], masks[i], params[i])``.
    It is fast because every image costs one compiled warp and all its masks
    one more (see ``bench/bench_augment.py`` for the measured speed against a
    plain scikit-image loop).

    Parameters
    ----------
    images : ndarray of shape (n, rows, cols), or sequence of 2-D ndarrays
        Images in a sequence may differ in shape.
    masks : sequence of dicts, optional
        One dict of boolean masks per image.
    seed : int
        Seed of the generator all draws come from.
    max_rotation, max_shear, max_scale, max_shift, flip, cval
        See :func:`random_augment`.

    Returns
    -------
    images : ndarray of float64, shape (n, rows, cols), or list of ndarray
        An array if ``images`` was an array, a list otherwise.
    masks : list of dict, or None
    params : list of dict
        One parameter dict per image.

    Examples
    --------
    >>> stack = np.random.default_rng(0).random((3, 32, 32))
    >>> out, _, params = augment_batch(stack, seed=1)
    >>> out.shape, len(params)
    ((3, 32, 32), 3)
    """
    as_stack = isinstance(images, np.ndarray)
    if as_stack and images.ndim != 3:
        raise ValueError(f"images must be a (n, rows, cols) array or a list of 2-D arrays, got shape {images.shape}")
    if not as_stack and (not isinstance(images, Sequence) or isinstance(images, str)):
        raise TypeError(f"images must be a (n, rows, cols) array or a list of 2-D arrays, got {type(images).__name__}")
    if masks is not None:
        if not isinstance(masks, Sequence) or isinstance(masks, (str, Mapping)):
            raise TypeError(f"masks must be a list with one dict of masks per image, got {type(masks).__name__}")
        if len(masks) != len(images):
            raise ValueError(f"masks must have one entry per image: {len(masks)} masks for {len(images)} images")
    generator = _rng_from(seed, None)
    bounds = _check_bounds(max_rotation, max_shear, max_scale, max_shift, flip)
    cval = _check_cval(cval)

    # A stack's result is allocated once and filled in place, rather than stacked at the end
    # (which would hold every image twice).
    out_images = np.empty(images.shape, dtype=np.float64) if as_stack else []
    out_masks, all_params = [], []
    for index, image in enumerate(images):
        pixels = _check_image(image, f"images[{index}]")
        image_masks = None if masks is None else _check_masks(masks[index], pixels.shape, f"masks[{index}]")
        params = draw_augmentation_params(generator, **bounds)
        warped, moved = _warp_affine(pixels, image_masks, augmentation_transform(pixels.shape, params), cval)
        if as_stack:
            out_images[index] = warped
        else:
            out_images.append(warped)
        out_masks.append(moved)
        all_params.append(params)
    return out_images, (None if masks is None else out_masks), all_params
