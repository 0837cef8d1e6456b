"""IBSI-compliant radiomic features: intensity statistics, intensity histogram and GLCM.

The Image Biomarker Standardisation Initiative (IBSI, chapter 1) defines
radiomic features precisely enough that two programs give the same numbers
for the same image. This module follows those definitions and is checked
against the IBSI digital phantom's consensus values (``tests/test_radiomics.py``).

- :func:`intensity_features`: statistics of the raw intensities in the ROI.
- :func:`histogram_features`: the same statistics, plus mode, entropy,
  uniformity and histogram gradients, on *discretised* intensities.
- :func:`glcm_features`: grey-level co-occurrence matrix (texture) features,
  in IBSI's 2-D aggregation configurations.
- :func:`discretise`: IBSI fixed bin number / fixed bin size discretisation.
- :func:`feature_table`: all of the above for a whole cohort, one row per image.

Images are 2-D (one image) or 3-D (a volume of 2-D slices along axis 0).
Intensity and histogram features use every voxel of the ROI at once; GLCM
features are computed slice by slice in the image plane (IBSI "2D" and
"2.5D" configurations), because the GLCM comes from
:func:`skimage.feature.graycomatrix`, which is two-dimensional. The 3-D
(13-direction) configurations are not offered.

Undefined values follow one rule, stated per feature in the docstrings:

- a mask with a single voxel raises ``ValueError`` in every feature
  function, naming the features that are undefined for it (its spread is
  zero, so skewness and kurtosis are 0/0, and it has no neighbour to form a
  co-occurrence pair);
- a constant ROI with two or more voxels gets IBSI's own convention
  (skewness = excess kurtosis = 0);
- any other feature whose formula divides by zero (coefficient of variation
  for a zero mean, quartile coefficient of dispersion for P25 + P75 = 0,
  GLCM correlation and information correlation 1 for a matrix with a single
  occupied grey level) is ``nan``, never a warning.

Examples
--------
>>> image = np.array([[1, 2, 2], [3, 3, 3], [1, 1, 4]])
>>> mask = image > 0
>>> round(intensity_features(image, mask)["mean"], 3)
2.222

Grey levels 1 and 3 both occur three times; IBSI's mode is the one nearer the mean:

>>> histogram_features(image, mask)["mode"]
3.0
>>> round(glcm_features(image, mask)["contrast"], 3)
2.292
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from skimage.feature import graycomatrix, graycoprops

__all__ = [
    "INTENSITY_FEATURES",
    "HISTOGRAM_FEATURES",
    "GLCM_FEATURES",
    "GLCM_AGGREGATIONS",
    "discretise",
    "intensity_features",
    "histogram_features",
    "glcm_features",
    "feature_table",
]

# Statistics that IBSI defines both on raw intensities (family "stat") and on
# discretised intensities (family "ih"), in IBSI's order.
_SHARED_STATISTICS = (
    "mean",
    "variance",
    "skewness",
    "excess_kurtosis",
    "median",
    "minimum",
    "percentile_10",
    "percentile_90",
    "maximum",
    "interquartile_range",
    "range",
    "mean_absolute_deviation",
    "robust_mean_absolute_deviation",
    "median_absolute_deviation",
    "coefficient_of_variation",
    "quartile_coefficient_of_dispersion",
)

#: Keys of :func:`intensity_features` (IBSI intensity-based statistical features).
INTENSITY_FEATURES = _SHARED_STATISTICS + ("energy", "root_mean_square")

#: Keys of :func:`histogram_features` (IBSI intensity histogram features).
HISTOGRAM_FEATURES = _SHARED_STATISTICS[:9] + ("mode",) + _SHARED_STATISTICS[9:] + (
    "entropy",
    "uniformity",
    "max_histogram_gradient",
    "max_histogram_gradient_intensity",
    "min_histogram_gradient",
    "min_histogram_gradient_intensity",
)

#: Keys of :func:`glcm_features` (IBSI grey level co-occurrence based features).
GLCM_FEATURES = (
    "joint_maximum",
    "joint_average",
    "joint_variance",
    "joint_entropy",
    "difference_average",
    "difference_variance",
    "difference_entropy",
    "sum_average",
    "sum_variance",
    "sum_entropy",
    "angular_second_moment",
    "contrast",
    "dissimilarity",
    "inverse_difference",
    "normalised_inverse_difference",
    "inverse_difference_moment",
    "normalised_inverse_difference_moment",
    "inverse_variance",
    "correlation",
    "autocorrelation",
    "cluster_tendency",
    "cluster_shade",
    "cluster_prominence",
    "information_correlation_1",
    "information_correlation_2",
)

#: The IBSI GLCM aggregation configurations :func:`glcm_features` offers.
GLCM_AGGREGATIONS = ("2d_averaged", "2d_slice_merged", "2.5d_direction_merged", "2.5d_merged")

# IBSI's four in-plane directions at Chebyshev distance 1: (0, 1), (1, 1),
# (1, 0), (1, -1) in (row, column) steps, as graycomatrix angles.
_GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)

# More grey levels than this is a discretisation mistake (e.g. a tiny bin_width)
# and would only fill memory with empty histogram bins.
_MAX_LEVELS = 100_000

# A GLCM stack costs n_slices * 4 * Ng**2 numbers; beyond this many grey
# levels the matrices are mostly empty and the memory is wasted.
_MAX_GLCM_LEVELS = 1024

_FAMILIES = ("intensity", "histogram", "glcm")


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------
def _validated(image, mask) -> tuple[np.ndarray, np.ndarray]:
    """Check an image and its mask; return them as arrays (the mask as bool), never writing to them."""
    if isinstance(mask, Mapping):
        raise TypeError(
            f"mask must be one boolean array, got a dict with keys {sorted(mask)}: pick one mask, "
            "e.g. masks['lungs']"
        )
    image = np.asarray(image)
    if image.dtype == bool or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise TypeError(f"image must be a real-valued numeric array (integer or float), got dtype {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(
            f"image must be 2-D (one image) or 3-D (a volume of slices along axis 0), got {image.ndim}-D "
            f"shape {image.shape}"
        )
    mask = np.asarray(mask)
    if mask.shape != image.shape:
        raise ValueError(f"mask must have the image's shape {image.shape}, got {mask.shape}")
    if mask.dtype != bool:
        if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
            raise TypeError(f"mask must be boolean-like (True/False or 0/1), got dtype {mask.dtype}")
        other = np.setdiff1d(np.unique(mask), [0, 1])
        if other.size:
            raise ValueError(
                f"mask must be boolean-like (True/False or 0/1), but it also holds {other[:5].tolist()}: "
                "is it a label image? Compare it with the label you want, e.g. labels == 2"
            )
        mask = mask.astype(bool)
    n_voxels = int(np.count_nonzero(mask))
    if n_voxels == 0:
        raise ValueError("mask is empty: it selects no voxel, so there is nothing to compute features on")
    n_bad = int(np.count_nonzero(~np.isfinite(image[mask]))) if image.dtype.kind == "f" else 0
    if n_bad:
        raise ValueError(f"image has {n_bad} non-finite values (nan or inf) inside the mask")
    return image, mask


def _require_two_voxels(mask: np.ndarray, undefined: str) -> None:
    """Refuse a one-voxel ROI with a message that names what is undefined for it."""
    if np.count_nonzero(mask) == 1:
        raise ValueError(f"mask selects a single voxel: {undefined}; give a mask with at least 2 voxels")


_SINGLE_VOXEL_STATISTICS = (
    "skewness and excess_kurtosis are undefined for it (0/0: a single value has zero variance), "
    "and every dispersion feature is trivially 0"
)


def _checked_n_bins(n_bins) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral):
        raise TypeError(f"n_bins must be an integer number of bins, got {n_bins!r}")
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2 (one bin makes every voxel the same grey level), got {n_bins}")
    return int(n_bins)


def _checked_finite_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


# --------------------------------------------------------------------------
# Discretisation
# --------------------------------------------------------------------------
def _discretised_levels(image, mask, n_bins, bin_width, bin_min) -> tuple[np.ndarray, int]:
    """Grey levels 1..Ng inside the mask, 0 outside, and the number of levels Ng."""
    if n_bins is not None and bin_width is not None:
        raise ValueError("give either n_bins (fixed bin number) or bin_width (fixed bin size), not both")
    if bin_min is not None and bin_width is None:
        raise ValueError("bin_min only applies to fixed bin size discretisation: give bin_width as well")
    values = image[mask].astype(np.float64)
    lowest, highest = values.min(), values.max()
    if n_bins is not None:
        # IBSI fixed bin number: floor(Ng (X - min) / (max - min)) + 1, with the maximum put in bin Ng.
        n_levels = _checked_n_bins(n_bins)
        if highest > lowest:
            binned = np.floor(n_levels * (values - lowest) / (highest - lowest)) + 1
            binned = np.minimum(binned, n_levels)
        else:
            binned = np.ones_like(values)
    elif bin_width is not None:
        # IBSI fixed bin size: floor((X - X_min) / w) + 1, X_min the lower bound of the intensity range.
        width = _checked_finite_number(bin_width, "bin_width")
        if width <= 0:
            raise ValueError(f"bin_width must be positive, got {bin_width}")
        start = lowest if bin_min is None else _checked_finite_number(bin_min, "bin_min")
        if start > lowest:
            raise ValueError(
                f"bin_min ({start:g}) is above the smallest intensity inside the mask ({lowest:g}); IBSI would "
                "first re-segment (drop) those voxels, which this function does not do: shrink the mask instead"
            )
        binned = np.floor((values - start) / width) + 1
        n_levels = int(binned.max())
    else:
        if not np.array_equal(values, np.round(values)) or lowest < 1:
            raise ValueError(
                "without n_bins or bin_width the image must already hold integer grey levels 1, 2, 3... inside "
                f"the mask (found values from {lowest:g} to {highest:g}); pass n_bins or bin_width to discretise"
            )
        binned = values
        n_levels = int(highest)
    if n_levels > _MAX_LEVELS:
        raise ValueError(
            f"discretisation gives {n_levels} grey levels (more than {_MAX_LEVELS}): use fewer bins, a wider "
            "bin_width, or pass n_bins for an image that does not hold small grey levels"
        )
    levels = np.zeros(image.shape, dtype=np.int64)
    levels[mask] = binned.astype(np.int64)
    return levels, n_levels


def discretise(
    image, mask, *, n_bins: int | None = None, bin_width: float | None = None, bin_min: float | None = None
) -> np.ndarray:
    """Discretise the intensities inside a mask into grey levels 1, 2, ... (IBSI).

    Exactly one method, or none:

    - ``n_bins`` (IBSI *fixed bin number*): ``floor(n_bins * (X - min) /
      (max - min)) + 1`` over the ROI's own minimum and maximum; the
      maximum goes into bin ``n_bins``. A constant ROI is all bin 1.
    - ``bin_width`` (IBSI *fixed bin size*): ``floor((X - bin_min) /
      bin_width) + 1``; ``bin_min`` is the lower bound of the intensity
      range (default: the ROI minimum; IBSI uses the re-segmentation lower
      bound, e.g. -500 HU in CT). It may not exceed the ROI minimum.
    - neither: the image must already hold integer grey levels >= 1 inside
      the mask (like the IBSI digital phantom); they are used as they are.

    Parameters
    ----------
    image : array_like, 2-D or 3-D
    mask : array_like of bool (or 0/1), same shape
    n_bins : int >= 2, optional
    bin_width : float > 0, optional
    bin_min : float, optional
        Only with ``bin_width``.

    Returns
    -------
    ndarray of int64
        Same shape as ``image``: grey levels from 1 inside the mask, 0 outside.

    Examples
    --------
    >>> image = np.array([[0.0, 2.5], [5.0, 10.0]])
    >>> discretise(image, image >= 0, n_bins=4).tolist()
    [[1, 2], [3, 4]]
    >>> discretise(image, image >= 0, bin_width=4.0).tolist()
    [[1, 1], [2, 3]]
    """
    image, mask = _validated(image, mask)
    return _discretised_levels(image, mask, n_bins, bin_width, bin_min)[0]


# --------------------------------------------------------------------------
# First-order features
# --------------------------------------------------------------------------
def _shared_statistics(values: np.ndarray) -> dict[str, float]:
    """The statistics IBSI defines alike for raw and for discretised intensities."""
    mean = values.mean()
    deviations = values - mean
    squared = deviations**2
    variance = squared.mean()  # population variance (IBSI: no bias correction)
    p10, p25, median, p75, p90 = np.percentile(values, [10, 25, 50, 75, 90])  # linear interpolation
    if values.max() == values.min():
        # IBSI's convention for a constant ROI (the moment ratios are 0/0).
        skewness = excess_kurtosis = 0.0
    else:
        # The IBSI moment ratios, written out: scipy.stats.skew/kurtosis give the
        # same numbers (bias=True) but their per-call overhead doubled the time
        # of a cohort table, and we already hold the deviations.
        skewness = np.mean(squared * deviations) / variance**1.5
        excess_kurtosis = np.mean(squared**2) / variance**2 - 3.0
    central = values[(values >= p10) & (values <= p90)]
    return {
        "mean": mean,
        "variance": variance,
        "skewness": skewness,
        "excess_kurtosis": excess_kurtosis,
        "median": median,
        "minimum": values.min(),
        "percentile_10": p10,
        "percentile_90": p90,
        "maximum": values.max(),
        "interquartile_range": p75 - p25,
        "range": values.max() - values.min(),
        "mean_absolute_deviation": np.abs(deviations).mean(),
        "robust_mean_absolute_deviation": np.abs(central - central.mean()).mean(),
        # IBSI's "median absolute deviation" is the MEAN distance to the median.
        "median_absolute_deviation": np.abs(values - median).mean(),
        "coefficient_of_variation": np.sqrt(variance) / mean if mean != 0 else np.nan,
        "quartile_coefficient_of_dispersion": (p75 - p25) / (p75 + p25) if p75 + p25 != 0 else np.nan,
    }


def intensity_features(image, mask) -> dict[str, float]:
    """IBSI intensity-based statistical features of the voxels inside a mask.

    All voxels of the ROI are used at once, also for a 3-D volume. No
    discretisation: the intensities are used as they are.

    Parameters
    ----------
    image : array_like, 2-D or 3-D
        Real-valued intensities; values outside the mask are ignored
        (they may be nan).
    mask : array_like of bool (or 0/1), same shape
        The region of interest; at least 2 voxels.

    Returns
    -------
    dict of str to float
        Keys :data:`INTENSITY_FEATURES`: ``mean``, ``variance`` (population),
        ``skewness``, ``excess_kurtosis`` (both 0 for a constant ROI, as IBSI
        defines), ``median``, ``minimum``, ``percentile_10``,
        ``percentile_90`` (linear interpolation), ``maximum``,
        ``interquartile_range``, ``range``, ``mean_absolute_deviation``,
        ``robust_mean_absolute_deviation`` (over voxels between P10 and P90),
        ``median_absolute_deviation`` (IBSI: the *mean* absolute distance to
        the median), ``coefficient_of_variation`` (nan for a zero mean),
        ``quartile_coefficient_of_dispersion`` (nan when P25 + P75 = 0),
        ``energy`` (sum of squares), ``root_mean_square``.

    Raises
    ------
    ValueError
        Empty or one-voxel mask, shape mismatch, non-finite values inside
        the mask, an image that is not 2-D or 3-D, a non-boolean mask.

    Examples
    --------
    >>> image = np.array([[1.0, 2.0, 9.0], [4.0, 5.0, 6.0]])
    >>> mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)
    >>> features = intensity_features(image, mask)
    >>> features["mean"], features["median"], features["range"]
    (3.6, 4.0, 5.0)
    """
    image, mask = _validated(image, mask)
    _require_two_voxels(mask, _SINGLE_VOXEL_STATISTICS)
    values = image[mask].astype(np.float64)
    features = _shared_statistics(values)
    energy = np.sum(values**2)
    features["energy"] = energy
    features["root_mean_square"] = np.sqrt(energy / values.size)
    return {name: float(features[name]) for name in INTENSITY_FEATURES}


def _histogram_from_levels(levels: np.ndarray, mask: np.ndarray, n_levels: int) -> dict[str, float]:
    values = levels[mask]
    features = _shared_statistics(values.astype(np.float64))
    counts = np.bincount(values, minlength=n_levels + 1)[1 : n_levels + 1]  # bins 1..Ng, empty ones included
    grey_levels = np.arange(1, n_levels + 1)
    # Mode: when several bins share the highest count IBSI takes the one nearest
    # the mean, and the lower one when two are equally near (argmin keeps the first).
    candidates = grey_levels[counts == counts.max()]
    features["mode"] = candidates[np.argmin(np.abs(candidates - features["mean"]))]
    probabilities = counts[counts > 0] / values.size
    features["entropy"] = -np.sum(probabilities * np.log2(probabilities))
    features["uniformity"] = np.sum(probabilities**2)
    # IBSI's histogram gradient: central differences inside, one-sided at both
    # ends, which is exactly numpy's gradient (it needs at least two bins).
    gradient = np.gradient(counts.astype(np.float64)) if n_levels > 1 else np.zeros(1)
    features["max_histogram_gradient"] = gradient.max()
    features["max_histogram_gradient_intensity"] = grey_levels[np.argmax(gradient)]
    features["min_histogram_gradient"] = gradient.min()
    features["min_histogram_gradient_intensity"] = grey_levels[np.argmin(gradient)]
    return {name: float(features[name]) for name in HISTOGRAM_FEATURES}


def histogram_features(
    image, mask, *, bin_width: float | None = None, n_bins: int | None = None, bin_min: float | None = None
) -> dict[str, float]:
    """IBSI intensity histogram features of the discretised intensities in a mask.

    The intensities are first discretised with :func:`discretise` (give
    ``n_bins`` or ``bin_width``, or neither for images that already hold
    grey levels 1, 2, ...); all voxels of the ROI are used at once.

    Parameters
    ----------
    image : array_like, 2-D or 3-D
    mask : array_like of bool (or 0/1), same shape; at least 2 voxels
    bin_width, n_bins, bin_min
        Discretisation, see :func:`discretise`.

    Returns
    -------
    dict of str to float
        Keys :data:`HISTOGRAM_FEATURES`: the statistics of
        :func:`intensity_features` (without energy and root mean square) on
        the grey levels, plus ``mode`` (ties: the bin nearest the mean, then
        the lower one), ``entropy`` (base 2), ``uniformity``, and the
        histogram gradient features ``max_histogram_gradient``,
        ``max_histogram_gradient_intensity``, ``min_histogram_gradient``,
        ``min_histogram_gradient_intensity`` (over bins 1..Ng, empty bins
        included; a single bin has gradient 0).

    Raises
    ------
    ValueError, TypeError
        As :func:`intensity_features` and :func:`discretise`.

    Examples
    --------
    >>> image = np.array([[1, 1, 1], [2, 4, 4]])
    >>> features = histogram_features(image, image > 0)
    >>> features["mode"], features["maximum"], round(features["entropy"], 3)
    (1.0, 4.0, 1.459)
    """
    image, mask = _validated(image, mask)
    _require_two_voxels(mask, _SINGLE_VOXEL_STATISTICS)
    levels, n_levels = _discretised_levels(image, mask, n_bins, bin_width, bin_min)
    return _histogram_from_levels(levels, mask, n_levels)


# --------------------------------------------------------------------------
# GLCM
# --------------------------------------------------------------------------
def _glcm_stack(levels: np.ndarray, n_levels: int, distance: int) -> np.ndarray:
    """Symmetric co-occurrence counts per slice and direction, shape (slices, 4, Ng, Ng).

    Outside the mask the grey level is 0 (see ``_discretised_levels``):
    ``graycomatrix`` counts it like any level, and dropping row and column 0
    removes every pair with an out-of-ROI voxel.
    """
    volume = levels if levels.ndim == 3 else levels[np.newaxis]
    # Only the bounding box of the ROI can hold pairs inside it.
    occupied = [np.flatnonzero(volume.any(axis=other)) for other in ((1, 2), (0, 2), (0, 1))]
    volume = volume[tuple(slice(index[0], index[-1] + 1) for index in occupied)]
    dtype = np.uint8 if n_levels < 256 else np.uint16
    counts = np.zeros((volume.shape[0], len(_GLCM_ANGLES), n_levels, n_levels), dtype=np.float64)
    # graycomatrix steps round(d sin(angle)), round(d cos(angle)): at 45 and 135
    # degrees that is one pixel for d = 2, where IBSI (Chebyshev distance)
    # wants (2, 2). Asking for the diagonals at d * sqrt(2) gives IBSI's steps.
    distances = [distance, distance * np.sqrt(2)]
    axis_aligned, diagonal = [0, 2], [1, 3]
    for k, plane in enumerate(volume):
        matrices = graycomatrix(
            plane.astype(dtype), distances, _GLCM_ANGLES, levels=n_levels + 1, symmetric=True, normed=False
        )
        counts[k, axis_aligned] = np.moveaxis(matrices[1:, 1:, 0, axis_aligned], -1, 0)
        counts[k, diagonal] = np.moveaxis(matrices[1:, 1:, 1, diagonal], -1, 0)
    return counts


def _aggregated_matrices(counts: np.ndarray, aggregation: str) -> np.ndarray:
    """The matrices IBSI computes features on for one configuration, shape (n, Ng, Ng)."""
    n_levels = counts.shape[-1]
    if aggregation == "2d_averaged":  # every slice and direction on its own
        return counts.reshape(-1, n_levels, n_levels)
    if aggregation == "2d_slice_merged":  # directions summed within each slice
        return counts.sum(axis=1)
    if aggregation == "2.5d_direction_merged":  # slices summed per direction
        return counts.sum(axis=0)
    return counts.sum(axis=(0, 1))[np.newaxis]  # "2.5d_merged": one matrix


def _entropy_bits(probabilities: np.ndarray, axis) -> np.ndarray:
    """Shannon entropy in bits (IBSI uses log2), 0 log 0 taken as 0."""
    logs = np.log2(probabilities, where=probabilities > 0, out=np.zeros_like(probabilities))
    return -np.sum(probabilities * logs, axis=axis)


def _binned_by_index(p: np.ndarray, index: np.ndarray, n_bins: int) -> np.ndarray:
    """Sum each matrix of ``p`` (n, Ng, Ng) over cells grouped by ``index`` (Ng, Ng), in one bincount."""
    n = p.shape[0]
    flat_index = (np.arange(n)[:, None] * n_bins + index.ravel()[None, :]).ravel()
    return np.bincount(flat_index, weights=p.ravel(), minlength=n * n_bins).reshape(n, n_bins)


def _glcm_feature_arrays(counts: np.ndarray) -> dict[str, np.ndarray]:
    """IBSI GLCM features of each matrix in ``counts`` (n, Ng, Ng), each a length-n array."""
    n, n_levels, _ = counts.shape
    p = counts / counts.sum(axis=(1, 2), keepdims=True)
    # graycoprops wants (levels, levels, distances, angles); our matrices ride on the last axis.
    as_skimage = np.moveaxis(p, 0, -1)[:, :, np.newaxis, :]

    def skimage_property(name: str) -> np.ndarray:
        return graycoprops(as_skimage, name)[0]

    grey = np.arange(1, n_levels + 1, dtype=np.float64)
    i, j = np.meshgrid(grey, grey, indexing="ij")
    p_row = p.sum(axis=2)  # the row marginal; the column marginal is the same (symmetric matrices)
    mean = p_row @ grey
    joint_entropy = skimage_property("entropy") / np.log(2)  # skimage uses natural logs, IBSI bits

    # Diagonal (|i - j| = k, k = 0..Ng-1) and cross-diagonal (i + j = k, k = 2..2Ng)
    # probabilities: IBSI builds many features on them and graycoprops has none of those.
    k_diff = np.arange(n_levels, dtype=np.float64)
    k_sum = np.arange(2, 2 * n_levels + 1, dtype=np.float64)
    p_diff = _binned_by_index(p, np.abs(i - j).astype(np.intp), n_levels)
    p_sum = _binned_by_index(p, (i + j - 2).astype(np.intp), 2 * n_levels - 1)
    difference_average = skimage_property("dissimilarity")  # = sum k p_diff(k)
    sum_average = p_sum @ k_sum
    centred_sums = k_sum[None, :] - 2 * mean[:, None]  # i + j - 2 mu, per cross-diagonal

    # Information correlation: graycoprops has no marginal entropies either.
    hx = _entropy_bits(p_row, axis=1)
    outer = p_row[:, :, None] * p_row[:, None, :]
    log_outer = np.log2(outer, where=outer > 0, out=np.zeros_like(outer))
    hxy1 = -np.sum(p * log_outer, axis=(1, 2))
    hxy2 = -np.sum(outer * log_outer, axis=(1, 2))
    single_level = hx <= 1e-12  # one occupied grey level: correlations are 0/0

    # Correlation is computed here, not by graycoprops: graycoprops reports 1
    # for a matrix with zero variance, where the IBSI formula is 0/0 (nan here).
    variance = skimage_property("variance")  # joint variance; shifting levels by 1 does not change it
    autocorrelation = np.einsum("nij,ij->n", p, i * j)
    safe_variance, safe_hx = np.where(single_level, 1.0, variance), np.where(single_level, 1.0, hx)
    correlation = np.where(single_level, np.nan, (autocorrelation - mean**2) / safe_variance)
    information_correlation_1 = np.where(single_level, np.nan, (joint_entropy - hxy1) / safe_hx)
    return {
        "joint_maximum": p.max(axis=(1, 2)),
        "joint_average": mean,
        "joint_variance": variance,
        "joint_entropy": joint_entropy,
        "difference_average": difference_average,
        "difference_variance": np.sum((k_diff[None, :] - difference_average[:, None]) ** 2 * p_diff, axis=1),
        "difference_entropy": _entropy_bits(p_diff, axis=1),
        "sum_average": sum_average,
        "sum_variance": np.sum((k_sum[None, :] - sum_average[:, None]) ** 2 * p_sum, axis=1),
        "sum_entropy": _entropy_bits(p_sum, axis=1),
        "angular_second_moment": skimage_property("ASM"),
        "contrast": skimage_property("contrast"),
        "dissimilarity": difference_average,
        "inverse_difference": p_diff @ (1 / (1 + k_diff)),
        "normalised_inverse_difference": p_diff @ (1 / (1 + k_diff / n_levels)),
        "inverse_difference_moment": skimage_property("homogeneity"),
        "normalised_inverse_difference_moment": p_diff @ (1 / (1 + (k_diff / n_levels) ** 2)),
        "inverse_variance": p_diff[:, 1:] @ (1 / k_diff[1:] ** 2),
        "correlation": correlation,
        "autocorrelation": autocorrelation,
        "cluster_tendency": np.sum(centred_sums**2 * p_sum, axis=1),
        "cluster_shade": np.sum(centred_sums**3 * p_sum, axis=1),
        "cluster_prominence": np.sum(centred_sums**4 * p_sum, axis=1),
        "information_correlation_1": information_correlation_1,
        # HXY2 >= HXY always; the clip only removes rounding below zero.
        "information_correlation_2": np.sqrt(np.clip(1 - np.exp(-2 * (hxy2 - joint_entropy)), 0, None)),
    }


def _checked_glcm_settings(distance, aggregation) -> int:
    if aggregation not in GLCM_AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {GLCM_AGGREGATIONS}, got {aggregation!r}")
    if isinstance(distance, bool) or not isinstance(distance, numbers.Integral) or distance < 1:
        raise ValueError(f"distance must be a positive integer number of pixels, got {distance!r}")
    return int(distance)


def _glcm_from_levels(levels: np.ndarray, n_levels: int, distance: int, aggregation: str) -> dict[str, float]:
    if n_levels > _MAX_GLCM_LEVELS:
        raise ValueError(
            f"the image has {n_levels} grey levels inside the mask; a GLCM with more than {_MAX_GLCM_LEVELS} "
            "levels is mostly empty: pass n_bins (e.g. 32) or bin_width to discretise"
        )
    matrices = _aggregated_matrices(_glcm_stack(levels, n_levels, distance), aggregation)
    # IBSI: a slice or direction without any pair inside the ROI has no matrix; skip it.
    matrices = matrices[matrices.sum(axis=(1, 2)) > 0]
    if matrices.shape[0] == 0:
        raise ValueError(
            f"no two voxels of the mask are neighbours at distance {distance} within a slice, so the GLCM is "
            "empty and every GLCM feature is undefined; give a larger mask (or a smaller distance)"
        )
    per_matrix = _glcm_feature_arrays(matrices)
    # Average over matrices; nan (0/0 features of single-level matrices) only
    # when every matrix is undefined for that feature.
    result = {}
    for name in GLCM_FEATURES:
        values = per_matrix[name]
        defined = values[~np.isnan(values)]
        result[name] = float(defined.mean()) if defined.size else float("nan")
    return result


def glcm_features(
    image,
    mask,
    *,
    n_bins: int | None = None,
    bin_width: float | None = None,
    bin_min: float | None = None,
    distance: int = 1,
    aggregation: str = "2d_averaged",
) -> dict[str, float]:
    """IBSI grey level co-occurrence matrix (GLCM) features inside a mask.

    The intensities are discretised (see :func:`discretise`) into grey levels
    1..Ng. For every 2-D slice (a 2-D image is one slice; a 3-D volume is
    sliced along axis 0) :func:`skimage.feature.graycomatrix` counts the
    symmetric co-occurrences at ``distance`` in IBSI's four in-plane
    directions (0, 45, 90, 135 degrees). Only pairs with both voxels inside
    the mask count. Every grey level 1..Ng keeps its row and column, even
    when it does not occur.

    ``aggregation`` picks the IBSI configuration:

    - ``"2d_averaged"`` (default): features of each slice's each direction,
      averaged;
    - ``"2d_slice_merged"``: the four direction matrices of a slice summed,
      features averaged over slices;
    - ``"2.5d_direction_merged"``: each direction's matrices summed over
      slices, features averaged over directions;
    - ``"2.5d_merged"``: all matrices summed into one.

    For a 2-D image the 2.5D configurations equal the 2D ones. Matrices
    without any pair (a slice or direction with no neighbours inside the
    ROI) are skipped, as IBSI prescribes.

    Parameters
    ----------
    image : array_like, 2-D or 3-D
    mask : array_like of bool (or 0/1), same shape
    n_bins, bin_width, bin_min
        Discretisation, see :func:`discretise`.
    distance : int >= 1
        Chebyshev distance between the voxels of a pair.
    aggregation : str
        One of :data:`GLCM_AGGREGATIONS`.

    Returns
    -------
    dict of str to float
        Keys :data:`GLCM_FEATURES`, IBSI definitions (entropies in bits).
        ``correlation`` and ``information_correlation_1`` of a matrix with a
        single occupied grey level are 0/0: such matrices are left out of
        the average, and the feature is nan if no matrix defines it.

    Raises
    ------
    ValueError
        As :func:`intensity_features`, plus: no pair of neighbouring voxels
        inside the mask (e.g. a single voxel), an unknown ``aggregation``,
        more than 1024 grey levels.

    Examples
    --------
    >>> image = np.array([[1, 1, 2], [3, 3, 3], [1, 1, 4]])
    >>> round(glcm_features(image, image > 0)["contrast"], 3)
    2.792
    >>> round(glcm_features(image, image > 0, aggregation="2d_slice_merged")["contrast"], 3)
    2.7
    """
    distance = _checked_glcm_settings(distance, aggregation)
    image, mask = _validated(image, mask)
    _require_two_voxels(mask, "the GLCM needs pairs of neighbouring voxels and one voxel has none")
    levels, n_levels = _discretised_levels(image, mask, n_bins, bin_width, bin_min)
    return _glcm_from_levels(levels, n_levels, distance, aggregation)


# --------------------------------------------------------------------------
# Cohort table
# --------------------------------------------------------------------------
_END = object()  # marks an exhausted iterator
_SOURCE_HELP = "a mapping id -> array, a sequence of arrays, or a loader function id -> array"


def _items_for(source, ids: list, name: str):
    """Yield ``source``'s array for each id, in order, whatever form the source takes."""
    if isinstance(source, Mapping):
        for item_id in ids:
            if item_id not in source:
                raise ValueError(f"{name} has no entry for id {item_id!r}")
            yield source[item_id]
    elif callable(source):
        for item_id in ids:
            yield source(item_id)
    else:
        iterator = iter(source)
        for position, _ in enumerate(ids):
            try:
                yield next(iterator)
            except StopIteration:
                raise ValueError(f"{name} ran out after {position} items, but there are {len(ids)} ids") from None
        if next(iterator, _END) is not _END:
            raise ValueError(f"{name} has more items than the {len(ids)} ids")


def _resolved_ids(images, masks, ids) -> tuple[list, object, object, object]:
    """The table's ids and index name, and the two sources (generators read into lists to count them)."""
    for source, name in ((images, "images"), (masks, "masks")):
        if not (isinstance(source, (Mapping, Iterable)) or callable(source)):
            raise TypeError(f"{name} must be {_SOURCE_HELP}, got {type(source).__name__}")
    if ids is not None:
        return list(ids), getattr(ids, "name", None), images, masks
    for source in (images, masks):
        if isinstance(source, Mapping):
            return list(source), None, images, masks
    if callable(images) and callable(masks):
        raise TypeError("ids is required when images and masks are loader functions")
    if not callable(images) and not hasattr(images, "__len__"):
        images = list(images)
    if not callable(masks) and not hasattr(masks, "__len__"):
        masks = list(masks)
    return list(range(len(masks if callable(images) else images))), None, images, masks


def feature_table(
    images,
    masks,
    *,
    ids: Iterable | None = None,
    families: Iterable[str] = _FAMILIES,
    n_bins: int | None = None,
    bin_width: float | None = None,
    bin_min: float | None = None,
    distance: int = 1,
    aggregation: str = "2d_averaged",
    progress: bool = True,
) -> pd.DataFrame:
    """Radiomic features of many images in one table, one row per image.

    Parameters
    ----------
    images, masks
        Each is a mapping ``id -> array``, a sequence (or other iterable) of
        arrays in the order of ``ids``, or a loader function ``id -> array``
        (only one image is in memory at a time). A mask loader must return
        one boolean array, e.g. ``lambda s: load_cohort_masks(s)["lungs"]``.
    ids : iterable, optional
        Row labels, in order. Default: the mapping's keys, else 0, 1, 2...
        Required when both sources are loader functions. A pandas Series
        also names the index.
    families : iterable of str
        Any of ``"intensity"``, ``"histogram"``, ``"glcm"``.
    n_bins, bin_width, bin_min
        Discretisation for the histogram and GLCM families, see
        :func:`discretise` (the same for every image).
    distance, aggregation
        GLCM settings, see :func:`glcm_features`.
    progress : bool
        Show a progress bar (``tqdm.auto``); ``False`` silences it.

    Returns
    -------
    pandas.DataFrame
        Index: the ids. Columns ``<family>_<feature>``, e.g.
        ``intensity_mean``, ``histogram_entropy``, ``glcm_contrast``.

    Raises
    ------
    ValueError, TypeError
        Any problem of one image, re-raised with its id in the message;
        sources of different lengths; an unknown family.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> images = {"a": rng.integers(0, 256, (32, 32)), "b": rng.integers(0, 256, (32, 32))}
    >>> mask = np.ones((32, 32), bool)
    >>> table = feature_table(images, lambda _: mask, n_bins=16, progress=False)
    >>> table.shape, table.index.tolist(), table.columns[0]
    ((2, 66), ['a', 'b'], 'intensity_mean')
    """
    from tqdm.auto import tqdm

    families = tuple(families) if not isinstance(families, str) else (families,)
    unknown = [family for family in families if family not in _FAMILIES]
    if unknown or not families:
        raise ValueError(f"families must be a non-empty selection of {_FAMILIES}, got {families!r}")
    distance = _checked_glcm_settings(distance, aggregation)
    ids, index_name, images, masks = _resolved_ids(images, masks, ids)
    names = {"intensity": INTENSITY_FEATURES, "histogram": HISTOGRAM_FEATURES, "glcm": GLCM_FEATURES}
    columns = [f"{family}_{name}" for family in _FAMILIES if family in families for name in names[family]]

    for source, name in ((images, "images"), (masks, "masks")):
        if not isinstance(source, Mapping) and not callable(source) and hasattr(source, "__len__"):
            if len(source) != len(ids):
                raise ValueError(f"{name} holds {len(source)} items but there are {len(ids)} ids")

    rows = []
    image_items, mask_items = _items_for(images, ids, "images"), _items_for(masks, ids, "masks")
    pairs = zip(ids, image_items, mask_items)
    for item_id, image, mask in tqdm(pairs, total=len(ids), disable=not progress, desc="features"):
        try:
            rows.append(_features_of_one(image, mask, families, n_bins, bin_width, bin_min, distance, aggregation))
        except (ValueError, TypeError) as error:
            raise type(error)(f"image {item_id!r}: {error}") from error
    for items in (image_items, mask_items):
        for _ in items:  # zip stops at the last id: let each source check that it has nothing left
            pass
    return pd.DataFrame(rows, index=pd.Index(ids, name=index_name), columns=columns, dtype=np.float64)


def _features_of_one(image, mask, families, n_bins, bin_width, bin_min, distance, aggregation) -> dict[str, float]:
    """All requested families of one image, discretising it only once."""
    image, mask = _validated(image, mask)
    row = {}
    if "intensity" in families:
        row.update({f"intensity_{k}": v for k, v in intensity_features(image, mask).items()})
    if "histogram" in families or "glcm" in families:
        _require_two_voxels(mask, _SINGLE_VOXEL_STATISTICS + ", and a GLCM needs pairs of neighbouring voxels")
        levels, n_levels = _discretised_levels(image, mask, n_bins, bin_width, bin_min)
        if "histogram" in families:
            row.update({f"histogram_{k}": v for k, v in _histogram_from_levels(levels, mask, n_levels).items()})
        if "glcm" in families:
            glcm = _glcm_from_levels(levels, n_levels, distance, aggregation)
            row.update({f"glcm_{k}": v for k, v in glcm.items()})
    return row
