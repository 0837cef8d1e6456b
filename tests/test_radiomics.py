"""Tests for medprep_helpers.radiomics.

The IBSI-1 digital phantom and its consensus reference values (Zwanenburg et
al., Radiology 2020; IBSI chapter 1) are written into this file: every
feature must reproduce the published value to its three significant digits.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from skimage.feature import graycomatrix, graycoprops

from medprep_helpers.radiomics import (
    GLCM_AGGREGATIONS,
    GLCM_FEATURES,
    HISTOGRAM_FEATURES,
    INTENSITY_FEATURES,
    discretise,
    feature_table,
    glcm_features,
    histogram_features,
    intensity_features,
)

# --------------------------------------------------------------------------
# The IBSI-1 digital phantom, (z, y, x): grey levels 1..6 inside the ROI (2 and
# 5 absent), a 9 just outside it; 74 voxels in the ROI.
# --------------------------------------------------------------------------
PHANTOM_IMAGE = np.array([
    [[1, 4, 4, 1, 1], [1, 4, 6, 1, 1], [4, 1, 6, 4, 1], [4, 4, 6, 4, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 6, 1, 1], [1, 1, 3, 1, 1], [4, 4, 6, 1, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 1, 1, 1], [1, 1, 9, 1, 1], [1, 1, 6, 1, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 6, 1, 1]],
], dtype=np.int16)
PHANTOM_MASK = np.array([
    [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]],
    [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]],
    [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [1, 1, 1, 1, 1]],
    [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]],
], dtype=bool)

# IBSI consensus values for the phantom, as published (three significant digits).
IBSI_INTENSITY = {
    "mean": 2.15,
    "variance": 3.05,
    "skewness": 1.08,
    "excess_kurtosis": -0.355,
    "median": 1.0,
    "minimum": 1.0,
    "percentile_10": 1.0,
    "percentile_90": 4.0,
    "maximum": 6.0,
    "interquartile_range": 3.0,
    "range": 5.0,
    "mean_absolute_deviation": 1.55,
    "robust_mean_absolute_deviation": 1.11,
    "median_absolute_deviation": 1.15,
    "coefficient_of_variation": 0.812,
    "quartile_coefficient_of_dispersion": 0.6,
    "energy": 567.0,
    "root_mean_square": 2.77,
}
IBSI_HISTOGRAM = {
    "mean": 2.15,
    "variance": 3.05,
    "skewness": 1.08,
    "excess_kurtosis": -0.355,
    "median": 1.0,
    "minimum": 1.0,
    "percentile_10": 1.0,
    "percentile_90": 4.0,
    "maximum": 6.0,
    "mode": 1.0,
    "interquartile_range": 3.0,
    "range": 5.0,
    "mean_absolute_deviation": 1.55,
    "robust_mean_absolute_deviation": 1.11,
    "median_absolute_deviation": 1.15,
    "coefficient_of_variation": 0.812,
    "quartile_coefficient_of_dispersion": 0.6,
    "entropy": 1.27,
    "uniformity": 0.512,
    "max_histogram_gradient": 8.0,
    "max_histogram_gradient_intensity": 3.0,
    "min_histogram_gradient": -50.0,
    "min_histogram_gradient_intensity": 1.0,
}
IBSI_GLCM = {
    "2d_averaged": {
        "joint_maximum": 0.519,
        "joint_average": 2.14,
        "joint_variance": 2.69,
        "joint_entropy": 2.05,
        "difference_average": 1.42,
        "difference_variance": 2.9,
        "difference_entropy": 1.4,
        "sum_average": 4.28,
        "sum_variance": 5.47,
        "sum_entropy": 1.6,
        "angular_second_moment": 0.368,
        "contrast": 5.28,
        "dissimilarity": 1.42,
        "inverse_difference": 0.678,
        "normalised_inverse_difference": 0.851,
        "inverse_difference_moment": 0.619,
        "normalised_inverse_difference_moment": 0.899,
        "inverse_variance": 0.0567,
        "correlation": -0.0121,
        "autocorrelation": 5.09,
        "cluster_tendency": 5.47,
        "cluster_shade": 7.0,
        "cluster_prominence": 79.1,
        "information_correlation_1": -0.155,
        "information_correlation_2": 0.487,
    },
    "2d_slice_merged": {
        "joint_maximum": 0.512,
        "joint_average": 2.14,
        "joint_variance": 2.71,
        "joint_entropy": 2.24,
        "difference_average": 1.4,
        "difference_variance": 3.06,
        "difference_entropy": 1.49,
        "sum_average": 4.29,
        "sum_variance": 5.66,
        "sum_entropy": 1.79,
        "angular_second_moment": 0.352,
        "contrast": 5.19,
        "dissimilarity": 1.4,
        "inverse_difference": 0.683,
        "normalised_inverse_difference": 0.854,
        "inverse_difference_moment": 0.625,
        "normalised_inverse_difference_moment": 0.901,
        "inverse_variance": 0.0553,
        "correlation": 0.0173,
        "autocorrelation": 5.14,
        "cluster_tendency": 5.66,
        "cluster_shade": 6.98,
        "cluster_prominence": 80.4,
        "information_correlation_1": -0.0341,
        "information_correlation_2": 0.263,
    },
    "2.5d_direction_merged": {
        "joint_maximum": 0.489,
        "joint_average": 2.2,
        "joint_variance": 3.22,
        "joint_entropy": 2.48,
        "difference_average": 1.46,
        "difference_variance": 3.11,
        "difference_entropy": 1.61,
        "sum_average": 4.41,
        "sum_variance": 7.48,
        "sum_entropy": 2.01,
        "angular_second_moment": 0.286,
        "contrast": 5.39,
        "dissimilarity": 1.46,
        "inverse_difference": 0.668,
        "normalised_inverse_difference": 0.847,
        "inverse_difference_moment": 0.606,
        "normalised_inverse_difference_moment": 0.897,
        "inverse_variance": 0.0597,
        "correlation": 0.178,
        "autocorrelation": 5.4,
        "cluster_tendency": 7.48,
        "cluster_shade": 16.6,
        "cluster_prominence": 147.0,
        "information_correlation_1": -0.124,
        "information_correlation_2": 0.487,
    },
    "2.5d_merged": {
        "joint_maximum": 0.492,
        "joint_average": 2.2,
        "joint_variance": 3.24,
        "joint_entropy": 2.61,
        "difference_average": 1.44,
        "difference_variance": 3.23,
        "difference_entropy": 1.67,
        "sum_average": 4.41,
        "sum_variance": 7.65,
        "sum_entropy": 2.14,
        "angular_second_moment": 0.277,
        "contrast": 5.29,
        "dissimilarity": 1.44,
        "inverse_difference": 0.673,
        "normalised_inverse_difference": 0.85,
        "inverse_difference_moment": 0.613,
        "normalised_inverse_difference_moment": 0.899,
        "inverse_variance": 0.0582,
        "correlation": 0.182,
        "autocorrelation": 5.45,
        "cluster_tendency": 7.65,
        "cluster_shade": 16.4,
        "cluster_prominence": 142.0,
        "information_correlation_1": -0.0334,
        "information_correlation_2": 0.291,
    },
}

IBSI_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))  # in-plane (row, column) steps


def significant(value: float, digits: int = 3) -> float:
    """Round to significant digits, as the IBSI reports its reference values."""
    return float(f"{value:.{digits}g}")


_PHANTOM_CACHE = {}


def phantom_features(family: str, aggregation: str | None) -> dict:
    key = (family, aggregation)
    if key not in _PHANTOM_CACHE:
        if family == "intensity":
            _PHANTOM_CACHE[key] = intensity_features(PHANTOM_IMAGE, PHANTOM_MASK)
        elif family == "histogram":
            _PHANTOM_CACHE[key] = histogram_features(PHANTOM_IMAGE, PHANTOM_MASK)  # grey levels used as given
        else:
            _PHANTOM_CACHE[key] = glcm_features(PHANTOM_IMAGE, PHANTOM_MASK, aggregation=aggregation)
    return _PHANTOM_CACHE[key]


IBSI_CASES = (
    [pytest.param("intensity", None, name, value, id=f"intensity-{name}") for name, value in IBSI_INTENSITY.items()]
    + [pytest.param("histogram", None, name, value, id=f"histogram-{name}") for name, value in IBSI_HISTOGRAM.items()]
    + [
        pytest.param("glcm", aggregation, name, value, id=f"glcm-{aggregation}-{name}")
        for aggregation, values in IBSI_GLCM.items()
        for name, value in values.items()
    ]
)


def brute_force_glcm(levels: np.ndarray, mask: np.ndarray, step: tuple[int, int], n_levels: int) -> np.ndarray:
    """Symmetric co-occurrence counts of one 2-D slice, pair by pair (slow, obviously right)."""
    matrix = np.zeros((n_levels, n_levels))
    rows, cols = levels.shape
    for r in range(rows):
        for c in range(cols):
            r2, c2 = r + step[0], c + step[1]
            if 0 <= r2 < rows and 0 <= c2 < cols and mask[r, c] and mask[r2, c2]:
                a, b = levels[r, c] - 1, levels[r2, c2] - 1
                matrix[a, b] += 1
                matrix[b, a] += 1
    return matrix


def brute_force_summary(matrix: np.ndarray) -> dict:
    p = matrix / matrix.sum()
    i, j = np.indices(p.shape) + 1
    return {
        "contrast": np.sum((i - j) ** 2 * p),
        "joint_average": np.sum(i * p),
        "angular_second_moment": np.sum(p**2),
        "inverse_difference": np.sum(p / (1 + np.abs(i - j))),
    }


def random_roi(seed: int, shape=(24, 30)):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 20.0, shape)
    mask = np.zeros(shape, bool)
    mask[3:-4, 5:-2] = True
    mask[8:12, 10:20] = False  # a hole: pairs across it must not count
    return image, mask


def all_features(image, mask, **discretisation):
    result = {
        "intensity": intensity_features(image, mask),
        "histogram": histogram_features(image, mask, **discretisation),
    }
    for aggregation in GLCM_AGGREGATIONS:
        result[aggregation] = glcm_features(image, mask, aggregation=aggregation, **discretisation)
    return result


def assert_same_features(found: dict, expected: dict):
    assert found.keys() == expected.keys()
    for group in found:
        for name in found[group]:
            np.testing.assert_allclose(found[group][name], expected[group][name], rtol=1e-12, atol=1e-12,
                                       err_msg=f"{group}: {name}")


# --------------------------------------------------------------------------
# IBSI digital phantom
# --------------------------------------------------------------------------
def test_phantom_is_the_published_one():
    assert PHANTOM_IMAGE.shape == PHANTOM_MASK.shape == (4, 4, 5)
    assert PHANTOM_MASK.sum() == 74
    assert sorted(np.unique(PHANTOM_IMAGE[PHANTOM_MASK])) == [1, 3, 4, 6]


@pytest.mark.parametrize("family, aggregation, name, reference", IBSI_CASES)
def test_phantom_matches_ibsi_reference(family, aggregation, name, reference):
    found = phantom_features(family, aggregation)[name]
    assert significant(found) == significant(reference), f"{name}: found {found!r}, IBSI {reference}"


def test_every_feature_and_configuration_has_an_ibsi_reference():
    assert set(INTENSITY_FEATURES) == set(IBSI_INTENSITY)
    assert set(HISTOGRAM_FEATURES) == set(IBSI_HISTOGRAM)
    assert set(GLCM_AGGREGATIONS) == set(IBSI_GLCM)
    for values in IBSI_GLCM.values():
        assert set(GLCM_FEATURES) == set(values)


def test_features_come_back_in_documented_order_as_floats():
    assert list(intensity_features(PHANTOM_IMAGE, PHANTOM_MASK)) == list(INTENSITY_FEATURES)
    assert list(histogram_features(PHANTOM_IMAGE, PHANTOM_MASK)) == list(HISTOGRAM_FEATURES)
    features = glcm_features(PHANTOM_IMAGE, PHANTOM_MASK)
    assert list(features) == list(GLCM_FEATURES)
    assert all(type(value) is float for value in features.values())


# --------------------------------------------------------------------------
# Agreement with scikit-image and with counting by hand
# --------------------------------------------------------------------------
def test_glcm_agrees_with_graycoprops_on_an_unmasked_image():
    rng = np.random.default_rng(3)
    image = rng.integers(1, 9, size=(40, 50))  # grey levels 1..8, all present
    features = glcm_features(image, np.ones(image.shape, bool))
    matrices = graycomatrix(image - 1, [1], [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=8,
                            symmetric=True, normed=True)

    def skimage_mean(prop):
        return graycoprops(matrices, prop).mean()

    assert features["contrast"] == pytest.approx(skimage_mean("contrast"))
    assert features["dissimilarity"] == pytest.approx(skimage_mean("dissimilarity"))
    assert features["inverse_difference_moment"] == pytest.approx(skimage_mean("homogeneity"))
    assert features["angular_second_moment"] == pytest.approx(skimage_mean("ASM"))
    assert features["correlation"] == pytest.approx(skimage_mean("correlation"))
    assert features["joint_variance"] == pytest.approx(skimage_mean("variance"))
    assert features["joint_average"] == pytest.approx(skimage_mean("mean") + 1)  # skimage counts levels from 0
    assert features["joint_entropy"] == pytest.approx(skimage_mean("entropy") / math.log(2))  # bits vs nats


def test_masked_glcm_matches_pair_by_pair_counting():
    image, mask = random_roi(4)
    levels = discretise(image, mask, n_bins=5)
    per_direction = [brute_force_glcm(levels, mask, step, 5) for step in IBSI_DIRECTIONS]
    averaged = glcm_features(image, mask, n_bins=5)
    merged = glcm_features(image, mask, n_bins=5, aggregation="2d_slice_merged")
    for name in ("contrast", "joint_average", "angular_second_moment", "inverse_difference"):
        expected_average = np.mean([brute_force_summary(m)[name] for m in per_direction])
        assert averaged[name] == pytest.approx(expected_average), name
        assert merged[name] == pytest.approx(brute_force_summary(sum(per_direction))[name]), name


def test_glcm_distance_two_matches_pair_counting():
    image, mask = random_roi(5)
    levels = discretise(image, mask, n_bins=4)
    per_direction = [brute_force_glcm(levels, mask, (2 * dr, 2 * dc), 4) for dr, dc in IBSI_DIRECTIONS]
    found = glcm_features(image, mask, n_bins=4, distance=2)
    assert found["contrast"] == pytest.approx(np.mean([brute_force_summary(m)["contrast"] for m in per_direction]))


# --------------------------------------------------------------------------
# 2-D images and 3-D volumes
# --------------------------------------------------------------------------
def test_a_2d_image_and_the_same_one_slice_volume_agree():
    image, mask = random_roi(6)
    assert_same_features(all_features(image[np.newaxis], mask[np.newaxis], n_bins=16),
                         all_features(image, mask, n_bins=16))


def test_for_a_2d_image_the_25d_configurations_equal_the_2d_ones():
    image, mask = random_roi(7)
    found = {a: glcm_features(image, mask, n_bins=8, aggregation=a) for a in GLCM_AGGREGATIONS}
    assert found["2.5d_direction_merged"] == pytest.approx(found["2d_averaged"])
    assert found["2.5d_merged"] == pytest.approx(found["2d_slice_merged"])


def test_volume_uses_all_voxels_for_first_order_and_slices_for_the_glcm():
    first, mask_1 = random_roi(8)
    second, mask_2 = random_roi(9)
    second = second + 30  # a different distribution in the second slice
    volume, volume_mask = np.stack([first, second]), np.stack([mask_1, mask_2])
    # The slices side by side with an out-of-mask gap: no in-plane pair crosses the gap.
    gap = np.zeros((first.shape[0], 3))
    flat = np.concatenate([first, gap, second], axis=1)
    flat_mask = np.concatenate([mask_1, gap.astype(bool), mask_2], axis=1)

    assert intensity_features(volume, volume_mask) == pytest.approx(intensity_features(flat, flat_mask))
    assert histogram_features(volume, volume_mask, n_bins=8) == pytest.approx(
        histogram_features(flat, flat_mask, n_bins=8))
    # 2.5D merges the slices' matrices, exactly like one image holding both slices.
    assert glcm_features(volume, volume_mask, n_bins=8, aggregation="2.5d_merged") == pytest.approx(
        glcm_features(flat, flat_mask, n_bins=8, aggregation="2d_slice_merged"))
    assert glcm_features(volume, volume_mask, n_bins=8, aggregation="2.5d_direction_merged") == pytest.approx(
        glcm_features(flat, flat_mask, n_bins=8, aggregation="2d_averaged"))
    # 2D configurations average the slices' own features (grey levels from the whole ROI).
    levels = discretise(volume, volume_mask, n_bins=8)
    for aggregation in ("2d_averaged", "2d_slice_merged"):
        per_slice = [glcm_features(levels[k], volume_mask[k], aggregation=aggregation) for k in range(2)]
        found = glcm_features(volume, volume_mask, n_bins=8, aggregation=aggregation)
        assert found["contrast"] == pytest.approx(np.mean([f["contrast"] for f in per_slice]))
        assert found["joint_entropy"] == pytest.approx(np.mean([f["joint_entropy"] for f in per_slice]))


def test_slices_without_roi_are_skipped():
    image, mask = random_roi(10)
    volume = np.stack([image, image * 3, image])
    volume_mask = np.stack([mask, np.zeros_like(mask), mask])
    single = glcm_features(image, mask, n_bins=8)
    assert glcm_features(volume, volume_mask, n_bins=8) == pytest.approx(single)


def test_directions_without_pairs_are_skipped_in_the_average():
    # One row of voxels: only the horizontal direction has pairs inside the ROI.
    image = np.array([[1, 2, 2, 3, 1, 1]])
    mask = np.ones(image.shape, bool)
    horizontal = brute_force_summary(brute_force_glcm(image, mask, (0, 1), 3))
    found = glcm_features(image, mask)
    assert found["contrast"] == pytest.approx(horizontal["contrast"])
    assert found["joint_average"] == pytest.approx(horizontal["joint_average"])


# --------------------------------------------------------------------------
# Invariances and inputs
# --------------------------------------------------------------------------
@pytest.mark.parametrize("outside", ["random", "nan", "inf", "huge"])
def test_values_outside_the_mask_change_nothing(outside):
    image, mask = random_roi(11)
    changed = image.copy()
    fill = {"random": np.random.default_rng(1).normal(0, 1e3, image.shape), "nan": np.nan, "inf": np.inf,
            "huge": 1e12}[outside]
    changed[~mask] = fill if np.isscalar(fill) else fill[~mask]
    assert_same_features(all_features(changed, mask, n_bins=12), all_features(image, mask, n_bins=12))
    np.testing.assert_array_equal(discretise(changed, mask, bin_width=5.0), discretise(image, mask, bin_width=5.0))


def test_phantom_outside_value_does_not_enter():
    # The phantom holds a 9 outside the ROI; the maximum and Ng stay 6.
    assert intensity_features(PHANTOM_IMAGE, PHANTOM_MASK)["maximum"] == 6
    cleaned = np.where(PHANTOM_MASK, PHANTOM_IMAGE, 1)
    assert glcm_features(cleaned, PHANTOM_MASK) == pytest.approx(phantom_features("glcm", "2d_averaged"))


def test_inputs_are_not_modified_and_read_only_inputs_work():
    image, mask = random_roi(12)
    image_copy, mask_copy = image.copy(), mask.copy()
    image.flags.writeable = False
    mask.flags.writeable = False
    all_features(image, mask, n_bins=8)
    discretise(image, mask, n_bins=8)
    feature_table([image], [mask], n_bins=8, progress=False)
    np.testing.assert_array_equal(image, image_copy)
    np.testing.assert_array_equal(mask, mask_copy)


def test_integer_masks_and_list_inputs_are_accepted():
    image, mask = random_roi(13)
    expected = intensity_features(image, mask)
    assert intensity_features(image.tolist(), mask.astype(np.uint8)) == pytest.approx(expected)
    assert intensity_features(image, mask.astype(float)) == pytest.approx(expected)


def test_features_do_not_depend_on_the_integer_dtype():
    as_float = glcm_features(PHANTOM_IMAGE.astype(float), PHANTOM_MASK)
    as_uint8 = glcm_features(PHANTOM_IMAGE.astype(np.uint8), PHANTOM_MASK)
    assert as_float == pytest.approx(as_uint8)


# --------------------------------------------------------------------------
# Discretisation
# --------------------------------------------------------------------------
def test_fixed_bin_number_spans_the_roi_range():
    image = np.array([[10.0, 12.5, 15.0], [17.5, 20.0, -99.0]])
    mask = image > 0
    levels = discretise(image, mask, n_bins=4)
    assert levels.dtype.kind == "i"
    # floor(4 (x - 10) / 10) + 1 and the maximum in the top bin; 0 outside.
    assert levels.tolist() == [[1, 2, 3], [4, 4, 0]]


def test_fixed_bin_number_on_the_phantom_keeps_its_grey_levels():
    # min 1, max 6, 6 bins: floor(6 (x - 1) / 5) + 1 maps 1, 3, 4, 6 to themselves.
    np.testing.assert_array_equal(discretise(PHANTOM_IMAGE, PHANTOM_MASK, n_bins=6),
                                  np.where(PHANTOM_MASK, PHANTOM_IMAGE, 0))


def test_fixed_bin_size_from_the_roi_minimum_or_bin_min():
    image = np.array([[3.0, 5.0, 7.0, 8.9, 9.0]])
    mask = np.ones(image.shape, bool)
    # Default lower bound: the ROI minimum, 3 -> bins [3, 5), [5, 7), [7, 9), [9, 11).
    assert discretise(image, mask, bin_width=2.0).tolist() == [[1, 2, 3, 3, 4]]
    # A lower bound below the data shifts every level up.
    assert discretise(image, mask, bin_width=2.0, bin_min=-1.0).tolist() == [[3, 4, 5, 5, 6]]


def test_histogram_keeps_empty_bins_below_the_first_occupied_one():
    image = np.array([[3.0, 5.0, 7.0, 9.0]])
    mask = np.ones(image.shape, bool)
    features = histogram_features(image, mask, bin_width=2.0, bin_min=-1.0)  # levels 3..6
    assert features["minimum"] == 3 and features["maximum"] == 6
    # Bins 1..6: counts 0, 0, 1, 1, 1, 1 -> gradient 0, 0.5, 0.5, 0, 0, 0.
    assert features["max_histogram_gradient"] == 0.5
    assert features["max_histogram_gradient_intensity"] == 2
    assert features["min_histogram_gradient"] == 0
    assert features["min_histogram_gradient_intensity"] == 1


def test_grey_levels_that_do_not_occur_still_count_for_the_glcm():
    image = np.array([[1, 1, 2, 2], [1, 2, 2, 1]])
    mask = np.ones(image.shape, bool)
    # The same co-occurring pairs, once with Ng = 2 and once with an isolated voxel of level 6 in the
    # ROI (no neighbour inside it): Ng becomes 6, levels 3..5 stay empty, and the Ng-normalised
    # features change while the others do not.
    wider = np.concatenate([image, np.zeros((1, 4), int), [[6, 0, 0, 0]]])
    wider_mask = np.concatenate([mask, np.zeros((1, 4), bool), [[True, False, False, False]]])
    narrow = glcm_features(image, mask)
    wide = glcm_features(wider, wider_mask)
    assert wide["contrast"] == pytest.approx(narrow["contrast"])  # no pair touches level 6
    assert wide["normalised_inverse_difference"] != pytest.approx(narrow["normalised_inverse_difference"])


def test_constant_roi_follows_ibsi_conventions():
    image = np.full((6, 6), 7.0)
    mask = np.ones(image.shape, bool)
    intensity = intensity_features(image, mask)
    assert intensity["skewness"] == 0 and intensity["excess_kurtosis"] == 0  # IBSI: 0 when the variance is 0
    assert intensity["variance"] == 0 and intensity["coefficient_of_variation"] == 0
    assert np.all(discretise(image, mask, n_bins=8)[mask] == 1)
    histogram = histogram_features(image, mask, n_bins=8)
    assert histogram["mode"] == 1 and histogram["entropy"] == 0 and histogram["uniformity"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        glcm = glcm_features(image, mask, n_bins=8)
    # One occupied grey level: correlation and information correlation 1 are 0/0.
    assert math.isnan(glcm["correlation"]) and math.isnan(glcm["information_correlation_1"])
    others = {k: v for k, v in glcm.items() if k not in ("correlation", "information_correlation_1")}
    assert all(np.isfinite(list(others.values())))
    assert glcm["joint_maximum"] == 1 and glcm["contrast"] == 0


def test_a_single_grey_level_image_works_without_discretisation():
    image = np.ones((5, 5), dtype=np.uint8)  # Ng = 1
    mask = np.ones(image.shape, bool)
    histogram = histogram_features(image, mask)
    assert histogram["max_histogram_gradient"] == 0 and histogram["max_histogram_gradient_intensity"] == 1
    glcm = glcm_features(image, mask)
    assert glcm["joint_average"] == 1 and glcm["inverse_variance"] == 0 and math.isnan(glcm["correlation"])


def test_undefined_ratios_are_nan_without_warnings():
    image = np.array([[-2.0, -1.0, 1.0, 2.0]])
    mask = np.ones(image.shape, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = intensity_features(image, mask)
    assert math.isnan(features["coefficient_of_variation"])  # zero mean
    assert math.isnan(features["quartile_coefficient_of_dispersion"])  # P25 + P75 = 0


def test_mode_ties_go_to_the_bin_nearest_the_mean_then_the_lower_one():
    mask = np.ones((1, 5), bool)
    assert histogram_features(np.array([[1, 1, 3, 3, 4]]), mask)["mode"] == 3  # mean 2.4: 3 is nearer
    assert histogram_features(np.array([[1, 1, 3, 3]]), np.ones((1, 4), bool))["mode"] == 1  # mean 2: equidistant


def test_median_absolute_deviation_is_the_mean_distance_to_the_median():
    image = np.array([[1.0, 2.0, 3.0, 4.0, 100.0]])
    features = intensity_features(image, np.ones(image.shape, bool))
    assert features["median_absolute_deviation"] == pytest.approx((2 + 1 + 0 + 1 + 97) / 5)
    assert features["variance"] == pytest.approx(np.var(image))  # population variance


@pytest.mark.parametrize("image", [np.array([[1.5, 2.0], [3.0, 4.0]]), np.array([[0, 1], [2, 3]])])
def test_without_discretisation_the_image_must_hold_grey_levels(image):
    mask = np.ones(image.shape, bool)
    with pytest.raises(ValueError, match="n_bins or bin_width"):
        histogram_features(image, mask)
    with pytest.raises(ValueError, match="n_bins or bin_width"):
        glcm_features(image, mask)


def test_too_many_grey_levels_for_a_glcm_asks_for_discretisation():
    image = np.arange(1, 2001).reshape(40, 50)
    with pytest.raises(ValueError, match="n_bins"):
        glcm_features(image, np.ones(image.shape, bool))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_bins": 8, "bin_width": 2.0}, ValueError, "not both"),
        ({"n_bins": 0}, ValueError, "n_bins"),
        ({"n_bins": 1}, ValueError, "n_bins"),
        ({"n_bins": -4}, ValueError, "n_bins"),
        ({"n_bins": 2.5}, TypeError, "n_bins"),
        ({"n_bins": True}, TypeError, "n_bins"),
        ({"n_bins": "8"}, TypeError, "n_bins"),
        ({"bin_width": 0.0}, ValueError, "bin_width"),
        ({"bin_width": -1.0}, ValueError, "bin_width"),
        ({"bin_width": float("nan")}, ValueError, "bin_width"),
        ({"bin_width": float("inf")}, ValueError, "bin_width"),
        ({"bin_width": "2"}, TypeError, "bin_width"),
        ({"bin_min": 0.0}, ValueError, "bin_min"),
        ({"n_bins": 8, "bin_min": 0.0}, ValueError, "bin_min"),
        ({"bin_width": 1.0, "bin_min": 1e6}, ValueError, "bin_min"),
        ({"bin_width": 1e-6}, ValueError, "grey levels"),
    ],
)
def test_bad_discretisation_settings_are_refused(kwargs, error, message):
    image, mask = random_roi(14)
    for function in (discretise, histogram_features, glcm_features):
        with pytest.raises(error, match=message):
            function(image, mask, **kwargs)


# --------------------------------------------------------------------------
# Errors on bad input
# --------------------------------------------------------------------------
ALL_FUNCTIONS = [
    pytest.param(intensity_features, {}, id="intensity"),
    pytest.param(histogram_features, {"n_bins": 8}, id="histogram"),
    pytest.param(glcm_features, {"n_bins": 8}, id="glcm"),
    pytest.param(discretise, {"n_bins": 8}, id="discretise"),
]


@pytest.mark.parametrize("function, kwargs", ALL_FUNCTIONS)
def test_empty_mask_is_refused(function, kwargs):
    image, mask = random_roi(15)
    with pytest.raises(ValueError, match="mask is empty"):
        function(image, np.zeros_like(mask), **kwargs)


@pytest.mark.parametrize("function, kwargs", ALL_FUNCTIONS)
def test_shape_mismatch_is_refused(function, kwargs):
    image, mask = random_roi(16)
    with pytest.raises(ValueError, match="mask must have the image's shape"):
        function(image, mask[:, :-1], **kwargs)


@pytest.mark.parametrize("function, kwargs", ALL_FUNCTIONS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_inside_the_mask_are_refused(function, kwargs, bad):
    image, mask = random_roi(17)
    image[5, 7] = bad
    with pytest.raises(ValueError, match="non-finite"):
        function(image, mask, **kwargs)


@pytest.mark.parametrize("function, kwargs", ALL_FUNCTIONS)
@pytest.mark.parametrize("mask_values", [[0, 1, 2], [0.0, 0.5, 1.0]])
def test_non_boolean_masks_are_refused(function, kwargs, mask_values):
    image, _ = random_roi(18)
    mask = np.random.default_rng(0).choice(mask_values, size=image.shape)
    with pytest.raises(ValueError, match="boolean-like"):
        function(image, mask, **kwargs)


def test_wrong_kinds_of_arguments_are_refused_with_type_errors():
    image, mask = random_roi(19)
    with pytest.raises(TypeError, match="pick one mask"):
        intensity_features(image, {"lungs": mask, "heart": mask})
    with pytest.raises(TypeError, match="boolean-like"):
        intensity_features(image, mask.astype(str))
    with pytest.raises(TypeError, match="real-valued"):
        intensity_features(mask, mask)
    with pytest.raises(TypeError, match="real-valued"):
        intensity_features(image.astype(complex), mask)


@pytest.mark.parametrize("function, kwargs", ALL_FUNCTIONS)
@pytest.mark.parametrize("shape", [(10,), (2, 3, 4, 5)])
def test_only_2d_and_3d_images(function, kwargs, shape):
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        function(np.ones(shape), np.ones(shape, bool), **kwargs)


@pytest.mark.parametrize(
    "function, kwargs, named",
    [
        (intensity_features, {}, "skewness"),
        (histogram_features, {"n_bins": 8}, "skewness"),
        (glcm_features, {"n_bins": 8}, "GLCM"),
    ],
)
def test_single_voxel_masks_are_refused_naming_what_is_undefined(function, kwargs, named):
    image, _ = random_roi(20)
    mask = np.zeros(image.shape, bool)
    mask[4, 4] = True
    with pytest.raises(ValueError, match=f"single voxel.*{named}"):
        function(image, mask, **kwargs)


def test_discretise_accepts_a_single_voxel():
    image, _ = random_roi(21)
    mask = np.zeros(image.shape, bool)
    mask[4, 4] = True
    assert discretise(image, mask, n_bins=8)[mask].tolist() == [1]


def test_glcm_without_neighbouring_pairs_is_refused():
    image, _ = random_roi(22)
    mask = np.zeros(image.shape, bool)
    mask[2, 2] = mask[10, 10] = True  # two voxels, far apart
    with pytest.raises(ValueError, match="no two voxels of the mask are neighbours"):
        glcm_features(image, mask, n_bins=4)


@pytest.mark.parametrize("kwargs", [{"aggregation": "3d_averaged"}, {"distance": 0}, {"distance": 1.5}])
def test_bad_glcm_settings_are_refused(kwargs):
    image, mask = random_roi(23)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        glcm_features(image, mask, n_bins=8, **kwargs)


# --------------------------------------------------------------------------
# Cohort table
# --------------------------------------------------------------------------
def cohort(n=4):
    pairs = [random_roi(100 + k) for k in range(n)]
    return [image for image, _ in pairs], [mask for _, mask in pairs]


def expected_row(image, mask, **settings):
    row = {f"intensity_{k}": v for k, v in intensity_features(image, mask).items()}
    row.update({f"histogram_{k}": v for k, v in histogram_features(image, mask, **settings).items()})
    row.update({f"glcm_{k}": v for k, v in glcm_features(image, mask, **settings).items()})
    return pd.Series(row)


def test_feature_table_from_sequences_matches_the_single_image_functions():
    images, masks = cohort()
    table = feature_table(images, masks, n_bins=16, progress=False)
    assert table.shape == (4, len(INTENSITY_FEATURES) + len(HISTOGRAM_FEATURES) + len(GLCM_FEATURES))
    assert table.index.tolist() == [0, 1, 2, 3]
    for k in range(4):
        pd.testing.assert_series_equal(table.iloc[k], expected_row(images[k], masks[k], n_bins=16),
                                       check_names=False)


def test_feature_table_with_mapping_loader_and_named_ids():
    images, masks = cohort(3)
    ids = pd.Series(["s1", "s2", "s3"], name="subject_id")
    by_id = dict(zip(ids, images))
    table = feature_table(by_id, lambda subject: masks[int(subject[1]) - 1], n_bins=8, progress=False)
    assert table.index.tolist() == ["s1", "s2", "s3"]
    loaded = feature_table(lambda subject: by_id[subject], dict(zip(ids, masks)), ids=ids, n_bins=8,
                           progress=False)
    assert loaded.index.name == "subject_id"
    pd.testing.assert_frame_equal(loaded, table, check_names=False)


def test_feature_table_reads_generators_and_selected_families():
    images, masks = cohort(3)
    table = feature_table((image for image in images), iter(masks), families=["intensity", "glcm"],
                          bin_width=10.0, aggregation="2d_slice_merged", progress=False)
    assert table.shape == (3, len(INTENSITY_FEATURES) + len(GLCM_FEATURES))
    assert table.loc[2, "glcm_contrast"] == pytest.approx(
        glcm_features(images[2], masks[2], bin_width=10.0, aggregation="2d_slice_merged")["contrast"])
    # Intensity features alone need no discretisation.
    only = feature_table(images, masks, families=["intensity"], progress=False)
    assert list(only.columns) == [f"intensity_{name}" for name in INTENSITY_FEATURES]


def test_feature_table_progress_bar_can_be_silenced(capsys):
    images, masks = cohort(2)
    feature_table(images, masks, n_bins=8, progress=False)
    assert capsys.readouterr().err == ""
    feature_table(images, masks, n_bins=8, progress=True)
    assert "2/2" in capsys.readouterr().err


def test_feature_table_errors_name_the_image():
    images, masks = cohort(3)
    masks[1] = np.zeros_like(masks[1])
    with pytest.raises(ValueError, match="image 1: mask is empty"):
        feature_table(images, masks, n_bins=8, progress=False)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda images, masks: (images, masks[:2], None), ValueError, "masks holds 2 items but there are 3 ids"),
        (lambda images, masks: (images[:2], masks, None), ValueError, "masks holds 3 items but there are 2 ids"),
        (lambda images, masks: (iter(images), iter(masks[:2]), "abc"), ValueError, "masks ran out after 2 items"),
        (lambda images, masks: (iter(images[:2]), iter(masks), "ab"), ValueError, "masks has more items than the 2"),
        (lambda images, masks: (lambda i: images[i], lambda i: masks[i], None), TypeError, "ids is required"),
        (lambda images, masks: (images, 3, None), TypeError, "masks must be"),
    ],
)
def test_feature_table_refuses_mismatched_sources(change, error, message):
    images, masks, ids = change(*cohort(3))
    with pytest.raises(error, match=message):
        feature_table(images, masks, ids=ids, n_bins=8, progress=False)


def test_feature_table_refuses_unknown_families_and_missing_ids():
    images, masks = cohort(2)
    with pytest.raises(ValueError, match="families"):
        feature_table(images, masks, families=["shape"], progress=False)
    with pytest.raises(ValueError, match="no entry for id 'c'"):
        feature_table({"a": images[0]}, masks[:1], ids=["c"], n_bins=8, progress=False)
