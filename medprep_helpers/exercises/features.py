"""Visible checks of lesson 3, Features from images (the cases each task states).

Every expected value here is a literal worked out by hand for the toy inputs of the task text
(the instructor's reference implementations live in ``medprep_grader``). Each ``judge_*``
function judges one result and names the typical mistakes; the hidden checks call the same
judges with expected values computed from secret-random inputs, so a mistake gets the same
message in both.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..checks import CheckFailed, NotImplementedYet
from . import exercise

LESSON = "03_features"

# --------------------------------------------------------------------------- cardiothoracic_ratio

CTR_KEYS = ("heart_columns", "thorax_columns", "ctr")

#: Typical wrong ways to measure a CTR, and what to tell a learner whose result matches one.
CTR_MISTAKES = {
    "swapped": "You swapped the masks: the heart goes in the numerator (heart / thorax).",
    "widest_row": "You measured the widest single row of each mask. The transverse diameter spans the whole mask: its "
                  "two ends may lie on different rows.",
    "fullest_row": "You counted the True pixels of the fullest row. Count columns from the leftmost to the rightmost "
                   "True pixel of the whole mask instead.",
    "off_by_one": "Off by one: an extent from column a to column b holds b - a + 1 columns (both ends included).",
    "widest_row_off_by_one": "Widest single row and off by one: use the whole mask, and count b - a + 1 columns.",
    "rows": "You measured rows (the vertical extent): the CTR compares widths, i.e. columns (axis 1).",
    "rows_off_by_one": "You measured rows (vertical extent) instead of columns, and without the + 1.",
    "areas": "You divided areas (pixel counts). The CTR is a ratio of widths: count columns, not pixels.",
    "occupied_columns": "You counted only the columns that contain heart pixels. The extent runs from the leftmost to the "
                        "rightmost column, including columns in between that happen to be empty.",
}


def _column_pair(value):
    """``(first, last)`` as two Python ints when ``value`` is a pair of integers, else None."""
    if isinstance(value, np.ndarray):
        if value.shape != (2,) or value.dtype.kind not in "iu":
            return None
        return int(value[0]), int(value[1])
    if type(value) in (tuple, list) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        return int(value[0]), int(value[1])
    return None


def judge_ctr(check, found, heart_columns, thorax_columns, wrong=None, rows=None, where="toy masks"):
    """The checks of one cardiothoracic_ratio result; shared by the visible and the hidden cases.

    Parameters
    ----------
    heart_columns, thorax_columns : (int, int)
        The expected first and last column of each mask.
    wrong : dict, optional
        ``{mistake: the CTR that mistake gives on these masks}`` for keys of :data:`CTR_MISTAKES`.
    rows : dict, optional
        ``{"heart_columns": (first, last), "thorax_columns": ...}`` as *rows*: a result that
        matches them measured the wrong axis.

    Examples
    --------
    >>> from medprep_helpers.checks import Checker
    >>> check = Checker("cardiothoracic_ratio")
    >>> judge_ctr(check, {"heart_columns": (3, 8), "thorax_columns": (1, 12), "ctr": 5 / 11}, (3, 8), (1, 12),
    ...           wrong={"off_by_one": 5 / 11})
    Traceback (most recent call last):
    ...
    medprep_helpers.checks.CheckFailed: cardiothoracic_ratio: CTR of the toy masks
      expected: 0.5
      found:    0.454545
      hint:     Off by one: an extent from column a to column b holds b - a + 1 columns (both ends
                included).
    """
    example = "{'heart_columns': (3, 8), 'thorax_columns': (1, 12), 'ctr': 0.5}"
    check.type_is(found, dict, hint=f"Return a dict with three keys, e.g. {example}.")
    check.that(set(found) == set(CTR_KEYS), f"the keys of the dict ({where})", list(CTR_KEYS), sorted(found, key=str),
               "Use exactly these three key names.")
    ctr = found["ctr"]
    if isinstance(ctr, np.ndarray):
        check.fail(f"the ctr is a single number ({where})", "a float", f"an array of shape {ctr.shape}",
                   "Return one number for the pair of masks, e.g. float(heart_extent / thorax_extent).")
    check.that(not isinstance(ctr, (bool, np.bool_)), f"the ctr is a number, not a boolean ({where})", "a float",
               repr(ctr), "Return the ratio itself, not a comparison with 0.5.")
    expected_ctr = (heart_columns[1] - heart_columns[0] + 1) / (thorax_columns[1] - thorax_columns[0] + 1)
    if isinstance(ctr, (int, np.integer)):
        check.fail(f"the ctr is a float, not an integer ({where})", expected_ctr, ctr,
                   "Integer division (//) or int() throws the fraction away: divide with / and return a float.")
    check.that(isinstance(ctr, (float, np.floating)), f"the ctr is a float ({where})", "a float", type(ctr).__name__,
               "Return float(ratio).")
    for mistake, value in (wrong or {}).items():
        if not np.isclose(value, expected_ctr) and np.isclose(ctr, value):
            check.fail(f"CTR of the {where}", expected_ctr, float(ctr), CTR_MISTAKES[mistake])
    check.close(float(ctr), expected_ctr, f"CTR of the {where}")
    for key, expected in (("heart_columns", heart_columns), ("thorax_columns", thorax_columns)):
        pair = _column_pair(found[key])
        check.that(pair is not None, f"{key} is a pair of column numbers ({where})", "(first, last), two integers",
                   found[key], "Return the two column indices as a tuple of ints, e.g. (int(first), int(last)).")
        if pair == (expected[0], expected[1] + 1):
            check.fail(f"{key} of the {where}", tuple(expected), pair,
                       "The second number is one past the last column (an exclusive end, like a Python slice or "
                       "regionprops' bbox). Return the last column that holds a True pixel.")
        if rows and pair == tuple(rows[key]) and tuple(rows[key]) != tuple(expected):
            check.fail(f"{key} of the {where}", tuple(expected), pair,
                       "These are rows (axis 0). Widths are measured across columns (axis 1).")
        check.that(pair == tuple(expected), f"{key} of the {where}", tuple(expected), pair,
                   "The first and last column (0-based) that hold a True pixel anywhere in the mask.")


def _raised(check, args, expected_error):
    """The text of the error the learner's function raised for ``args`` (None when it returned normally).

    Only an error of type ``expected_error`` counts; any other crash fails with the usual message.
    """
    try:
        check.call(*args)
    except NotImplementedYet:
        raise
    except CheckFailed as failure:
        match = re.search(r"error:\s+(\w+): ?(.*)", str(failure))
        if match and match.group(1) == expected_error:
            return match.group(2)
        raise
    return None


# The toy masks of the task text (9 x 14): see its drawing.
_TOY_THORAX = np.zeros((9, 14), dtype=bool)
_TOY_THORAX[1, 1:11] = True
_TOY_THORAX[2:7, 2:12] = True
_TOY_THORAX[7, 3:13] = True
_TOY_HEART = np.zeros((9, 14), dtype=bool)
_TOY_HEART[3, 3:6] = True
_TOY_HEART[4, [5, 6, 8]] = True
_TOY_CTR_WRONG = {  # the CTR each mistake gives on the toy masks, worked out by hand
    "swapped": 12 / 6, "widest_row": 4 / 10, "fullest_row": 3 / 10, "off_by_one": 5 / 11,
    "widest_row_off_by_one": 3 / 9, "rows": 2 / 7, "rows_off_by_one": 1 / 6, "areas": 6 / 70,
    "occupied_columns": 5 / 12,
}
_TOY_ROWS = {"heart_columns": (3, 4), "thorax_columns": (1, 7)}


@exercise("cardiothoracic_ratio", LESSON)
def cardiothoracic_ratio(check):
    heart, thorax = _TOY_HEART.copy(), _TOY_THORAX.copy()
    found = check.call(heart, thorax)
    judge_ctr(check, found, (3, 8), (1, 12), wrong=_TOY_CTR_WRONG, rows=_TOY_ROWS, where="toy masks")
    found = check.call(heart.astype(int), thorax.astype(np.uint8))
    judge_ctr(check, found, (3, 8), (1, 12), where="toy masks as 0/1 integers")
    for which, args in (("heart_mask", (np.zeros_like(heart), thorax)),
                        ("thorax_mask", (heart, np.zeros_like(thorax)))):
        message = _raised(check, args, "ValueError")
        check.that(message is not None, f"an empty {which} raises ValueError", "ValueError", "a result",
                   f'Check that {which} has at least one True pixel and raise ValueError("{which} is empty") if not.')
        part = which.split("_")[0]
        check.that(part in message.lower(), f"the ValueError for an empty {which} names it",
                   f"a message that contains {part!r}", repr(message),
                   f'Say which mask is empty, e.g. raise ValueError("{which} is empty").')


# --------------------------------------------------------------------------- flag_implausible

#: Typical wrong flags, and what to tell a learner whose result matches one.
FLAG_MISTAKES = {
    "fixed_bounds": "Use the low and high arguments instead of fixed numbers.",
}


def judge_flags(check, found, expected, roles, wrong=None, where="toy table"):
    """The checks of one flag_implausible result; shared by the visible and the hidden cases.

    Parameters
    ----------
    expected : pandas.Series
        The expected flags (bool), with the table's index.
    roles : dict
        Index labels by the rule they test: ``"missing"`` (a NaN in ctr or a width: flagged),
        ``"other_missing"`` (a NaN elsewhere only: not flagged), ``"wider"`` (heart wider than the
        thorax: flagged), ``"out_of_range"`` (flagged), ``"at_bounds"`` (ctr equal to low or high:
        not flagged). A role without rows is not checked.
    wrong : dict, optional
        ``{mistake: the flags that mistake gives}`` for keys of :data:`FLAG_MISTAKES`.

    Examples
    --------
    >>> from medprep_helpers.checks import Checker
    >>> check = Checker("flag_implausible")
    >>> expected = pd.Series([False, True], index=["a", "b"])
    >>> judge_flags(check, expected.copy(), expected, {"out_of_range": ["b"], "at_bounds": ["a"]})
    >>> check.passed
    6
    """
    if type(found) is pd.DataFrame:
        check.fail(f"a boolean Series, not a table ({where})", "pandas Series of True/False", "a DataFrame",
                   "Return the flags themselves (one True/False per row); table[flags] then gives the flagged rows.")
    check.type_is(found, pd.Series, hint="Return a pandas Series aligned with the table: combining the table's "
                  "boolean columns with | (or) gives one, e.g. missing | wider | out_of_range.")
    check.that(found.dtype == bool, f"the values are booleans ({where})", "dtype bool", str(found.dtype),
               "Comparisons (<, >) and .isna() give booleans; combine them with |, not with +.")
    check.that(found.index.equals(expected.index), f"same index as the table ({where})", list(expected.index),
               list(found.index), "Keep the table's index: do not reset_index() or build a new Series from a list.")

    def rule(role, flagged, concept, hint):
        labels = list(roles.get(role, []))
        if labels:
            got = found.loc[labels].tolist()
            check.that(all(got) if flagged else not any(got), f"{concept} ({where})",
                       f"{labels} {'flagged' if flagged else 'not flagged'}", dict(zip(labels, got)), hint)

    rule("missing", True, "rows with a missing ctr or width are flagged", "Any comparison with NaN is False, so a "
         "missing value slips through every range check. Test for it explicitly with .isna().")
    rule("other_missing", False, "missing values in other columns do not count",
         "Look for NaN only in ctr, heart_width_mm and thorax_width_mm.")
    rule("wider", True, "a heart wider than the thorax is flagged",
         "Compare the two width columns, not only the CTR: they can disagree.")
    for mistake, flags in (wrong or {}).items():
        if not flags.equals(expected) and found.equals(flags):
            check.fail(f"flags of the {where}", expected.tolist(), found.tolist(), FLAG_MISTAKES[mistake])
    rule("out_of_range", True, "CTR outside [low, high] is flagged", "Flag ctr < low or ctr > high.")
    rule("at_bounds", False, "the bounds themselves are plausible", "Use strict comparisons: ctr < low, ctr > high.")
    check.that(found.equals(expected), f"flags of the {where}", expected.tolist(), found.tolist(),
               "Flag exactly the rows that fail one of the three rules of the task.")


def _toy_table():
    return pd.DataFrame(
        {
            "ctr":             [0.45, 0.62, np.nan, 0.50, 0.20, 0.95, 0.30, 0.70, 0.48, 0.52],
            "heart_width_mm":  [120., 170., 130., 300., 60., 250., 85., 200., np.nan, 140.],
            "thorax_width_mm": [267., 274., 280., 250., 300., 263., 283., 286., 270., 269.],
            "age":             [34, 71, 50, 66, 45, 80, 29, 75, 58, np.nan],
        },
        index=pd.Index([f"s{i:02d}" for i in range(1, 11)], name="subject_id"),
    )


@exercise("flag_implausible", LESSON)
def flag_implausible(check):
    toy = _toy_table()
    found = check.call(toy)
    expected = pd.Series([False, False, True, True, True, True, False, False, True, False], index=toy.index)
    roles = {"missing": ["s03", "s09"], "other_missing": ["s10"], "wider": ["s04"],
             "out_of_range": ["s05", "s06"], "at_bounds": ["s07", "s08"]}
    judge_flags(check, found, expected, roles, where="toy table")


# --------------------------------------------------------------------------- intensity_summary

SUMMARY_KEYS = ("mean", "variance", "skewness", "excess_kurtosis")

#: Typical wrong statistics: (key, what to tell a learner whose value matches the mistake).
SUMMARY_MISTAKES = {
    "whole_image_mean": ("mean", "You averaged the whole image: select the values inside the mask first, "
                                 "values = image[mask]."),
    "masked_product_mean": ("mean", "Multiplying by the mask sets the outside pixels to 0, but they still count in "
                                    "the average: select the values with image[mask] instead."),
    "sample_variance": ("variance", "That is the sample variance (divides by N - 1). IBSI uses the population "
                                    "variance: np.var(values) with the default ddof=0."),
    "standard_deviation": ("variance", "You returned the standard deviation: square it."),
    "corrected_skewness": ("skewness", "pandas' .skew() and scipy.stats.skew(bias=False) correct for small samples; "
                                       "IBSI does not: use scipy.stats.skew(values) (bias=True is the default) or "
                                       "the formula."),
    "plain_kurtosis": ("excess_kurtosis", "Subtract 3: excess kurtosis is 0 for a normal distribution (scipy: "
                                          "fisher=True, the default)."),
    "corrected_kurtosis": ("excess_kurtosis", "pandas' .kurt() and scipy.stats.kurtosis(bias=False) correct for "
                                              "small samples; IBSI does not."),
}


def judge_summary(check, found, expected, wrong=None, where="toy image", hint="", rtol=1e-6):
    """The checks of one intensity_summary result; shared by the visible and the hidden cases.

    Parameters
    ----------
    expected : dict
        The four statistics.
    wrong : dict, optional
        ``{mistake: the value that mistake gives}`` for keys of :data:`SUMMARY_MISTAKES`.
    hint : str
        Shown when a statistic is wrong and no named mistake matches it.

    Examples
    --------
    >>> from medprep_helpers.checks import Checker
    >>> check = Checker("intensity_summary")
    >>> expected = {"mean": 2.0, "variance": 0.5, "skewness": 0.0, "excess_kurtosis": -1.5}
    >>> judge_summary(check, {**expected, "variance": 0.7}, expected, wrong={"sample_variance": 0.7})
    Traceback (most recent call last):
    ...
    medprep_helpers.checks.CheckFailed: intensity_summary: variance inside the mask (toy image)
      expected: 0.5
      found:    0.7
      hint:     That is the sample variance (divides by N - 1). IBSI uses the population variance:
                np.var(values) with the default ddof=0.
    """
    check.type_is(found, dict, hint="Return a dict such as {'mean': ..., 'variance': ..., ...}.")
    check.that(set(found) == set(SUMMARY_KEYS), f"exactly the four keys ({where})", list(SUMMARY_KEYS),
               sorted(found, key=str), "Use exactly these key names, and no others.")
    for key in SUMMARY_KEYS:
        value = found[key]
        ok = isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))
        check.that(ok and np.isfinite(float(value)), f"{key} is one finite number ({where})", "a float", value,
                   "Each value should be a single number, e.g. float(...).")
    values = {key: float(found[key]) for key in SUMMARY_KEYS}
    for key in SUMMARY_KEYS:
        for mistake, wrong_value in (wrong or {}).items():
            mistake_key, mistake_hint = SUMMARY_MISTAKES[mistake]
            if (mistake_key == key and not np.isclose(wrong_value, expected[key], rtol=rtol)
                    and np.isclose(values[key], wrong_value, rtol=rtol)):
                check.fail(f"{key} inside the mask ({where})", expected[key], values[key], mistake_hint)
        check.close(values[key], expected[key], f"{key} inside the mask ({where})", hint=hint, rtol=rtol)


# The toy image of the task text: inside the mask 10, 20, ..., 80 and 250; outside 200s.
_TOY_IMAGE = np.array([[10, 20, 30, 200], [40, 50, 60, 200], [70, 80, 250, 200]], dtype=np.float64)
_TOY_MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0]], dtype=bool)
# IBSI statistics of the nine values inside, and what each mistake gives (worked out once, kept as literals).
_TOY_SUMMARY = {"mean": 67.77777777777777, "variance": 4617.283950617285, "skewness": 2.0076799232955946,
                "excess_kurtosis": 2.845930109525579}
_TOY_SUMMARY_WRONG = {
    "whole_image_mean": 100.83333333333333, "masked_product_mean": 50.833333333333336,
    "sample_variance": 5194.444444444445, "standard_deviation": 67.95059933964737,
    "corrected_skewness": 2.4336755797961187, "plain_kurtosis": 5.845930109525579,
    "corrected_kurtosis": 6.563676399096341,
}
_UINT8_HINT = ("uint8 arithmetic wraps around above 255 (250**2 is not 62500 in uint8): convert the values to float "
               "first, e.g. image[mask].astype(float).")


@exercise("intensity_summary", LESSON)
def intensity_summary(check):
    found = check.call(_TOY_IMAGE.copy(), _TOY_MASK.copy())
    judge_summary(check, found, _TOY_SUMMARY, wrong=_TOY_SUMMARY_WRONG, where="toy image")
    found = check.call(_TOY_IMAGE.astype(np.uint8), _TOY_MASK.copy())
    judge_summary(check, found, _TOY_SUMMARY, where="the toy image as uint8", hint=_UINT8_HINT)
