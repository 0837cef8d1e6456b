"""Hidden checks of lesson 2, Augment and prepare images for classic ML.

Inputs are drawn from the course secret: sizes, angles, shears, grey levels, and synthetic
radiographs made by :func:`medprep_helpers.phantom.synthetic_radiograph` from a seed drawn here
(not the lesson's files). Expected results come from scikit-image, the reference the tasks name.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import AffineTransform, rotate, warp

from medprep_helpers import augment
from medprep_helpers.exercises.augment import (
    AUGMENTATION_OPTIONS,
    BORDER_LEVEL,
    RGBA_CRASH_HINT,
    TWELVE_BIT_CRASH_HINT,
    call_prepare,
    chosen_letters,
    flat_image,
    judge_border_removed,
    judge_common_shape,
    judge_crop_area,
    judge_no_wedge,
    judge_rotated,
    judge_scale,
    judge_shear_line,
    judge_sheared_image,
    line_image,
    rotation_toy,
    split_rotation_result,
)
from medprep_helpers.phantom import synthetic_radiograph

from . import hidden


def _sign(rng) -> int:
    return int(rng.choice([-1, 1]))


def _radiograph(rng, shape, **kwargs):
    seed, ctr = int(rng.integers(0, 2**31)), float(rng.uniform(0.4, 0.6))
    try:
        return synthetic_radiograph(seed=seed, shape=shape, ctr=ctr, **kwargs)
    except ValueError:  # a small image with a wide border may leave no room for the side marker
        return synthetic_radiograph(seed=seed, shape=shape, ctr=ctr, marker=None, **kwargs)


def _largest_crop_area(shape, angle: float) -> int:
    """Pixels of the largest wedge-free crop of a ``shape`` image rotated by ``angle`` (one pixel of slack per side)."""
    top, bottom, left, right = augment.largest_valid_crop(shape, angle)
    return (bottom - top + 2) * (right - left + 2)


def _content_shape(grey: np.ndarray) -> tuple[int, int]:
    """Rows and columns of an image without its dark border."""
    top, bottom, left, right = augment.content_bounding_box(grey, threshold=0.1 * grey.max())
    return bottom - top, right - left


# --------------------------------------------------------------------------- prepare_for_ml


@hidden("prepare_for_ml")
def prepare_for_ml(check, rng):
    # Flat images, tall, wide and square, turned by a large angle of either sign.
    for kind, (rows, cols) in [("tall", (int(rng.integers(100, 160)), int(rng.integers(40, 70)))),
                               ("wide", (int(rng.integers(40, 70)), int(rng.integers(100, 160)))),
                               ("square", (int(rng.integers(60, 120)),) * 2)]:
        angle = _sign(rng) * float(rng.uniform(2, 30))
        value = int(rng.integers(90, 220)) / 255
        where = f"a flat {kind} image, {rows} x {cols}, angle {angle:.1f}"
        found = call_prepare(check, [flat_image(rows, cols, value)], angle, where)
        judge_no_wedge(check, found[0], value, where)
        judge_crop_area(check, found, _largest_crop_area((rows, cols), angle), where)

    level = float(rng.uniform(0.3, 0.9))
    image = np.full((int(rng.integers(30, 60)), int(rng.integers(30, 60))), level, dtype=np.float32)
    found = call_prepare(check, [image], 0.0, "a float32 image")
    check.close(float(np.median(found)), level, "float images in [0, 1] keep their values", atol=0.01,
                hint="Float images are already in [0, 1]: do not rescale them.")

    rows, cols, border = int(rng.integers(50, 90)), int(rng.integers(50, 90)), int(rng.integers(4, 10))
    bright = int(rng.integers(1500, 4000))  # 12-bit content: below 0.0625 after / 65535
    twelve_bit = np.full((rows, cols), 40, dtype=np.uint16)
    twelve_bit[border:-border, border:-border] = bright
    angle = _sign(rng) * float(rng.uniform(1, 5))
    where = "a 12-bit image stored as uint16 with a dark border"
    found = call_prepare(check, [twelve_bit], angle, where, crash_hint=TWELVE_BIT_CRASH_HINT)
    check.that(found.min() > 0.25 * bright / 65535, f"dark border of a 12-bit image removed ({where})",
               f"pixels near {bright / 65535:.4f}", f"darkest pixel {found.min():.5f}", TWELVE_BIT_CRASH_HINT)
    judge_scale(check, float(np.median(found)), bright / 65535, 1.0, where, atol=0.002)

    # Three synthetic radiographs: uint8 with a collimation border, 12-bit uint16 with one, and an RGBA one.
    angle = _sign(rng) * float(rng.uniform(1, 3))
    shapes = [(int(rng.integers(110, 170)), int(rng.integers(110, 170))) for _ in range(3)]
    borders = [int(rng.integers(8, 14)), int(rng.integers(8, 14)), 0]
    framed = _radiograph(rng, shapes[0], border=borders[0]).image
    deep = _radiograph(rng, shapes[1], border=borders[1], dtype="uint16").image
    plain = _radiograph(rng, shapes[2]).image
    rgba = np.dstack([plain] * 3 + [np.full(plain.shape, 255, dtype=np.uint8)])
    images = [framed, deep, rgba]
    where = f"three synthetic radiographs (uint8 with a border, 12-bit uint16 with a border, RGBA), angle {angle:.1f}"
    found = call_prepare(check, images, angle, where, crash_hint=RGBA_CRASH_HINT)
    contents = [_content_shape(augment.to_grayscale_float(image)) for image in images]
    judge_common_shape(check, found, min(r for r, _ in contents), min(c for _, c in contents), where)
    judge_crop_area(check, found, min(_largest_crop_area(shape, angle) for shape in contents), where)
    check.that(found[1].max() <= 4095 / 65535 + 0.005, f"12 bits in uint16 are divided by 65535 ({where})",
               f"at most {4095 / 65535:.4f}", f"{found[1].max():.4f}",
               "Divide uint16 by 65535, whatever the image's own maximum (the contract fixes the scale).")
    judge_border_removed(check, found[0], round(BORDER_LEVEL * 255) / 255, f"{where}, uint8")
    judge_border_removed(check, found[1], round(BORDER_LEVEL * 4095) / 65535, f"{where}, uint16")


# --------------------------------------------------------------------------- shear_image


def _shear_variants(image: np.ndarray, shear: float) -> dict:
    """What each typical mistake gives (the keys of SHEAR_MISTAKES), on the [0, 1] scale."""
    return {
        "degrees": warp(image, AffineTransform(shear=np.deg2rad(shear))),
        "wrong_way": warp(image, AffineTransform(shear=-shear)),
        "centre": augment.shear_with_masks(image, None, shear)[0],
        "factor": warp(image, AffineTransform(matrix=np.array([[1, -shear, 0], [0, 1, 0], [0, 0, 1.0]]))),
        "rows": warp(image, AffineTransform(shear=(0, shear))),
    }


@hidden("shear_image")
def shear_image(check, rng):
    # A line toy of random size, position and shear (either sign).
    shear = _sign(rng) * float(rng.uniform(0.4, 0.75))  # tan(shear) and shear differ by more than 0.02
    rows = int(rng.integers(14, 40))
    travel = int(np.ceil(abs(np.tan(shear)) * (rows - 1)))
    margin = int(rng.integers(2, 8))
    cols = travel + 2 * margin + 2
    column = margin + (0 if shear > 0 else travel)
    value = float(rng.uniform(0.5, 1.0))
    toy = line_image(rows, cols, column, value)
    found = check.call(toy, shear)
    judge_shear_line(check, found, toy.shape, column, shear, float(np.tan(shear)), value=value,
                     where=f"a {rows} x {cols} line toy, shear {shear:.2f}")

    # A synthetic radiograph, uint8 (either value range accepted), random shear.
    shear = _sign(rng) * float(rng.uniform(0.1, 0.6))
    image = _radiograph(rng, (int(rng.integers(90, 140)), int(rng.integers(90, 140)))).image
    unit = image / 255.0
    found = check.call(image, shear)
    judge_sheared_image(check, found, warp(unit, AffineTransform(shear=shear)), _shear_variants(unit, shear),
                        integer_max=255, where=f"a uint8 synthetic radiograph, shear {shear:.2f}")

    # The same as floats, with the default shear.
    found = check.call(unit)
    judge_sheared_image(check, found, warp(unit, AffineTransform(shear=0.2)), _shear_variants(unit, 0.2),
                        where="a float synthetic radiograph, default shear")


# --------------------------------------------------------------------------- rotate_image_and_masks


def _judge_rotation_case(check, image, masks, angle, where):
    integer_max = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else None
    unit = image / integer_max if integer_max else image
    result = check.call(image, masks, angle)
    found_image, found_masks = split_rotation_result(check, result, list(masks), image.shape, integer_max, where)
    judge_rotated(check, found_image, found_masks, rotate(unit, angle), rotate(unit, -angle),
                  {name: rotate(mask, angle, order=0) for name, mask in masks.items()},
                  {name: rotate(mask, -angle, order=0) for name, mask in masks.items()},
                  masks, angle, where)


@hidden("rotate_image_and_masks", helpers_that_answer=("rotate_with_masks", "apply_augmentation"))
def rotate_image_and_masks(check, rng):
    toy, masks = rotation_toy()
    angle = _sign(rng) * float(rng.uniform(5, 40))
    _judge_rotation_case(check, toy, masks, angle, f"40 x 50 toy, {angle:.1f} degrees")
    _judge_rotation_case(check, toy, {"heart": masks["heart"]}, 0.0, "toy, 0 degrees (nothing moves)")
    dtype = str(rng.choice(["uint8", "uint16"]))
    shape = (int(rng.integers(80, 140)), int(rng.integers(80, 140)))
    cxr = _radiograph(rng, shape, dtype=dtype)
    angle = _sign(rng) * float(rng.uniform(2, 30))
    chosen = {name: cxr.masks[name] for name in ("heart", "lungs", "thorax")}
    _judge_rotation_case(check, cxr.image, chosen, angle,
                         f"a {dtype} synthetic radiograph with heart, lung and thorax masks, {angle:.1f} degrees")


# --------------------------------------------------------------------------- valid_augmentations

_REASONS = {
    "a": "(a) is fine: a rotation of a few degrees is what positioning does every day, and it kept the CTR within 0.01.",
    "b": "(b) is not: no PA chest film is taken 25 degrees off, and the CTR moved by several hundredths.",
    "c": "(c) is not: the CTR survives a flip, but the heart moves to the patient's right (situs inversus) and the "
         "side marker reads backwards; a model should not learn that as normal.",
    "d": "(d) is not: the wave changed the CTR by more than 0.1 and turned a cardiomegaly image into a normal one.",
    "e": "(e) is fine: a slight shear mimics an oblique patient, and it kept the CTR within 0.01.",
}
_VALID = {"a", "e"}


@hidden("valid_augmentations")
def valid_augmentations(check, rng):
    chosen = chosen_letters(check)
    for letter in AUGMENTATION_OPTIONS:
        keep = letter in _VALID
        check.that((letter in chosen) == keep, f"option {letter}", "included" if keep else "left out",
                   "included" if letter in chosen else "left out", _REASONS[letter])
