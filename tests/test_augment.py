"""Tests for medprep_helpers.augment: images and masks move together, reproducibly."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.transform import AffineTransform, resize, rotate, warp

from medprep_helpers import augment as aug

# Any deprecated call inside the helpers (ours or scikit-image's) fails the test.
pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning", "error::FutureWarning")


# --------------------------------------------------------------------------- fixtures
def ctr_of(masks) -> float:
    """Cardiothoracic ratio as the course defines it (column extents, both ends included)."""

    def extent(mask):
        cols = np.flatnonzero(mask.any(axis=0))
        return cols[-1] - cols[0] + 1

    return extent(masks["heart"]) / extent(masks["thorax"])


@pytest.fixture
def chest():
    """A 128 x 128 'radiograph': rectangle thorax, rectangle heart inside, a smooth texture."""
    rows, cols = 128, 128
    thorax = np.zeros((rows, cols), bool)
    thorax[24:110, 19:109] = True  # 90 columns wide
    heart = np.zeros((rows, cols), bool)
    heart[60:100, 44:84] = True  # 40 columns wide: ctr = 0.444
    lungs = thorax & ~heart
    y, x = np.mgrid[:rows, :cols]
    image = (40 + 120 * thorax + 60 * heart + 20 * np.sin(x / 7.0) * np.cos(y / 5.0)).astype(np.uint8)
    return image, {"thorax": thorax, "lungs": lungs, "heart": heart}


@pytest.fixture
def blob():
    """An irregular boolean shape well inside a 96 x 96 frame."""
    y, x = np.mgrid[:96, :96]
    return ((x - 50) ** 2 / 400 + (y - 44) ** 2 / 150 < 1) | ((x > 30) & (x < 45) & (y > 50) & (y < 75))


def assert_aligned(image_out, mask_out):
    """An image that equalled its mask must still match the mask after the transform."""
    assert mask_out.dtype == bool
    assert mask_out.sum() > 100
    # Linear interpolation may disagree with nearest neighbour, but only on the outline...
    outline = ndi.binary_dilation(mask_out) & ~ndi.binary_erosion(mask_out)
    mismatch = (image_out > 0.5) ^ mask_out
    assert not (mismatch & ~outline).any()
    # ... and the two shapes have the same centre (to half a pixel).
    np.testing.assert_allclose(ndi.center_of_mass(image_out), ndi.center_of_mass(mask_out), atol=0.5)


# --------------------------------------------------------------------------- identity
def test_identity_parameters_return_the_input(chest):
    image, masks = chest
    out, moved = aug.apply_augmentation(image, masks, {})
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, image)
    for key in masks:
        assert moved[key].dtype == bool
        np.testing.assert_array_equal(moved[key], masks[key])

    for out, moved in [
        aug.rotate_with_masks(image, masks, 0.0),
        aug.shear_with_masks(image, masks, 0.0),
        aug.random_augment(image, masks, seed=3, max_rotation=0, max_shear=0, max_scale=0, max_shift=0)[:2],
        aug.crop_with_masks(image, masks, (0, 128, 0, 128)),
        aug.resize_with_masks(image, masks, (128, 128)),
    ]:
        np.testing.assert_allclose(out, image, atol=1e-9)
        assert all(np.array_equal(moved[key], masks[key]) for key in masks)


def test_wave_with_zero_amplitude_or_zero_waves_is_the_identity(chest):
    image, masks = chest
    for kwargs in ({"amplitude": 0, "n_waves": 2}, {"amplitude": 10, "n_waves": 0}):
        out, moved, mesh = aug.wave_warp_with_masks(image, masks, grid=(6, 6), **kwargs)
        np.testing.assert_allclose(out, image, atol=1e-9)
        assert all(np.array_equal(moved[key], masks[key]) for key in masks)
        np.testing.assert_allclose(mesh.destination, mesh.source)


# --------------------------------------------------------------------------- agreement with scikit-image
def test_rotation_matches_skimage_rotate(chest):
    image, masks = chest
    out, moved = aug.rotate_with_masks(image, masks, 7.0)
    expected = rotate(image, 7.0, order=1, preserve_range=True, clip=False)
    np.testing.assert_allclose(out, expected, atol=1e-9)
    for key, mask in masks.items():
        np.testing.assert_array_equal(moved[key], rotate(mask, 7.0, order=0, preserve_range=True))


def test_composed_augmentation_matches_one_skimage_warp(chest):
    image, masks = chest
    params = {"rotation": -2.5, "shear": 0.04, "scale": 1.03, "shift_rows": 0.02, "shift_cols": -0.01, "flip": False}
    out, moved = aug.apply_augmentation(image, masks, params)
    forward = aug.augmentation_transform(image.shape, params)
    inverse = AffineTransform(matrix=np.linalg.inv(forward.params))
    np.testing.assert_allclose(out, warp(image, inverse, order=1, preserve_range=True, clip=False), atol=1e-9)
    for key, mask in masks.items():
        np.testing.assert_array_equal(moved[key], warp(mask, inverse, order=0, preserve_range=True))


def test_parameter_conventions():
    image = np.zeros((41, 61))
    image[20, 30] = 1.0  # the centre pixel
    image[20, 40] = 2.0  # ten pixels right of it
    shifted, _ = aug.apply_augmentation(image, None, {"shift_cols": 5 / 61, "shift_rows": -4 / 41})
    assert shifted[16, 45] == pytest.approx(2.0)  # right and up
    turned, _ = aug.rotate_with_masks(image, None, 90)
    assert turned[10, 30] == pytest.approx(2.0)  # counter-clockwise: right goes to the top
    assert turned[20, 30] == pytest.approx(1.0)  # about the centre
    zoomed, _ = aug.apply_augmentation(image, None, {"scale": 2.0})
    assert zoomed[20, 50] == pytest.approx(2.0)  # twice as far from the centre
    mirrored, _ = aug.apply_augmentation(image, None, {"flip": True})
    np.testing.assert_array_equal(mirrored, image[:, ::-1])
    sheared, _ = aug.shear_with_masks(image, None, np.arctan(1.0))
    assert sheared[20, 40] == pytest.approx(2.0)  # the centre row stays put
    column = np.zeros((41, 61))
    column[:, 30] = 1
    sheared, _ = aug.shear_with_masks(column, None, np.arctan(0.5))
    assert sheared[40, 40] == pytest.approx(1.0) and sheared[0, 20] == pytest.approx(1.0)  # lower rows move right


# --------------------------------------------------------------------------- masks stay boolean and aligned
@pytest.mark.parametrize(
    "transform",
    [
        lambda im, m: aug.rotate_with_masks(im, m, 11.0),
        lambda im, m: aug.shear_with_masks(im, m, 0.2),
        lambda im, m: aug.apply_augmentation(im, m, {"rotation": 4, "shear": 0.05, "scale": 1.1, "shift_rows": 0.05}),
        lambda im, m: aug.wave_warp_with_masks(im, m, amplitude=6, n_waves=1.5, grid=(12, 6))[:2],
        lambda im, m: aug.wave_warp_with_masks(im, m, amplitude=6, n_waves=1, grid=(6, 12), direction="vertical")[:2],
        lambda im, m: aug.resize_with_masks(im, m, (150, 70)),
        lambda im, m: aug.resize_with_masks(im, m, (48, 48), anti_aliasing=False),
    ],
    ids=["rotate", "shear", "composed", "wave", "wave-vertical", "resize-up", "resize-down"],
)
def test_masks_stay_boolean_and_aligned_with_the_image(blob, transform):
    out, moved = transform(blob.astype(np.float64), {"blob": blob, "inverse": ~blob})
    assert set(moved) == {"blob", "inverse"}
    assert out.dtype == np.float64
    assert_aligned(out, moved["blob"])
    assert not (moved["blob"] & moved["inverse"]).any()  # nearest neighbour never mixes masks


def test_more_masks_than_bits_in_a_byte(blob):
    masks = {f"m{i}": np.roll(blob, 3 * i, axis=1) for i in range(11)}
    _, moved = aug.rotate_with_masks(blob.astype(float), masks, 5.0)
    for key, mask in masks.items():
        np.testing.assert_array_equal(moved[key], rotate(mask, 5.0, order=0, preserve_range=True))


def test_resize_masks_match_skimage_nearest_neighbour(chest):
    image, masks = chest
    out, moved = aug.resize_with_masks(image, masks, (100, 90))
    assert out.shape == (100, 90)
    for key, mask in masks.items():
        np.testing.assert_array_equal(moved[key], resize(mask, (100, 90), order=0, anti_aliasing=False))


def test_crop_returns_copies_of_the_box(chest):
    image, masks = chest
    out, moved = aug.crop_with_masks(image, masks, (10, 50, 20, 90))
    np.testing.assert_array_equal(out, image[10:50, 20:90])
    np.testing.assert_array_equal(moved["heart"], masks["heart"][10:50, 20:90])
    assert not np.shares_memory(moved["heart"], masks["heart"])


# --------------------------------------------------------------------------- CTR: realistic vs unrealistic
def test_small_rotation_changes_ctr_a_little_and_the_wave_a_lot(chest):
    image, masks = chest
    before = ctr_of(masks)
    _, rotated = aug.rotate_with_masks(image, masks, 2.0)
    _, waved, _ = aug.wave_warp_with_masks(image, masks, amplitude=12, n_waves=1.5, grid=(20, 4))
    rotation_change = abs(ctr_of(rotated) - before)
    wave_change = abs(ctr_of(waved) - before)
    assert 0 < rotation_change < 0.02
    assert wave_change > 0.05
    assert wave_change > 5 * rotation_change


def test_vertical_wave_mesh_is_displaced_by_the_amplitude(chest):
    image, masks = chest
    _, _, mesh = aug.wave_warp_with_masks(image, masks, amplitude=5, n_waves=1, grid=(6, 9), direction="vertical")
    assert mesh.grid == (6, 9)
    assert mesh.source.shape == mesh.destination.shape == (54, 2)
    np.testing.assert_allclose(mesh.destination[:, 0], mesh.source[:, 0])  # columns stay
    assert np.abs(mesh.destination[:, 1] - mesh.source[:, 1]).max() == pytest.approx(5, abs=0.1)


# --------------------------------------------------------------------------- crops
@pytest.mark.parametrize("shape", [(64, 64), (65, 80), (90, 41), (512, 512)])
@pytest.mark.parametrize("angle", [0.5, 2, -3, 10, 30, 45, -60, 90])
def test_largest_valid_crop_leaves_no_wedge_and_is_tight(shape, angle):
    ones = np.ones(shape)
    rotated, _ = aug.rotate_with_masks(ones, None, angle)
    top, bottom, left, right = aug.largest_valid_crop(shape, angle)
    assert (rotated[top:bottom, left:right] > 1 - 1e-9).all()
    # Centred: the same margin on both sides (to the pixel).
    assert top == shape[0] - bottom and left == shape[1] - right
    if top > 0 and left > 0:  # one more pixel on every side would take in a wedge
        assert (rotated[top - 1 : bottom + 1, left - 1 : right + 1] < 1 - 1e-9).any()
    assert aug.largest_valid_crop(shape, -angle) == (top, bottom, left, right)


def test_largest_valid_crop_known_values():
    assert aug.largest_valid_crop((100, 60), 0) == (0, 100, 0, 60)
    top, bottom, left, right = aug.largest_valid_crop((1001, 1001), 45)
    assert bottom - top == pytest.approx(1000 / np.sqrt(2), abs=2)  # a square turned 45 degrees
    assert right - left == bottom - top


def test_content_bounding_box_finds_a_noisy_dark_border():
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(0.02, 0.02, (80, 100)), 0, 1)  # dark, noisy border
    image[12:70, 7:95] = rng.uniform(0.3, 0.9, (58, 88))
    assert aug.content_bounding_box(image) == (12, 70, 7, 95)
    assert aug.content_bounding_box((image * 255).astype(np.uint8)) == (12, 70, 7, 95)
    assert aug.content_bounding_box(np.full((30, 40), 0.5)) == (0, 30, 0, 40)


def test_content_bounding_box_on_the_synthetic_radiograph():
    phantom = pytest.importorskip("medprep_helpers.phantom")
    radiograph = phantom.synthetic_radiograph(seed=3, shape=(256, 256), border=20)
    box = aug.content_bounding_box(radiograph.image)
    assert box == (20, 236, 20, 236)
    cropped, masks = aug.crop_with_masks(radiograph.image, radiograph.masks, box)
    assert cropped.shape == (216, 216) and masks["heart"].shape == (216, 216)


# --------------------------------------------------------------------------- random augmentation
def test_random_augment_is_reproducible_from_seed_and_from_params(chest):
    image, masks = chest
    out1, masks1, params1 = aug.random_augment(image, masks, seed=42)
    out2, masks2, params2 = aug.random_augment(image, masks, seed=42)
    assert params1 == params2
    np.testing.assert_array_equal(out1, out2)
    # The parameters alone (even after a JSON round trip) reproduce the image exactly.
    replay, replay_masks = aug.apply_augmentation(image, masks, json.loads(json.dumps(params1)))
    np.testing.assert_array_equal(replay, out1)
    for key in masks:
        np.testing.assert_array_equal(replay_masks[key], masks1[key])
        np.testing.assert_array_equal(masks2[key], masks1[key])
    # A generator gives the same draw as its seed; another seed gives another draw.
    _, _, from_rng = aug.random_augment(image, masks, rng=np.random.default_rng(42))
    assert from_rng == params1
    assert aug.random_augment(image, masks, seed=43)[2] != params1
    assert not np.array_equal(out1, image)


def test_drawn_params_stay_within_realistic_bounds():
    rng = np.random.default_rng(0)
    draws = [aug.draw_augmentation_params(rng, max_rotation=2, max_shear=0.03, max_scale=0.1, max_shift=0.02)
             for _ in range(300)]
    rotations = np.array([p["rotation"] for p in draws])
    assert np.abs(rotations).max() <= 2 and np.abs(rotations).max() > 1.8  # uses the range
    assert max(abs(p["shear"]) for p in draws) <= 0.03
    assert all(0.9 <= p["scale"] <= 1.1 for p in draws)
    assert all(abs(p["shift_rows"]) <= 0.02 and abs(p["shift_cols"]) <= 0.02 for p in draws)
    assert not any(p["flip"] for p in draws)  # flips are off unless asked for
    flips = [aug.draw_augmentation_params(rng, flip=True)["flip"] for _ in range(300)]
    assert 100 < sum(flips) < 200


def test_allowing_flips_does_not_change_the_other_draws():
    without = aug.draw_augmentation_params(np.random.default_rng(5))
    with_flip = aug.draw_augmentation_params(np.random.default_rng(5), flip=True)
    assert {k: v for k, v in without.items() if k != "flip"} == {k: v for k, v in with_flip.items() if k != "flip"}


def test_augment_batch_equals_random_augment_with_one_generator(chest):
    image, masks = chest
    stack = np.stack([image, image[::-1], image[:, ::-1]])
    mask_list = [masks, {k: m[::-1] for k, m in masks.items()}, {k: m[:, ::-1] for k, m in masks.items()}]
    out, out_masks, params = aug.augment_batch(stack, mask_list, seed=9, max_rotation=5)
    assert isinstance(out, np.ndarray) and out.shape == stack.shape and out.dtype == np.float64
    rng = np.random.default_rng(9)
    for i in range(3):
        expected, expected_masks, expected_params = aug.random_augment(stack[i], mask_list[i], rng=rng, max_rotation=5)
        assert params[i] == expected_params
        np.testing.assert_array_equal(out[i], expected)
        for key in masks:
            np.testing.assert_array_equal(out_masks[i][key], expected_masks[key])
    assert params[0] != params[1]


def test_augment_batch_accepts_a_list_of_different_shapes(chest):
    image, _ = chest
    images = [image, image[:100, :90]]
    out, out_masks, params = aug.augment_batch(images, seed=1)
    assert isinstance(out, list) and [o.shape for o in out] == [(128, 128), (100, 90)]
    assert out_masks is None and len(params) == 2


# --------------------------------------------------------------------------- grey conversion
def test_to_grayscale_float_handles_grey_rgb_rgba_and_uint16():
    grey = np.array([[0, 51], [102, 255]], dtype=np.uint8)
    expected = grey / 255
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgba = np.concatenate([rgb, np.full((2, 2, 1), 255, np.uint8)], axis=2)
    for image in (grey, rgb, rgba):
        found = aug.to_grayscale_float(image)
        assert found.dtype == np.float64 and found.shape == (2, 2)
        np.testing.assert_allclose(found, expected, atol=1e-12)
    transparent = rgba.copy()
    transparent[0, 1, 3] = 0
    assert aug.to_grayscale_float(transparent)[0, 1] == 0.0  # composited on black
    np.testing.assert_allclose(aug.to_grayscale_float(np.array([[0, 65535]], np.uint16)), [[0.0, 1.0]])
    np.testing.assert_allclose(aug.to_grayscale_float(np.array([[0, 4095]], np.uint16), bits_stored=12), [[0, 1]])
    np.testing.assert_allclose(aug.to_grayscale_float(np.array([[0.25]], np.float32)), [[0.25]])
    np.testing.assert_array_equal(aug.to_grayscale_float(np.array([[True, False]])), [[1.0, 0.0]])
    pure_red = np.zeros((1, 1, 3), np.uint8)
    pure_red[..., 0] = 255
    assert 0.2 < aug.to_grayscale_float(pure_red)[0, 0] < 0.22  # luminance weights, not a plain mean


# --------------------------------------------------------------------------- inputs untouched, outputs fresh
def test_inputs_are_never_modified(chest):
    image, masks = chest
    keep_image, keep_masks = image.copy(), copy.deepcopy(masks)
    results = [
        aug.rotate_with_masks(image, masks, 3),
        aug.shear_with_masks(image, masks, 0.1),
        aug.wave_warp_with_masks(image, masks, amplitude=4, n_waves=1, grid=(6, 4)),
        aug.crop_with_masks(image, masks, (0, 128, 0, 128)),
        aug.resize_with_masks(image, masks, (128, 128)),
        aug.random_augment(image, masks, seed=0),
        aug.apply_augmentation(image, masks, {}),
    ]
    batch_images, batch_masks, _ = aug.augment_batch([image], [masks], seed=0)
    results.append((batch_images[0], batch_masks[0]))
    aug.to_grayscale_float(image)
    aug.content_bounding_box(image)
    np.testing.assert_array_equal(image, keep_image)
    for key in masks:
        np.testing.assert_array_equal(masks[key], keep_masks[key])
    for result in results:
        assert not np.shares_memory(result[0], image)
        assert all(not np.shares_memory(result[1][key], masks[key]) for key in masks)


# --------------------------------------------------------------------------- bad input
IMAGE = np.zeros((32, 32))
MASKS = {"heart": np.zeros((32, 32), bool)}

BAD_CALLS = [
    (lambda: aug.rotate_with_masks(np.zeros((4, 4, 3)), None, 2), ValueError, "image must be a 2-D grey image"),
    (lambda: aug.rotate_with_masks([[0, 1]], None, 2), TypeError, "image must be a numpy array"),
    (lambda: aug.rotate_with_masks(np.zeros((0, 3)), None, 2), ValueError, "image is empty"),
    (lambda: aug.rotate_with_masks(np.full((3, 3), np.nan), None, 2), ValueError, "image contains NaN"),
    (lambda: aug.rotate_with_masks(IMAGE, {"heart": np.zeros((30, 32), bool)}, 2), ValueError, "masks['heart'] has shape"),
    (lambda: aug.rotate_with_masks(IMAGE, {"heart": np.zeros((32, 32))}, 2), TypeError, "masks['heart'] must be a boolean"),
    (lambda: aug.rotate_with_masks(IMAGE, [np.zeros((32, 32), bool)], 2), TypeError, "masks must be a dict"),
    (lambda: aug.rotate_with_masks(IMAGE, MASKS, "2"), TypeError, "angle must be a real number"),
    (lambda: aug.rotate_with_masks(IMAGE, MASKS, np.inf), ValueError, "angle must be finite"),
    (lambda: aug.rotate_with_masks(IMAGE, MASKS, 2, cval=None), TypeError, "cval must be a real number"),
    (lambda: aug.shear_with_masks(IMAGE, MASKS, 2.0), ValueError, "params['shear'] must be between"),
    (lambda: aug.wave_warp_with_masks(IMAGE, MASKS, amplitude=-1, n_waves=1), ValueError, "amplitude must be between"),
    (lambda: aug.wave_warp_with_masks(IMAGE, MASKS, amplitude=20, n_waves=1), ValueError, "amplitude must be between"),
    (lambda: aug.wave_warp_with_masks(IMAGE, MASKS, amplitude=2, n_waves=-1), ValueError, "n_waves must be >= 0"),
    (lambda: aug.wave_warp_with_masks(IMAGE, MASKS, amplitude=2, n_waves=1, grid=(1, 5)), ValueError, "grid[0] must be"),
    (lambda: aug.wave_warp_with_masks(IMAGE, MASKS, amplitude=2, n_waves=1, grid=(5.0, 5)), TypeError, "grid[0] must be an integer"),
    (lambda: aug.wave_warp_with_masks(IMAGE, MASKS, amplitude=2, n_waves=1, direction="up"), ValueError, "direction must be"),
    (lambda: aug.crop_with_masks(IMAGE, MASKS, (10, 5, 0, 32)), ValueError, "box must satisfy"),
    (lambda: aug.crop_with_masks(IMAGE, MASKS, (0, 40, 0, 32)), ValueError, "box must satisfy"),
    (lambda: aug.crop_with_masks(IMAGE, MASKS, (0, 10)), TypeError, "box must be (top, bottom, left, right)"),
    (lambda: aug.crop_with_masks(IMAGE, MASKS, (0, 10.5, 0, 3)), TypeError, "box[1] must be an integer"),
    (lambda: aug.resize_with_masks(IMAGE, MASKS, (10.5, 10)), TypeError, "output_shape[0] must be an integer"),
    (lambda: aug.resize_with_masks(IMAGE, MASKS, (0, 10)), ValueError, "output_shape[0] must be at least 1"),
    (lambda: aug.resize_with_masks(IMAGE, MASKS, 10), TypeError, "output_shape must be a pair"),
    (lambda: aug.largest_valid_crop((32,), 2), TypeError, "image_shape must be a pair"),
    (lambda: aug.largest_valid_crop((32, -1), 2), ValueError, "image_shape[1] must be at least 1"),
    (lambda: aug.largest_valid_crop((32, 32), None), TypeError, "angle must be a real number"),
    (lambda: aug.content_bounding_box(IMAGE, threshold=1.5), ValueError, "threshold must be in [0, 1)"),
    (lambda: aug.content_bounding_box(IMAGE, min_fraction=0), ValueError, "min_fraction must be in (0, 1]"),
    (lambda: aug.content_bounding_box(IMAGE), ValueError, "image has no content"),
    (lambda: aug.random_augment(IMAGE, MASKS, max_rotation=60), ValueError, "max_rotation must be in [0, 45.0]"),
    (lambda: aug.random_augment(IMAGE, MASKS, max_rotation=-1), ValueError, "max_rotation must be in"),
    (lambda: aug.random_augment(IMAGE, MASKS, max_shear=1.0), ValueError, "max_shear must be in"),
    (lambda: aug.random_augment(IMAGE, MASKS, max_scale=0.5), ValueError, "max_scale must be in [0, 0.5)"),
    (lambda: aug.random_augment(IMAGE, MASKS, max_shift=0.7), ValueError, "max_shift must be in"),
    (lambda: aug.random_augment(IMAGE, MASKS, max_shift=float("nan")), ValueError, "max_shift must be finite"),
    (lambda: aug.random_augment(IMAGE, MASKS, max_rotation=True), TypeError, "max_rotation must be a real number"),
    (lambda: aug.random_augment(IMAGE, MASKS, flip="yes"), TypeError, "flip must be True or False"),
    (lambda: aug.random_augment(IMAGE, MASKS, seed=1, rng=np.random.default_rng(1)), ValueError, "either seed or rng"),
    (lambda: aug.random_augment(IMAGE, MASKS, seed=-1), ValueError, "seed must be a non-negative integer"),
    (lambda: aug.random_augment(IMAGE, MASKS, seed=1.5), TypeError, "seed must be a non-negative integer"),
    (lambda: aug.random_augment(IMAGE, MASKS, rng=1), TypeError, "rng must be a numpy.random.Generator"),
    (lambda: aug.draw_augmentation_params(0), TypeError, "rng must be a numpy.random.Generator"),
    (lambda: aug.apply_augmentation(IMAGE, MASKS, {"rotate": 2}), ValueError, "params has unknown keys ['rotate']"),
    (lambda: aug.apply_augmentation(IMAGE, MASKS, {"scale": 0}), ValueError, "params['scale'] must be > 0"),
    (lambda: aug.apply_augmentation(IMAGE, MASKS, {"flip": 1}), TypeError, "params['flip'] must be True or False"),
    (lambda: aug.apply_augmentation(IMAGE, MASKS, [("rotation", 2)]), TypeError, "params must be a dict"),
    (lambda: aug.augment_batch(np.zeros((2, 3)), None), ValueError, "images must be a (n, rows, cols) array"),
    (lambda: aug.augment_batch(IMAGE[None], [MASKS, MASKS]), ValueError, "masks must have one entry per image"),
    (lambda: aug.augment_batch(IMAGE[None], MASKS), TypeError, "masks must be a list"),
    (lambda: aug.augment_batch([IMAGE, np.zeros(3)]), ValueError, "images[1] must be a 2-D grey image"),
    (lambda: aug.augment_batch([IMAGE], [{"heart": np.zeros((3, 3), bool)}]), ValueError, "masks[0]['heart'] has shape"),
    (lambda: aug.to_grayscale_float(np.zeros((4, 4, 2))), ValueError, "image must be (rows, cols) grey"),
    (lambda: aug.to_grayscale_float(np.zeros((4, 4), np.int16)), TypeError, "image must be bool, uint8, uint16 or float"),
    (lambda: aug.to_grayscale_float(np.full((4, 4), 2.0)), ValueError, "a float image must lie in [0, 1]"),
    (lambda: aug.to_grayscale_float(np.full((4, 4), 4096, np.uint16), bits_stored=12), ValueError, "bits_stored=12"),
    (lambda: aug.to_grayscale_float(np.zeros((4, 4), np.uint8), bits_stored=12), ValueError, "bits_stored must be at most 8"),
    (lambda: aug.to_grayscale_float(np.zeros((4, 4)), bits_stored=12), ValueError, "bits_stored only applies"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS, ids=[b[2][:40] for b in BAD_CALLS])
def test_bad_input_raises_a_message_that_names_the_argument(call, error, message):
    with pytest.raises(error) as raised:
        call()
    assert message in str(raised.value)
