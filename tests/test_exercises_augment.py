"""Lesson 2's exercises: correct answers in several styles pass the visible and hidden checks for
several course secrets; each typical mistake fails with a message that names it; results of a
crafted type fail as such; the solution notebook's check cells are one line each."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from skimage.color import rgb2gray, rgba2rgb
from skimage.transform import AffineTransform, resize, rotate, warp
from skimage.util import img_as_float

from medprep_grader import hidden
from medprep_grader.secret import rng_for
from medprep_helpers import augment
from medprep_helpers.checks import CheckFailed, Checker, LocalRunner, check
from exercise_testing import SECRETS, WireRunner, fails, grade  # noqa: F401 (shared by the exercise tests)

NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "02_augment" / "02_augment.ipynb"


class AlwaysEqualArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), bool)


class AlwaysEqualFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


# --------------------------------------------------------------------------- prepare_for_ml


def _prepare(images, angle, *, grey, border, turn, crop, common, size):
    """prepare_for_ml assembled from interchangeable steps (correct or wrong)."""
    cropped = []
    for image in images:
        g = grey(image)
        if border:
            g = border(g)
        g = turn(g, angle)
        cropped.append(crop(g, angle))
    shape = common([c.shape for c in cropped])
    return np.stack([size(c, shape) for c in cropped])


def grey_helper(image):
    return augment.to_grayscale_float(image)


def grey_own(image):
    """img_as_float, then the plain channel mean of R, G and B (alpha dropped)."""
    image = img_as_float(np.asarray(image))
    return image[..., :3].mean(axis=-1) if image.ndim == 3 else image


def grey_rgba2rgb(image):
    image = img_as_float(np.asarray(image))
    if image.ndim == 3 and image.shape[2] == 4:
        image = rgba2rgb(image)
    return rgb2gray(image) if image.ndim == 3 else image


def border_helper(g):
    top, bottom, left, right = augment.content_bounding_box(g, threshold=0.1 * g.max())
    return g[top:bottom, left:right]


def border_own(g):
    """Keep the rows and columns with at least 2 % of their pixels above a tenth of the maximum."""
    bright = g > 0.1 * g.max()
    rows = np.flatnonzero(bright.mean(axis=1) >= 0.02)
    cols = np.flatnonzero(bright.mean(axis=0) >= 0.02)
    return g[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def border_absolute(g):  # mistake: "dark" judged on the 0-1 scale
    top, bottom, left, right = augment.content_bounding_box(g)
    return g[top:bottom, left:right]


def turn_skimage(g, angle):
    return rotate(g, angle)


def turn_scipy(g, angle):
    return ndimage.rotate(g, angle, reshape=False, order=1)


def crop_helper(g, angle):
    top, bottom, left, right = augment.largest_valid_crop(g.shape, angle)
    return g[top:bottom, left:right]


def crop_shrink(g, angle, turn=turn_skimage):
    """The largest-area centred rectangle in which an image of ones, rotated by ``turn``, is 1 everywhere."""
    valid = turn(np.ones(g.shape), angle) > 0.999
    rows, cols = g.shape
    # columns each row must give up on the left and on the right to keep only valid pixels
    left = np.where(valid.any(axis=1), valid.argmax(axis=1), cols)
    right = np.where(valid.any(axis=1), valid[:, ::-1].argmax(axis=1), cols)
    best, box = 0, None
    for r in range(rows // 2):
        c = max(left[r:rows - r].max(), right[r:rows - r].max())
        area = (rows - 2 * r) * (cols - 2 * c)
        if cols - 2 * c > 0 and area > best:
            best, box = area, (r, c)
    r, c = box
    return g[r:rows - r, c:cols - c]


def common_smallest(shapes):
    return min(s[0] for s in shapes), min(s[1] for s in shapes)


def size_skimage(c, shape):
    return resize(c, shape, anti_aliasing=True)


def size_zoom(c, shape):
    out = ndimage.zoom(c, (shape[0] / c.shape[0], shape[1] / c.shape[1]), order=1)
    return np.clip(resize(out, shape, order=0) if out.shape != shape else out, 0, 1)


CORRECT = dict(grey=grey_helper, border=border_helper, turn=turn_skimage, crop=crop_helper,
               common=common_smallest, size=size_skimage)
STYLES = {
    "helpers": {},
    "own steps with scipy": dict(grey=grey_own, border=border_own, turn=turn_scipy,
                                 crop=lambda g, angle: crop_shrink(g, angle, turn_scipy), size=size_zoom),
    "rgba2rgb and a shrinking crop": dict(grey=grey_rgba2rgb, crop=crop_shrink),
}


def prepare_variant(**changes):
    steps = {**CORRECT, **changes}
    return lambda images, angle=2.0: _prepare(images, angle, **steps)


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("style", sorted(STYLES))
def test_prepare_for_ml_correct_styles_pass(style, secret):
    assert grade("prepare_for_ml", prepare_variant(**STYLES[style]), secret) > 30


def _own_max(image):
    image = np.asarray(image, dtype=float)
    image = image[..., :3].mean(axis=-1) if image.ndim == 3 else image
    return image / image.max()


def _rotate_first(images, angle=2.0):
    out = []
    for image in images:
        g = rotate(augment.to_grayscale_float(image), angle)
        out.append(border_helper(crop_helper(g, angle)))
    shape = common_smallest([o.shape for o in out])
    return np.stack([resize(o, shape) for o in out])


def _no_crop(g, angle):
    return g


def _fixed_margin(g, angle):
    return g[10:-10, 10:-10]


def _with_alpha(image):
    image = img_as_float(np.asarray(image))
    return image.mean(axis=-1) if image.ndim == 3 else image


def _rgb2gray_on_rgba(image):
    image = img_as_float(np.asarray(image))
    return rgb2gray(image) if image.ndim == 3 else image


def _by_255(image):
    image = np.asarray(image, dtype=float) / 255
    return image[..., :3].mean(axis=-1) if image.ndim == 3 else image


PREPARE_MISTAKES = {
    "scaled by the image's own maximum": (prepare_variant(grey=_own_max), "not by the image's own maximum"),
    "no wedge crop": (prepare_variant(crop=_no_crop), "no rotation wedge"),
    "a fixed 10-pixel margin": (prepare_variant(crop=_fixed_margin), "a fixed margin that works at 2 degrees"),
    "rotated before removing the border": (_rotate_first, "dark border removed before rotating"),
    "border never removed": (prepare_variant(border=None), "dark border removed"),
    "angle converted to radians": (prepare_variant(turn=lambda g, a: rotate(g, math.radians(a))),
                                   "do not convert to radians"),
    "angle negated": (prepare_variant(turn=lambda g, a: rotate(g, -a)), "rotation direction"),
    "alpha averaged in": (prepare_variant(grey=_with_alpha), "alpha channel dropped"),
    "rgb2gray on RGBA": (prepare_variant(grey=_rgb2gray_on_rgba), "drop the alpha channel first"),
    "uint16 divided by 255": (prepare_variant(grey=_by_255, border=border_own), "uint16 / 65535"),
    "fixed 0.1 threshold on a 12-bit image": (prepare_variant(border=border_absolute), "Judge 'dark' relative"),
    "upsampled to the largest": (prepare_variant(common=lambda s: (max(x[0] for x in s), max(x[1] for x in s))),
                                 "no upsampling"),
    "a list instead of an array": (lambda images, angle=2.0: list(prepare_variant()(images, angle)),
                                   "type of the result"),
    "always-equal ndarray subclass": (lambda images, angle=2.0: prepare_variant()(images, angle).view(AlwaysEqualArray),
                                      "type of the result"),
}


@pytest.mark.parametrize("mistake", sorted(PREPARE_MISTAKES))
def test_prepare_for_ml_mistakes_are_named(mistake):
    answer, phrase = PREPARE_MISTAKES[mistake]
    fails("prepare_for_ml", answer, phrase)


def test_prepare_for_ml_unsolved_and_modifying_answers():
    def untouched(images, angle=2.0):
        raise NotImplementedError()

    fails("prepare_for_ml", untouched, "not implemented yet")

    def in_place(images, angle=2.0):
        result = prepare_variant()(images, angle)
        images[0][...] = 0
        return result

    fails("prepare_for_ml", in_place, "inputs must not be modified")


# --------------------------------------------------------------------------- shear_image


def shear_reference(image, shear=0.2):
    return warp(image, AffineTransform(shear=shear))


def shear_preserve_range(image, shear=0.2):
    return warp(image, AffineTransform(shear=shear), preserve_range=True)


def shear_matrix(image, shear=0.2):
    matrix = np.array([[1.0, -np.tan(shear), 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return warp(img_as_float(image), AffineTransform(matrix=matrix), order=1)


def shear_scipy(image, shear=0.2):
    """scipy: output (row, col) reads the input at (row, col - tan(shear) * row)."""
    image = img_as_float(image)
    return ndimage.affine_transform(image, [[1.0, 0.0], [-np.tan(shear), 1.0]], order=1, mode="grid-constant")


def shear_rows_interp(image, shear=0.2):
    """Row by row: each row moves right by tan(shear) * row pixels (np.interp, black outside)."""
    image = img_as_float(image)
    cols = np.arange(image.shape[1])
    out = np.empty_like(image)
    for row in range(image.shape[0]):
        out[row] = np.interp(cols - np.tan(shear) * row, cols, image[row], left=0.0, right=0.0)
    return out


SHEAR_STYLES = {"warp": shear_reference, "preserve_range": shear_preserve_range, "matrix": shear_matrix,
                "scipy": shear_scipy, "row by row": shear_rows_interp}


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("style", sorted(SHEAR_STYLES))
def test_shear_image_correct_styles_pass(style, secret):
    assert grade("shear_image", SHEAR_STYLES[style], secret) >= 5


SHEAR_MISTAKES = {
    "degrees": (lambda image, shear=0.2: warp(image, AffineTransform(shear=np.deg2rad(shear))),
                "in degrees instead of radians"),
    "negative shear": (lambda image, shear=0.2: warp(image, AffineTransform(shear=-shear)), "sheared the wrong way"),
    "forward map": (lambda image, shear=0.2: warp(image, AffineTransform(shear=shear).inverse),
                    "warp expects the inverse map"),
    "about the centre": (lambda image, shear=0.2: augment.shear_with_masks(image, None, shear)[0],
                         "about the image centre"),
    "angle as the matrix factor": (lambda image, shear=0.2: warp(
        image, AffineTransform(matrix=np.array([[1, -shear, 0], [0, 1, 0], [0, 0, 1.0]]))), "it must be tan(shear)"),
    "rows instead of columns": (lambda image, shear=0.2: warp(image, AffineTransform(shear=(0, shear))),
                                "the rows (y) instead of the columns (x)"),
    "nearest neighbour": (lambda image, shear=0.2: warp(image, AffineTransform(shear=shear), order=0),
                          "linear interpolation"),
    "default shear missing": (lambda image, shear=0.6: warp(image, AffineTransform(shear=shear)), "default shear 0.2"),
    "enlarged output": (lambda image, shear=0.2: warp(image, AffineTransform(shear=shear),
                                                      output_shape=(image.shape[0], image.shape[1] + 10)),
                        "same shape as the input"),
    "always-equal ndarray subclass": (lambda image, shear=0.2: shear_reference(image, shear).view(AlwaysEqualArray),
                                      "type of the result"),
}


@pytest.mark.parametrize("mistake", sorted(SHEAR_MISTAKES))
def test_shear_image_mistakes_are_named(mistake):
    answer, phrase = SHEAR_MISTAKES[mistake]
    fails("shear_image", answer, phrase)


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("mistake", ["degrees", "negative shear", "about the centre", "rows instead of columns",
                                     "angle as the matrix factor"])
def test_shear_image_hidden_cases_name_the_mistakes_too(mistake, secret):
    """A learner who special-cases the visible toys is still caught, by name, on the hidden inputs."""
    wrong, phrase = SHEAR_MISTAKES[mistake]

    def visible_only(image, shear=0.2):
        return shear_reference(image, shear) if image.shape == (12, 16) else wrong(image, shear)

    check("shear_image", visible_only)
    checker = Checker("shear_image", LocalRunner(visible_only), kind="hidden")
    with pytest.raises(CheckFailed, match="Looks like you") as failure:
        hidden.get("shear_image").run(checker, rng_for("shear_image", secret))
    assert phrase in " ".join(str(failure.value).split()), str(failure.value)


# --------------------------------------------------------------------------- rotate_image_and_masks


def rotate_skimage(image, masks, angle):
    return rotate(image, angle), {name: rotate(mask, angle, order=0) for name, mask in masks.items()}


def rotate_preserve_range(image, masks, angle):
    return (rotate(image, angle, preserve_range=True),
            {name: rotate(mask, angle, order=0, preserve_range=True).astype(bool) for name, mask in masks.items()})


def rotate_scipy(image, masks, angle):
    return (ndimage.rotate(img_as_float(image), angle, reshape=False, order=1),
            {name: ndimage.rotate(mask, angle, reshape=False, order=0) for name, mask in masks.items()})


def rotate_threshold_half(image, masks, angle):
    """Masks rotated as floats and thresholded at one half: the nearest-neighbour outline, near enough."""
    return rotate(image, angle), {name: rotate(mask.astype(float), angle) >= 0.5 for name, mask in masks.items()}


ROTATE_STYLES = {"skimage": rotate_skimage, "preserve_range": rotate_preserve_range, "scipy": rotate_scipy,
                 "threshold at 0.5": rotate_threshold_half}


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("style", sorted(ROTATE_STYLES))
def test_rotate_image_and_masks_correct_styles_pass(style, secret):
    assert grade("rotate_image_and_masks", ROTATE_STYLES[style], secret) > 30


ROTATE_MISTAKES = {
    "clockwise": (lambda image, masks, angle: rotate_skimage(image, masks, -angle), "turned clockwise"),
    "masks clockwise": (lambda image, masks, angle: (rotate(image, angle), rotate_skimage(image, masks, -angle)[1]),
                        "turned clockwise"),
    "masks not moved": (lambda image, masks, angle: (rotate(image, angle), dict(masks)), "the mask is unchanged"),
    "radians": (lambda image, masks, angle: rotate_skimage(image, masks, math.radians(angle)),
                "do not convert the angle to radians"),
    "linear masks thresholded at 0": (lambda image, masks, angle: (
        rotate(image, angle), {n: rotate(m.astype(float), angle) > 0 for n, m in masks.items()}), "keeps its area"),
    "float masks": (lambda image, masks, angle: (
        rotate(image, angle), {n: rotate(m, angle, order=0).astype(float) for n, m in masks.items()}),
        "stays boolean"),
    "enlarged frame": (lambda image, masks, angle: (
        rotate(image, angle, resize=True), {n: rotate(m, angle, order=0, resize=True) for n, m in masks.items()}),
        "keeps its shape"),
    "masks about the corner": (lambda image, masks, angle: (
        rotate(image, angle), {n: rotate(m, angle, order=0, center=(0, 0)) for n, m in masks.items()}),
        "same centre (the image centre)"),
    "a list instead of a tuple": (lambda image, masks, angle: list(rotate_skimage(image, masks, angle)),
                                  "returns (image, masks)"),
    "always-equal ndarray subclass": (lambda image, masks, angle: (
        rotate(image, angle).view(AlwaysEqualArray), rotate_skimage(image, masks, angle)[1]), "type of the result"),
}


@pytest.mark.parametrize("mistake", sorted(ROTATE_MISTAKES))
def test_rotate_image_and_masks_mistakes_are_named(mistake):
    answer, phrase = ROTATE_MISTAKES[mistake]
    fails("rotate_image_and_masks", answer, phrase)


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("mistake", ["clockwise", "masks not moved", "linear masks thresholded at 0"])
def test_rotate_image_and_masks_hidden_cases_name_the_mistakes_too(mistake, secret):
    wrong, phrase = ROTATE_MISTAKES[mistake]

    def visible_only(image, masks, angle):
        return rotate_skimage(image, masks, angle) if angle == 20.0 else wrong(image, masks, angle)

    check("rotate_image_and_masks", visible_only)
    checker = Checker("rotate_image_and_masks", LocalRunner(visible_only), kind="hidden")
    with pytest.raises(CheckFailed) as failure:
        hidden.get("rotate_image_and_masks").run(checker, rng_for("rotate_image_and_masks", secret))
    assert phrase in " ".join(str(failure.value).split()), str(failure.value)


def test_rotate_image_and_masks_reports_the_helper_that_answers_it():
    assert {"rotate_with_masks", "apply_augmentation"} <= set(hidden.get("rotate_image_and_masks").helpers_that_answer)
    image, masks = np.zeros((30, 40)), {"heart": np.zeros((30, 40), bool)}
    via_helper, moved = augment.rotate_with_masks(image, masks, 7.0)
    expected, expected_masks = rotate_skimage(image, masks, 7.0)
    assert np.allclose(via_helper, expected) and np.array_equal(moved["heart"], expected_masks["heart"])


# --------------------------------------------------------------------------- valid_augmentations


@pytest.mark.parametrize("answer", [["a", "e"], ("e", "a"), "ae", ["A", " e "]])
def test_valid_augmentations_correct_forms_pass(answer):
    assert grade("valid_augmentations", answer) == 8


@pytest.mark.parametrize("answer, phrase", [
    (["a", "c"], "option c"), (["b", "e"], "option a"), (["a", "d", "e"], "option d"), (["a"], "option e"),
    ([], "at least one augmentation"), (["z"], "letters from the list"), ({"a", "e"}, "type of the answer"),
    (AlwaysEqualFloat(1.0), "type of the answer"),
])
def test_valid_augmentations_wrong_answers_fail(answer, phrase):
    fails("valid_augmentations", answer, phrase)


# --------------------------------------------------------------------------- the notebook


def test_solution_notebook_check_cells_are_one_line_without_hidden_tests():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    checks = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"])
        assert "BEGIN HIDDEN TESTS" not in source
        if meta.get("grade") and meta.get("grade_id", "").endswith("_checks"):
            checks[meta["grade_id"][: -len("_checks")]] = source.strip()
    assert checks == {
        "prepare_for_ml": 'check("prepare_for_ml", prepare_for_ml)',
        "shear_image": 'check("shear_image", shear_image)',
        "rotate_image_and_masks": 'check("rotate_image_and_masks", rotate_image_and_masks)',
        "valid_augmentations": 'check("valid_augmentations")',
    }
