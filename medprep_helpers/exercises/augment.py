"""Visible checks of lesson 2, Augment and prepare images for classic ML (the cases each task states).

Expected values are literals worked out once for the small toy inputs below (centroids, areas,
grey levels), or follow from the toy by plain arithmetic (a line that moves ``tan(shear)`` pixels
per row). The ``judge_*`` functions name the typical mistakes; the grader's hidden cases
(``medprep_grader.hidden.augment``) reuse them, so a mistake is named the same way in both.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..checks import CheckFailed, NotImplementedYet
from . import exercise

LESSON = "02_augment"

# --------------------------------------------------------------------------- prepare_for_ml

BORDER_LEVEL = 0.03  # grey level of the toys' dark border, as the clinic's collimation border


def flat_image(rows, cols, value, border=0, dtype=np.uint8, channels=1):
    """A flat test 'radiograph' of brightness ``value`` (0..1) inside a dark border ``border`` pixels wide.

    ``channels`` 3 gives a grey RGB image, 4 an RGBA image with an opaque alpha channel.

    Examples
    --------
    >>> flat_image(4, 5, 0.6, border=1)[:2]
    array([[  8,   8,   8,   8,   8],
           [  8, 153, 153, 153,   8]], dtype=uint8)
    """
    top = np.iinfo(dtype).max
    image = np.full((rows, cols), round(BORDER_LEVEL * top), dtype=dtype)
    image[border:rows - border, border:cols - border] = round(value * top)
    if channels >= 3:
        image = np.dstack([image] * 3 + ([np.full((rows, cols), top, dtype=dtype)] if channels == 4 else []))
    return image


def call_prepare(check, images, angle, where, crash_hint=""):
    """Call prepare_for_ml and check what every call must meet: one float (N, H, W) array in [0, 1]."""
    try:
        found = check.call(images, angle=angle)
    except NotImplementedYet:
        raise
    except CheckFailed as failure:
        if not crash_hint or "raised an error" not in str(failure):
            raise
        error = str(failure).split("error:", 1)[-1].split("\n", 1)[0].strip()
        check.fail(f"the function raised an error ({where})", "a result", error, crash_hint)
    check.type_is(found, np.ndarray, concept=f"type of the result ({where})",
                  hint="Return one numpy array, not a list: np.stack(list_of_prepared_images).")
    check.that(found.ndim == 3 and found.shape[0] == len(images), f"shape (N, H, W) ({where})",
               f"({len(images)}, H, W)", f"shape {found.shape}",
               "One 2-D grey image per input image, stacked along a new first axis.")
    check.that(found.dtype.kind == "f", f"float values ({where})", "a float dtype", str(found.dtype),
               "Convert to floats in [0, 1] first (augment.to_grayscale_float or skimage.util.img_as_float).")
    check.that(found.size > 0, f"images not empty ({where})", "at least one row and column", f"shape {found.shape}",
               "Crop only the border and the wedges, not the whole image.")
    check.that(found.min() >= -1e-6 and found.max() <= 1 + 1e-6, f"values in [0, 1] ({where})", "0 <= values <= 1",
               f"{found.min():.4g} .. {found.max():.4g}",
               "Scale integers by their dtype's maximum: uint8 / 255, uint16 / 65535.")
    return found


def judge_no_wedge(check, image, value, where):
    """A flat image of grey ``value`` must come back without black wedges or border."""
    check.that(image.min() > value / 4, f"no rotation wedge or dark border left ({where})",
               f"every pixel near {value:.4g}", f"darkest pixel {image.min():.4g}",
               "Rotation fills the corners with black wedges that grow with the angle (either sign) and depend on "
               "the image's shape. Crop by an amount computed from the angle and the shape, e.g. "
               "augment.largest_valid_crop(shape, angle); a fixed margin that works at 2 degrees leaves wedges at 10.")


def judge_border_removed(check, image, border_level, where):
    """No edge row or column of a prepared image may still be the collimation border.

    A border left in place covers (nearly) a whole edge line; air beside the neck or the arms may
    be as dark, but only along part of an edge, so only lines mostly at the border's grey count.
    """
    edges = [image[0], image[-1], image[:, 0], image[:, -1]]
    tolerance = max(0.15 * border_level, 1e-4)
    at_border = max(float(np.mean(np.abs(edge - border_level) < tolerance)) for edge in edges)
    check.that(at_border < 0.8, f"no dark border left ({where})", "no edge row or column at the border's grey",
               f"{at_border:.0%} of an edge line at the border's grey level ({border_level:.4g})",
               "Remove the dark border before rotating (rows and columns along the edges that are nearly black "
               "relative to the image, e.g. augment.content_bounding_box(grey, threshold=0.1 * grey.max())), "
               "and crop all of it.")


def judge_scale(check, found_level, expected_level, own_max_level, where, atol=0.01):
    """The grey level of a flat image after conversion; names scaling by the image's own maximum."""
    if not np.isclose(expected_level, own_max_level, atol=atol) and np.isclose(found_level, own_max_level, atol=atol):
        check.fail(f"intensity scale ({where})", f"about {expected_level:.4g}", f"{found_level:.4g}",
                   "Scale by the dtype's maximum (255 for uint8, 65535 for uint16), not by the image's own maximum "
                   "or min-max: two images from the same detector would otherwise be scaled differently.")
    check.close(found_level, expected_level, f"grey level after conversion ({where})", atol=atol,
                hint="Divide uint8 by 255 and uint16 by 65535; keep float images as they are.")


def judge_band_rotation(check, image, angle, where):
    """A horizontal band through the centre, rotated by ``angle`` > 0 degrees, must rise to the right."""
    quarter = max(image.shape[1] // 4, 1)
    band_left = float(np.argmax(image[:, :quarter], axis=0).mean())
    band_right = float(np.argmax(image[:, -quarter:], axis=0).mean())
    check.that(abs(band_left - band_right) > 0.05 * image.shape[0], f"the image is rotated, angle in degrees ({where})",
               f"the band tilted by {angle:g} degrees", f"band rows {band_left:.1f} (left) and {band_right:.1f} (right)",
               "Rotate by `angle` degrees: skimage.transform.rotate takes degrees (do not convert to radians).")
    check.that(band_right < band_left, f"rotation direction ({where})", "counter-clockwise: the band rises to the right",
               "the band falls to the right (clockwise)",
               "Positive angles turn counter-clockwise on screen, as skimage.transform.rotate(image, angle); "
               "do not negate the angle.")


RGBA_CRASH_HINT = ("rgb2gray expects three channels: drop the alpha channel first (image[..., :3] or "
                   "skimage.color.rgba2rgb), then convert RGB to grey.")
TWELVE_BIT_CRASH_HINT = ("Judge 'dark' relative to the image (e.g. a tenth of its maximum): a 12-bit image stored "
                         "as uint16 never gets brighter than 0.0625 after dividing by 65535, so a fixed threshold "
                         "of 0.1 finds no content at all.")


def judge_alpha(check, level, where):
    """An opaque grey RGBA image of 0.4: names averaging the alpha channel into the grey value."""
    if np.isclose(level, (3 * 0.4 + 1) / 4, atol=0.01):
        check.fail(f"alpha channel dropped ({where})", 0.4, f"{level:.3f}",
                   "You averaged the alpha channel (255 = opaque) into the grey value: drop it first (image[..., :3] "
                   "or skimage.color.rgba2rgb), then convert RGB to grey.")
    check.close(level, 0.4, f"an opaque RGBA image whose R = G = B = 102 gives 0.4 ({where})", atol=0.01,
                hint="Drop the alpha channel, then convert RGB to grey (rgb2gray or the channel mean agree on grey "
                     "pixels).")


def judge_common_shape(check, found, max_rows, max_cols, where):
    """The common shape must not exceed the smallest cropped image (no upsampling)."""
    rows, cols = found.shape[1:]
    check.that(rows <= max_rows and cols <= max_cols, f"no upsampling ({where})",
               f"at most {max_rows} x {max_cols} (the smallest cropped image)", f"{rows} x {cols}",
               "Resize every image to a shape no larger than the smallest cropped image: enlarging invents pixels.")


def judge_crop_area(check, found, max_area, where):
    """Each prepared image holds at most ``max_area`` pixels: the largest wedge-free crop (no upsampling after it)."""
    rows, cols = found.shape[1:]
    check.that(rows * cols <= max_area, f"cropped inside the rotated frame, no upsampling ({where})",
               f"at most {max_area} pixels per image (the largest crop without wedges)",
               f"{rows} x {cols} = {rows * cols} pixels",
               "Crop each rotated image to a rectangle without wedges, then resize to a shape no larger than the "
               "smallest cropped image: enlarging invents pixels.")


@exercise("prepare_for_ml", LESSON)
def prepare_for_ml(check):
    found = call_prepare(check, [flat_image(40, 60, 0.6)], 0.0, "a flat uint8 image of 153, angle 0")
    judge_scale(check, float(np.median(found)), 0.6, 1.0, "a flat uint8 image of 153, angle 0")

    found = call_prepare(check, [flat_image(100, 160, 0.6)], 10.0, "a flat 100 x 160 image, angle 10")
    judge_no_wedge(check, found, 0.6, "a flat 100 x 160 image, angle 10")

    found = call_prepare(check, [flat_image(50, 70, 0.6, border=6)], 0.0, "a dark border 6 pixels wide, angle 0")
    check.that(found.min() > 0.15, "dark border removed (angle 0)", "every pixel near 0.6",
               f"darkest pixel {found.min():.3f}",
               "Crop the rows and columns along the edges that are (nearly) black, e.g. "
               "augment.content_bounding_box(grey, threshold=0.1 * grey.max()).")
    found = call_prepare(check, [flat_image(50, 70, 0.6, border=6)], 5.0, "a dark border 6 pixels wide, angle 5")
    check.that(found.min() > 0.15, "dark border removed before rotating (angle 5)", "every pixel near 0.6",
               f"darkest pixel {found.min():.3f}",
               "If you rotate first, the border turns with the image and dark slivers survive an axis-aligned crop: "
               "remove the border, then rotate, then crop the wedges.")

    striped = flat_image(81, 121, 0.5)
    striped[39:42] = round(0.9 * 255)  # a bright horizontal band through the centre
    found = call_prepare(check, [striped], 10.0, "a horizontal band, angle 10")
    judge_band_rotation(check, found[0], 10.0, "a horizontal band, angle 10")

    found = call_prepare(check, [flat_image(40, 60, 0.4, channels=4)], 0.0, "an opaque grey RGBA image",
                         crash_hint=RGBA_CRASH_HINT)
    judge_alpha(check, float(np.median(found)), "an opaque grey RGBA image")
    found = call_prepare(check, [flat_image(40, 60, 0.4, channels=3)], 0.0, "a grey RGB image")
    check.close(float(np.median(found)), 0.4, "an RGB image whose R = G = B = 102 gives 0.4", atol=0.01)

    found = call_prepare(check, [flat_image(40, 60, 0.45, dtype=np.uint16)], 0.0, "a flat uint16 image")
    judge_scale(check, float(np.median(found)), 0.45, 1.0, "a flat uint16 image of 29491")

    mixed = [flat_image(60, 80, 0.6, border=5), flat_image(90, 70, 0.4, border=3, channels=4),
             flat_image(70, 70, 0.45, dtype=np.uint16)]
    where = "three images of different sizes, angle 2"
    found = call_prepare(check, mixed, 2.0, where)
    # Without their borders the images are 50 x 70, 84 x 64 and 70 x 70.
    judge_common_shape(check, found, 50, 64, where)
    for index, value in enumerate([0.6, 0.4, 0.45]):
        judge_no_wedge(check, found[index], value, f"{where}, image {index}")


# --------------------------------------------------------------------------- shear_image

SHEAR_MISTAKES = {
    "degrees": "left the image (almost) unchanged: was the shear given in degrees instead of radians?",
    "wrong_way": "sheared the wrong way: a negative shear, or the forward map warp(image, transform.inverse) "
                 "(warp expects the inverse map, output -> input)",
    "centre": "sheared about the image centre (as augment.shear_with_masks), not about the top-left corner",
    "factor": "used the shear angle as the matrix factor; it must be tan(shear)",
    "rows": "sheared the rows (y) instead of the columns (x)",
}


def _fail_shear(check, mistake, expected, found, where):
    text = SHEAR_MISTAKES[mistake]
    check.fail(f"shear as warp(image, AffineTransform(shear=shear)) ({where})", expected, found,
               f"Looks like you {text}" + ("" if text.endswith("?") else "."))


def as_unit(found, integer_max=None):
    """A result on the [0, 1] scale: an integer image's result may keep its range (preserve_range=True).

    Examples
    --------
    >>> as_unit(np.array([0, 255]), integer_max=255)
    array([0., 1.])
    """
    found = np.asarray(found, dtype=float)
    if integer_max and found.size and found.max() > 1.5:
        found = found / integer_max
    return found


def line_image(rows, cols, column, value=1.0, dtype=None):
    """A black image with one bright vertical line in ``column`` (float, or ``dtype`` scaled by its maximum).

    Examples
    --------
    >>> line_image(2, 4, 1, value=200 / 255, dtype=np.uint8)
    array([[  0, 200,   0,   0],
           [  0, 200,   0,   0]], dtype=uint8)
    """
    if dtype is None:
        image = np.zeros((rows, cols))
        image[:, column] = value
        return image
    image = np.zeros((rows, cols), dtype=dtype)
    image[:, column] = round(value * np.iinfo(dtype).max)
    return image


def judge_shear_line(check, found, shape, column, shear, slope, value=1.0, integer_max=None, where=""):
    """The sheared image of :func:`line_image`: row ``r`` holds the line at ``column + slope * r``.

    ``slope`` is ``tan(shear)``, the shift in pixels per row for the lesson's shear about the top-left
    corner. Mistakes are recognised by the line's course: flat (degrees), the wrong way, through
    the centre row instead of row 0, ``shear`` instead of ``tan(shear)`` per row, or the rows shifted.
    """
    check.type_is(found, np.ndarray, concept=f"type of the result ({where})",
                  hint="Return the array that warp returns.")
    check.that(found.shape == tuple(shape), f"same shape as the input ({where})", str(tuple(shape)),
               str(found.shape), "Keep the output shape: warp(image, transform) without output_shape.")
    unit = as_unit(found, integer_max)
    rows = np.arange(shape[0])
    sums = unit.sum(axis=1)
    whole = sums > 0.95 * value  # rows where the whole line is inside the image
    centres = (unit * np.arange(shape[1])).sum(axis=1) / np.maximum(sums, 1e-12)
    expected = column + slope * rows
    if not whole.any():
        check.fail(f"the bright line is still there ({where})", f"a line of grey {value:.3g} in every row",
                   "no row holds the whole line", "Use warp's default linear interpolation and black outside.")
    if min(sums[0], sums[-1]) < 0.5 * value and np.all(np.abs(centres[whole] - column) < 0.3):
        _fail_shear(check, "rows", f"the line slanting by tan({shear:g}) = {slope:+.3f} pixels per row",
                    "the line still vertical, rows at the top or bottom dark", where)
    if whole.sum() >= 3:
        found_slope, found_start = np.polyfit(rows[whole], centres[whole], 1)
        course = f"the line moves {found_slope:+.3f} pixels per row, row 0 at column {found_start:.2f}"
        wanted = f"{slope:+.3f} pixels per row (tan({shear:g})), row 0 at column {column}"
        if abs(found_slope) < 0.1 * abs(slope):
            _fail_shear(check, "degrees", wanted, course, where)
        if np.sign(found_slope) != np.sign(slope):
            _fail_shear(check, "wrong_way", wanted, course, where)
        centred_start = column - slope * (shape[0] - 1) / 2
        if abs(found_slope - slope) < 0.03 and abs(found_start - centred_start) < 0.5 < abs(found_start - column):
            _fail_shear(check, "centre", wanted, course, where)
        if abs(slope - shear) > 0.01 and abs(found_slope - shear) < abs(found_slope - slope) / 3:
            _fail_shear(check, "factor", wanted, course, where)
    fraction = expected - np.floor(expected)
    peak = value * np.maximum(fraction, 1 - fraction)
    in_between = whole & (np.minimum(fraction, 1 - fraction) > 0.2)  # rows where the line falls between columns
    if in_between.any() and np.all(unit.max(axis=1)[in_between] > 0.97 * value):
        check.fail(f"linear interpolation between two columns ({where})",
                   "a line between two columns shared between them", "the whole line in one column",
                   "Keep warp's default linear interpolation (order=1), not nearest neighbour (order=0).")
    check.close(centres[whole], expected[whole], f"the line moves tan(shear) = {slope:.4f} pixels per row ({where})",
                atol=0.1, hint="warp(image, AffineTransform(shear=shear)): the transform is the inverse map "
                "(output -> input); each row moves tan(shear) pixels further than the row above it (to the right for a "
                "positive shear).")
    check.close(unit.max(axis=1)[whole], peak[whole], f"linear interpolation between two columns ({where})", atol=0.03,
                hint="Keep warp's default linear interpolation (order=1): a line that lands between two columns "
                "is shared between them.")


def judge_sheared_image(check, found, expected, variants, integer_max=None, where=""):
    """A sheared image compared with the expected one and with what each mistake of SHEAR_MISTAKES gives."""
    check.type_is(found, np.ndarray, concept=f"type of the result ({where})")
    check.that(found.shape == expected.shape, f"same shape as the input ({where})", str(expected.shape),
               str(found.shape), "Keep the output shape: warp(image, transform) without output_shape.")
    unit = as_unit(found, integer_max)
    error = float(np.abs(unit - expected).mean())
    distance = {mistake: float(np.abs(unit - result).mean()) for mistake, result in variants.items()}
    closest = min(distance, key=distance.get) if distance else None
    if closest is not None and distance[closest] < error / 3:
        _fail_shear(check, closest, "the lesson's shear", f"mean difference {error:.3f}", where)
    check.that(error < 0.01, f"sheared image ({where})", "mean difference < 0.01 from the lesson's shear",
               f"mean difference {error:.4f}",
               "warp(image, AffineTransform(shear=shear)): the transform is the inverse map (output -> input).")


@exercise("shear_image", LESSON)
def shear_image(check):
    toy = line_image(12, 16, 4)
    found = check.call(toy, 0.6)
    judge_shear_line(check, found, toy.shape, 4, 0.6, 0.684137, where="12 x 16 line toy, shear 0.6")
    found = check.call(toy)
    judge_shear_line(check, found, toy.shape, 4, 0.2, 0.202710, where="12 x 16 line toy, default shear 0.2")
    toy8 = line_image(12, 16, 4, value=200 / 255, dtype=np.uint8)
    found = check.call(toy8, 0.6)
    judge_shear_line(check, found, toy8.shape, 4, 0.6, 0.684137, value=200 / 255, integer_max=255,
                     where="uint8 line toy of 200, shear 0.6")


# --------------------------------------------------------------------------- rotate_image_and_masks

ROTATION_HINTS = {
    "clockwise": "Positive angles turn counter-clockwise, as skimage.transform.rotate(image, angle); use the same "
                 "angle for the image and the masks.",
    "radians": "The image did not turn: rotate takes degrees (do not convert the angle to radians).",
    "unchanged": "Masks must move exactly like the image, or they no longer outline the organs.",
    "area": "Thresholding a linearly interpolated mask at > 0 grows it by its outline: rotate masks with nearest "
            "neighbour (order=0).",
    "moved": "Rotate every mask by the same angle about the same centre (the image centre) as the image.",
    "bool": "Rotate masks with nearest neighbour (order=0) and keep them boolean: linear interpolation turns the "
            "outline into fractions that are no longer a mask.",
}


def split_rotation_result(check, result, names, shape, integer_max=None, where=""):
    """The structure every rotate_image_and_masks result must have; returns (image on the [0, 1] scale, masks)."""
    check.that(type(result) is tuple and len(result) == 2, f"returns (image, masks) ({where})",
               "a tuple (rotated_image, rotated_masks)", type(result).__name__,
               "End with `return rotated, rotated_masks`.")
    out_image, out_masks = result
    check.type_is(out_image, np.ndarray, concept=f"the image comes back as a numpy array ({where})")
    check.type_is(out_masks, dict, concept=f"masks come back as a dict ({where})",
                  hint="Build a dict with the same names: {name: ... for name, mask in masks.items()}.")
    check.that(set(out_masks) == set(names), f"same mask names ({where})", sorted(names), sorted(map(str, out_masks)))
    check.that(out_image.shape == tuple(shape), f"image keeps its shape ({where})", str(tuple(shape)),
               str(out_image.shape), "Rotate without enlarging the frame: rotate(..., resize=False) or "
               "scipy.ndimage.rotate(..., reshape=False).")
    for name in names:
        moved = out_masks[name]
        check.type_is(moved, np.ndarray, concept=f"mask {name!r} is a numpy array ({where})")
        check.that(moved.shape == tuple(shape), f"mask {name!r} keeps its shape ({where})", str(tuple(shape)),
                   str(moved.shape))
        check.that(moved.dtype == bool, f"mask {name!r} stays boolean ({where})", "dtype bool", str(moved.dtype),
                   ROTATION_HINTS["bool"])
    return as_unit(out_image, integer_max), out_masks


def judge_centroid(check, what, found, expected, clockwise, unchanged, where, hint_unchanged):
    """A centroid (row, column) after rotation, against the expected one, the clockwise one and the input's."""
    found, expected = np.asarray(found, dtype=float), np.asarray(expected, dtype=float)
    text = f"centre at row {found[0]:.2f}, column {found[1]:.2f}"
    wanted = f"centre at row {expected[0]:.2f}, column {expected[1]:.2f}"
    near = 0.5
    if np.linalg.norm(found - expected) > near and np.linalg.norm(found - clockwise) <= near:
        check.fail(f"{what} turns counter-clockwise ({where})", wanted, text + " (turned clockwise)",
                   ROTATION_HINTS["clockwise"])
    if np.linalg.norm(found - expected) > near and np.linalg.norm(found - unchanged) <= near:
        check.fail(f"{what} rotated ({where})", wanted, text + " (where it was before)", hint_unchanged)
    check.that(np.linalg.norm(found - expected) <= near, f"{what} moves with the rotation ({where})", wanted, text,
               ROTATION_HINTS["moved"])


def centroid(weights):
    """(row, column) centre of mass of a non-negative array (NaNs when it is all zero).

    Examples
    --------
    >>> centroid(np.array([[0, 1], [0, 1]]))
    array([0.5, 1. ])
    """
    weights = np.asarray(weights, dtype=float)
    total = weights.sum()
    rows, cols = np.indices(weights.shape)
    if total <= 0:
        return np.array([np.nan, np.nan])
    return np.array([(rows * weights).sum() / total, (cols * weights).sum() / total])


def judge_mask_area(check, name, found_area, expected_area, where):
    check.that(abs(found_area - expected_area) <= 0.03 * expected_area + 2, f"mask {name!r} keeps its area ({where})",
               f"about {expected_area} pixels", f"{found_area} pixels", ROTATION_HINTS["area"])


def judge_rotated(check, image_unit, masks, expected_image, clockwise_image, expected_masks, clockwise_masks,
                  originals, angle, where):
    """Compare a rotation with the expected image and masks (hidden cases, where the reference is at hand)."""
    error = float(np.abs(image_unit - expected_image).mean())
    if angle and float(np.abs(image_unit - clockwise_image).mean()) < error / 3:
        check.fail(f"image turns counter-clockwise ({where})", f"{angle:g} degrees counter-clockwise",
                   "turned clockwise",
                   ROTATION_HINTS["clockwise"])
    check.that(error < 0.02, f"image rotated by {angle:g} degrees ({where})",
               "a linear interpolation of the image turned about its centre", f"mean difference {error:.3f}",
               "skimage.transform.rotate(image, angle) turns about the image centre, counter-clockwise, in degrees.")
    for name, reference in expected_masks.items():
        moved = masks[name]
        if angle and np.array_equal(moved, originals[name]) and not np.array_equal(reference, originals[name]):
            check.fail(f"mask {name!r} rotated ({where})", "the mask turned with the image", "the mask is unchanged",
                       ROTATION_HINTS["unchanged"])
        if angle and (moved ^ clockwise_masks[name]).sum() < (moved ^ reference).sum() / 3:
            check.fail(f"mask {name!r} turns the same way as the image ({where})", "counter-clockwise",
                       "turned clockwise", ROTATION_HINTS["clockwise"])
        judge_mask_area(check, name, int(moved.sum()), int(reference.sum()), where)
        outline = _outline(reference)
        misplaced = int(((moved ^ reference) & ~outline).sum())
        check.that(misplaced == 0, f"mask {name!r} moves with the image ({where})", "no pixel off the outline",
                   f"{misplaced} pixels differ away from the outline", ROTATION_HINTS["moved"])


def _outline(mask):
    """Pixels on or next to a mask's edge: where rounding may legitimately differ."""
    return ndimage.binary_dilation(mask) & ~ndimage.binary_erosion(mask)


def rotation_toy():
    """The 40 x 50 toy: a chest (0.7) with a heart (1.0) left of the centre, on 0.2; and their masks."""
    grid_rows, grid_cols = np.mgrid[:40, :50]
    heart = (grid_rows > 18) & (grid_rows < 32) & (grid_cols > 12) & (grid_cols < 27)
    chest = (grid_rows > 6) & (grid_rows < 36) & (grid_cols > 5) & (grid_cols < 45)
    return 0.2 + 0.5 * chest + 0.3 * heart, {"heart": heart, "thorax": chest}


@exercise("rotate_image_and_masks", LESSON)
def rotate_image_and_masks(check):
    toy, masks = rotation_toy()
    where = "40 x 50 toy, 20 degrees"
    result = check.call(toy, masks, 20.0)
    image, moved = split_rotation_result(check, result, ["heart", "thorax"], toy.shape, where=where)
    # Worked out once for this toy (centres as (row, column)); the heart starts at (25.0, 19.5).
    judge_centroid(check, "the heart in the image", centroid(image > 0.85), (26.38, 21.70), (22.91, 17.96),
                   (25.0, 19.5), where, ROTATION_HINTS["radians"])
    check.close(float(image.mean()), 0.4835, f"mean grey of the rotated image ({where})", atol=0.01,
                hint="Interpolate the image linearly and fill the corners that come from outside it with 0, as "
                     "skimage.transform.rotate(image, angle) does.")
    check.that(image[0, 0] < 0.01 and image[-1, -1] < 0.01, f"corners from outside the image are black ({where})",
               "0 in the top-left and bottom-right corners", f"{image[0, 0]:.3f} and {image[-1, -1]:.3f}",
               "Fill with 0 (rotate's default cval) and keep the frame: the corners are the wedges of the lesson.")
    for name, start, after, clockwise, area in [("heart", (25.0, 19.5), (26.34, 21.72), (22.91, 17.96), 181),
                                                ("thorax", (21.0, 25.0), (20.66, 25.55), (21.0, 24.41), 1125)]:
        if np.array_equal(moved[name], masks[name]):
            check.fail(f"mask {name!r} rotated ({where})", "the mask turned with the image", "the mask is unchanged",
                       ROTATION_HINTS["unchanged"])
        judge_mask_area(check, name, int(moved[name].sum()), area, where)
        judge_centroid(check, f"mask {name!r}", centroid(moved[name]), after, clockwise, start, where,
                       ROTATION_HINTS["unchanged"])


# --------------------------------------------------------------------------- valid_augmentations

AUGMENTATION_OPTIONS = ("a", "b", "c", "d", "e")


def chosen_letters(check):
    """The learner's letters, checked for type and content, as a set of lower-case strings."""
    answer = check.value()
    check.type_is(answer, (list, tuple, str), concept="type of the answer",
                  hint='Use a list of letters, e.g. valid_augmentations = ["a", "b"].')
    chosen = {str(letter).strip().lower() for letter in answer}
    check.that(chosen <= set(AUGMENTATION_OPTIONS), "letters from the list", list(AUGMENTATION_OPTIONS),
               sorted(chosen), "Use the letters a to e.")
    check.that(len(chosen) > 0, "at least one augmentation", "a non-empty list", "an empty list",
               "Some of the augmentations above are fine: which kept the CTR and look like a real radiograph?")
    return chosen


@exercise("valid_augmentations", LESSON, kind="value")
def valid_augmentations(check):
    chosen_letters(check)
