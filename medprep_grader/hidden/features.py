"""Hidden checks of lesson 3, Features from images.

Inputs are drawn from ``rng`` (the course secret): random masks and tables, synthetic
radiographs from :mod:`medprep_helpers.phantom` with rng-drawn seeds, CTRs and rotations, the
IBSI digital phantom turned and flipped. Expected values come from the reference
implementations below; the judging and its messages are the visible checks' own
(:mod:`medprep_helpers.exercises.features`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from medprep_helpers import phantom
from medprep_helpers.checks import CheckFailed, NotImplementedYet
from medprep_helpers.exercises.features import judge_ctr, judge_flags, judge_summary

from . import hidden

# --------------------------------------------------------------------------- cardiothoracic_ratio


def _ends(mask, axis=0):
    """First and last index holding a True pixel, along columns (axis=0 collapses rows) or rows."""
    occupied = np.flatnonzero(np.asarray(mask, dtype=bool).any(axis=axis))
    return int(occupied[0]), int(occupied[-1])


def _extent(mask, axis=0):
    first, last = _ends(mask, axis)
    return last - first + 1


def _row_extents(mask):
    return [int(np.flatnonzero(row)[-1] - np.flatnonzero(row)[0] + 1) for row in mask if row.any()]


def _ctr_wrong(heart, thorax):
    """The CTR each typical mistake of ``CTR_MISTAKES`` gives on these masks."""
    heart, thorax = np.asarray(heart, dtype=bool), np.asarray(thorax, dtype=bool)
    widest_h, widest_t = max(_row_extents(heart)), max(_row_extents(thorax))
    wrong = {
        "swapped": _extent(thorax) / _extent(heart),
        "widest_row": widest_h / widest_t,
        "fullest_row": heart.sum(axis=1).max() / thorax.sum(axis=1).max(),
        "off_by_one": (_extent(heart) - 1) / (_extent(thorax) - 1),
        "rows": _extent(heart, 1) / _extent(thorax, 1),
        "areas": heart.sum() / thorax.sum(),
        "occupied_columns": heart.any(axis=0).sum() / _extent(thorax),
    }
    if widest_t > 1:
        wrong["widest_row_off_by_one"] = (widest_h - 1) / (widest_t - 1)
    if _extent(thorax, 1) > 1:
        wrong["rows_off_by_one"] = (_extent(heart, 1) - 1) / (_extent(thorax, 1) - 1)
    return wrong


def _judge_masks(check, heart, thorax, where):
    found = check.call(heart, thorax)
    rows = {"heart_columns": _ends(heart, 1), "thorax_columns": _ends(thorax, 1)}
    judge_ctr(check, found, _ends(heart), _ends(thorax), wrong=_ctr_wrong(heart, thorax), rows=rows, where=where)


def _random_rows_mask(rng, shape, first, last):
    """A mask whose rows hold random runs inside columns first..last, reaching both on different rows."""
    mask = np.zeros(shape, dtype=bool)
    rows = rng.choice(np.arange(1, shape[0] - 1), size=rng.integers(3, shape[0] - 1), replace=False)
    for row in rows:
        start = int(rng.integers(first, (first + last) // 2 + 1))
        stop = int(rng.integers((first + last) // 2, last + 1))
        mask[row, start:stop + 1] = True
    left_row, right_row = rng.choice(rows, size=2, replace=False)
    mask[left_row, first] = mask[right_row, last] = True
    return mask


@hidden("cardiothoracic_ratio", helpers_that_answer=("measure_ctr", "_column_extent"))
def cardiothoracic_ratio(check, rng):
    # Nested lists of 0/1; the thorax touches the first and the last column, on different rows.
    width = int(rng.integers(9, 16))
    thorax = np.zeros((3, width), dtype=int)
    split = int(rng.integers(3, width - 3))
    thorax[0, : split + 1], thorax[1, 2:-2], thorax[2, split - 1:] = 1, 1, 1
    heart = np.zeros((3, width), dtype=int)
    heart[0, split - 1: split + 1] = 1
    heart[2, split + 1: split + 3] = 1
    _judge_masks(check, heart.tolist(), thorax.tolist(), "nested lists, thorax touching both image borders")
    # A heart one column wide: extent 1.
    shape = (int(rng.integers(5, 9)), int(rng.integers(8, 14)))
    one_column = np.zeros(shape, dtype=bool)
    one_column[1:-1, int(rng.integers(1, shape[1] - 1))] = True
    _judge_masks(check, one_column, np.ones(shape, dtype=bool), "a heart one column wide")
    # Random masks of a random size, with gaps.
    shape = (int(rng.integers(20, 40)), int(rng.integers(30, 60)))
    t_first, t_last = int(rng.integers(0, 5)), shape[1] - 1 - int(rng.integers(0, 5))
    random_thorax = _random_rows_mask(rng, shape, t_first, t_last)
    h_first = int(rng.integers(t_first + 3, shape[1] // 2 - 2))
    h_last = int(rng.integers(shape[1] // 2 + 2, t_last - 2))
    random_heart = _random_rows_mask(rng, shape, h_first, h_last) & (rng.random(shape) < 0.7)
    random_heart[:, [h_first, h_last]] = _random_rows_mask(rng, shape, h_first, h_last)[:, [h_first, h_last]]
    _judge_masks(check, random_heart, random_thorax, f"random masks of shape {shape}")
    # Synthetic radiographs with unknown seeds, CTRs and rotations (the second one's masks as uint8 0/1).
    for number in range(2):
        image = phantom.synthetic_radiograph(
            seed=int(rng.integers(1 << 30)), shape=(int(rng.integers(128, 193)), int(rng.integers(128, 193))),
            ctr=float(rng.uniform(0.38, 0.65)), rotation=float(rng.uniform(-10, 10)), noise=0.0,
        )
        heart, thorax = image.masks["heart"], image.masks["thorax"]
        assert np.isclose(image.ctr, _extent(heart) / _extent(thorax))  # the phantom's own ground truth
        if number == 1:
            heart, thorax = heart.astype(np.uint8), thorax.astype(np.uint8)
        _judge_masks(check, heart, thorax, f"masks of a synthetic radiograph (CTR {image.ctr:.3f})")


# --------------------------------------------------------------------------- flag_implausible


def _reference_flags(table, low, high):
    measured = table[["ctr", "heart_width_mm", "thorax_width_mm"]]
    return (measured.isna().any(axis=1) | (table["heart_width_mm"] > table["thorax_width_mm"])
            | (table["ctr"] < low) | (table["ctr"] > high))


def _random_table(rng, low, high):
    """A random measurement table with every rule's cases on random rows, and the rows' roles."""
    n = int(rng.integers(25, 40))
    labels = [f"p{number:03d}" for number in rng.choice(1000, size=n, replace=False)]
    thorax = rng.uniform(240, 320, size=n).round(1)
    ctr = rng.uniform(low + 0.02, high - 0.02, size=n).round(3)
    table = pd.DataFrame({
        "site": rng.choice(["clinic", "community", "hospital"], size=n),
        "ctr": ctr,
        "heart_width_mm": (ctr * thorax).round(1),
        "thorax_width_mm": thorax,
        "age": rng.integers(20, 90, size=n).astype(float),
    }, index=pd.Index(labels, name="subject_id"))
    rows = iter(rng.permutation(labels))
    roles = {"missing": [], "other_missing": [], "wider": [], "out_of_range": [], "at_bounds": []}
    for column in ("ctr", "heart_width_mm", "thorax_width_mm"):
        row = next(rows)
        table.loc[row, column] = np.nan
        roles["missing"].append(row)
    row = next(rows)
    table.loc[row, "age"] = np.nan
    roles["other_missing"].append(row)
    row = next(rows)  # a CTR that looks fine, but the widths say otherwise
    table.loc[row, "heart_width_mm"] = table.loc[row, "thorax_width_mm"] + round(float(rng.uniform(1, 40)), 1)
    roles["wider"].append(row)
    for value in (low - float(rng.uniform(0.002, 0.015)), high + float(rng.uniform(0.002, 0.03))):  # just outside
        row = next(rows)
        table.loc[row, "ctr"] = round(value, 3)
        roles["out_of_range"].append(row)
    for value in (low, high):
        row = next(rows)
        table.loc[row, "ctr"] = value
        roles["at_bounds"].append(row)
    return table, roles


@hidden("flag_implausible")
def flag_implausible(check, rng):
    # Custom bounds drawn at random, passed as keywords. Inside (0.3, 0.7) and with the out-of-range CTRs
    # just outside them, so that an answer with the default bounds hard-coded always gets some rows wrong.
    low, high = round(float(rng.uniform(0.32, 0.4)), 2), round(float(rng.uniform(0.55, 0.66)), 2)
    table, roles = _random_table(rng, low, high)
    found = check.call(table, low=low, high=high)
    wrong = {"fixed_bounds": _reference_flags(table, 0.3, 0.7)}
    judge_flags(check, found, _reference_flags(table, low, high), roles, wrong=wrong,
                where=f"a random table with low={low}, high={high}")
    # The default bounds on another random table.
    table, roles = _random_table(rng, 0.3, 0.7)
    found = check.call(table)
    judge_flags(check, found, _reference_flags(table, 0.3, 0.7), roles, where="a random table, default bounds")


# --------------------------------------------------------------------------- intensity_summary

_IBSI_PHANTOM = np.array([
    [[1, 4, 4, 1, 1], [1, 4, 6, 1, 1], [4, 1, 6, 4, 1], [4, 4, 6, 4, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 6, 1, 1], [1, 1, 3, 1, 1], [4, 4, 6, 1, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 1, 1, 1], [1, 1, 9, 1, 1], [1, 1, 6, 1, 1]],
    [[1, 4, 4, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 6, 1, 1]]], dtype=np.int16)
_IBSI_MASK = np.ones((4, 4, 5), dtype=bool)
_IBSI_MASK[1, 2, 0] = _IBSI_MASK[2, 0, 3:] = _IBSI_MASK[2, 2, 2] = _IBSI_MASK[3, 0, 3:] = False
_IBSI_PUBLISHED = {"mean": 2.15, "variance": 3.05, "skewness": 1.08, "excess_kurtosis": -0.355}


def _reference_summary(image, mask):
    """IBSI statistics of the values inside the mask, and what each mistake of SUMMARY_MISTAKES gives."""
    values = np.asarray(image)[np.asarray(mask, dtype=bool)].astype(np.float64)
    expected = {"mean": values.mean(), "variance": values.var(), "skewness": stats.skew(values),
                "excess_kurtosis": stats.kurtosis(values)}
    wrong = {
        "whole_image_mean": np.asarray(image, dtype=np.float64).mean(),
        "masked_product_mean": (np.asarray(image, dtype=np.float64) * mask).mean(),
        "sample_variance": values.var(ddof=1),
        "standard_deviation": values.std(),
        "corrected_skewness": stats.skew(values, bias=False),
        "plain_kurtosis": stats.kurtosis(values, fisher=False),
        "corrected_kurtosis": stats.kurtosis(values, bias=False),
    }
    return {k: float(v) for k, v in expected.items()}, {k: float(v) for k, v in wrong.items()}


def _overflow_hint(dtype):
    top = np.iinfo(dtype).max
    return (f"{np.dtype(dtype).name} arithmetic wraps around above {top}: convert the values to float first, "
            "e.g. image[mask].astype(float).")


@hidden("intensity_summary", helpers_that_answer=("intensity_features", "feature_table"))
def intensity_summary(check, rng):
    # The IBSI digital phantom (3-D), turned and flipped at random: its statistics do not change.
    turns = int(rng.integers(4))
    axes = tuple(int(a) for a in rng.permutation(3))
    volume = np.rot90(_IBSI_PHANTOM.transpose(axes), turns, axes=(1, 2)).copy()
    mask = np.rot90(_IBSI_MASK.transpose(axes), turns, axes=(1, 2)).copy()
    expected, _ = _reference_summary(volume, mask)
    assert all(np.isclose(expected[k], v, rtol=5e-3) for k, v in _IBSI_PUBLISHED.items())
    try:
        found = check.call(volume, mask)
    except NotImplementedYet:
        raise
    except CheckFailed as failure:  # a crash on 3-D input gets its own hint
        if "raised an error" not in str(failure):
            raise
        error = str(failure).splitlines()[1].split("error:", 1)[-1].strip()
        check.fail("a 3-D volume (the IBSI digital phantom)", "a result", error,
                   "The task allows 2-D or 3-D images: select the values with image[mask], which works in any "
                   "dimension, instead of looping over rows and columns.")
    judge_summary(check, found, expected, where="IBSI digital phantom (3-D)",
                  hint="Use every voxel inside the mask, also for a 3-D volume (image[mask] works in any dimension).")
    # A random float image and a random 3-D float volume, with random masks.
    for shape in ((int(rng.integers(20, 50)), int(rng.integers(20, 50))),
                  (int(rng.integers(3, 8)), int(rng.integers(10, 20)), int(rng.integers(10, 20)))):
        image = rng.gamma(float(rng.uniform(1.5, 4)), float(rng.uniform(10, 50)), size=shape)
        mask = rng.random(shape) < rng.uniform(0.2, 0.6)
        expected, wrong = _reference_summary(image, mask)
        judge_summary(check, check.call(image, mask), expected, wrong=wrong,
                      where=f"random float image of shape {shape}")
    # The lungs of synthetic radiographs (unknown seeds), in uint8 and in 12-bit uint16.
    for dtype in ("uint8", "uint16"):
        radiograph = phantom.synthetic_radiograph(
            seed=int(rng.integers(1 << 30)), shape=(int(rng.integers(96, 160)), int(rng.integers(96, 160))),
            ctr=float(rng.uniform(0.38, 0.62)), exposure=float(rng.uniform(0.7, 1.4)), dtype=dtype,
        )
        lungs = radiograph.masks["lungs"]
        expected, wrong = _reference_summary(radiograph.image, lungs)
        judge_summary(check, check.call(radiograph.image, lungs), expected, wrong=wrong,
                      where=f"lungs of a synthetic {dtype} radiograph", hint=_overflow_hint(dtype))
