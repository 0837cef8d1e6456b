"""Lesson 3's exercises: correct answers in several styles pass the visible and hidden checks for
several course secrets; each typical mistake fails with a message that names it."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from skimage.measure import regionprops

from medprep_grader import hidden
from medprep_grader.secret import rng_for
from medprep_helpers import exercises, phantom, radiomics
from medprep_helpers.exercises import features as visible_module
from medprep_helpers.checks import Checker, LocalRunner, NotImplementedYet, check
from exercise_testing import SECRETS, WireRunner, fails, grade  # noqa: F401 (shared by the exercise tests)

LESSON = "03_features"


class AlwaysEqual(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class AlwaysEqualSeries(pd.Series):
    def equals(self, other):
        return True


# --------------------------------------------------------------------------- cardiothoracic_ratio


def _columns(mask):
    occupied = np.flatnonzero(np.asarray(mask, dtype=bool).any(axis=0))
    if occupied.size == 0:
        raise ValueError("mask is empty")
    return int(occupied[0]), int(occupied[-1])


def _ctr_from(columns_of):
    """A CTR answer built on a function that gives (first, last) columns of a boolean mask."""

    def answer(heart_mask, thorax_mask):
        ends = {}
        for name, mask in (("heart", heart_mask), ("thorax", thorax_mask)):
            mask = np.asarray(mask, dtype=bool)
            if not mask.any():
                raise ValueError(f"{name}_mask is empty")
            ends[name] = columns_of(mask)
        (h0, h1), (t0, t1) = ends["heart"], ends["thorax"]
        return {"heart_columns": ends["heart"], "thorax_columns": ends["thorax"], "ctr": (h1 - h0 + 1) / (t1 - t0 + 1)}

    return answer


def _loop_columns(mask):
    columns = [c for c in range(mask.shape[1]) if any(mask[r][c] for r in range(mask.shape[0]))]
    return columns[0], columns[-1]


def _regionprops_columns(mask):
    _, left, _, right = regionprops(mask.astype(np.uint8))[0].bbox
    return int(left), int(right) - 1  # bbox ends are exclusive


def _nonzero_columns(mask):
    cols = np.nonzero(mask)[1]
    return int(cols.min()), int(cols.max())


def _argmax_columns(mask):
    occupied = mask.any(axis=0)
    return int(np.argmax(occupied)), int(len(occupied) - 1 - np.argmax(occupied[::-1]))


def _with_lists(heart_mask, thorax_mask):
    """A correct answer that returns lists and numpy integers."""
    result = _ctr_from(_columns)(heart_mask, thorax_mask)
    heart = np.flatnonzero(np.asarray(heart_mask, bool).any(axis=0))
    return {**result, "heart_columns": [heart[0], heart[-1]], "ctr": np.float64(result["ctr"])}


CTR_CORRECT = {
    "numpy": _ctr_from(_columns),
    "loops": _ctr_from(_loop_columns),
    "regionprops": _ctr_from(_regionprops_columns),
    "nonzero": _ctr_from(_nonzero_columns),
    "argmax": _ctr_from(_argmax_columns),
    "lists and numpy ints": _with_lists,
}


def _ctr_variant(width_of, columns_of=_columns):
    """An answer with the right shape whose ratio comes from ``width_of(mask)`` (a typical mistake)."""

    def answer(heart_mask, thorax_mask):
        heart, thorax = np.asarray(heart_mask, bool), np.asarray(thorax_mask, bool)
        if not heart.any() or not thorax.any():
            raise ValueError("heart_mask or thorax_mask is empty")
        return {"heart_columns": columns_of(heart), "thorax_columns": columns_of(thorax),
                "ctr": width_of(heart) / width_of(thorax)}

    return answer


def _extent(mask):
    first, last = _columns(mask)
    return last - first + 1


def _widest_row(mask):
    return max(np.flatnonzero(row)[-1] - np.flatnonzero(row)[0] + 1 for row in mask if row.any())


def _rows(mask):
    rows = np.flatnonzero(mask.any(axis=1))
    return int(rows[0]), int(rows[-1])


def _swapped(heart_mask, thorax_mask):
    return _ctr_from(_columns)(thorax_mask, heart_mask)


def _integer_division(heart_mask, thorax_mask):
    result = _ctr_from(_columns)(heart_mask, thorax_mask)
    return {**result, "ctr": _extent(np.asarray(heart_mask, bool)) // _extent(np.asarray(thorax_mask, bool))}


def _boolean(heart_mask, thorax_mask):
    result = _ctr_from(_columns)(heart_mask, thorax_mask)
    return {**result, "ctr": result["ctr"] > 0.5}


def _no_value_error(heart_mask, thorax_mask):
    heart, thorax = np.asarray(heart_mask, bool), np.asarray(thorax_mask, bool)
    if not heart.any() or not thorax.any():
        return {"heart_columns": (0, 0), "thorax_columns": (0, 0), "ctr": float("nan")}
    return _ctr_from(_columns)(heart, thorax)


def _anonymous_value_error(heart_mask, thorax_mask):
    if not np.asarray(heart_mask, bool).any() or not np.asarray(thorax_mask, bool).any():
        raise ValueError("empty")
    return _ctr_from(_columns)(heart_mask, thorax_mask)


def _modifies(heart_mask, thorax_mask):
    heart_mask[0, 0] = True
    return _ctr_from(_columns)(heart_mask, thorax_mask)


def _no_asarray(heart_mask, thorax_mask):
    """Correct on arrays, crashes on nested lists (hidden case)."""
    return _ctr_from(lambda m: _columns(m))(heart_mask.astype(bool), thorax_mask.astype(bool))


def _hard_coded(heart_mask, thorax_mask):
    if not np.asarray(heart_mask).any():
        raise ValueError("heart_mask is empty")
    if not np.asarray(thorax_mask).any():
        raise ValueError("thorax_mask is empty")
    return {"heart_columns": (3, 8), "thorax_columns": (1, 12), "ctr": 0.5}


def _old_contract(heart_mask, thorax_mask):
    return _ctr_from(_columns)(heart_mask, thorax_mask)["ctr"]


def _hostile_float(heart_mask, thorax_mask):
    return AlwaysEqual(0.5)


def _hostile_in_dict(heart_mask, thorax_mask):
    return {"heart_columns": (3, 8), "thorax_columns": (1, 12), "ctr": AlwaysEqual(0.5)}


CTR_MISTAKES = {
    "swapped": (_swapped, "swapped the masks"),
    "widest row": (_ctr_variant(_widest_row), "widest single row"),
    "fullest row": (_ctr_variant(lambda m: m.sum(axis=1).max()), "fullest row"),
    "off by one": (_ctr_variant(lambda m: _extent(m) - 1), "Off by one"),
    "widest row off by one": (_ctr_variant(lambda m: _widest_row(m) - 1), "Widest single row and off by one"),
    "rows": (_ctr_variant(lambda m: _rows(m)[1] - _rows(m)[0] + 1, _rows), "measured rows"),
    "rows off by one": (_ctr_variant(lambda m: _rows(m)[1] - _rows(m)[0], _rows), "without the + 1"),
    "areas": (_ctr_variant(lambda m: m.sum()), "divided areas"),
    "occupied columns": (_ctr_variant(lambda m: m.any(axis=0).sum()), "including columns in between"),
    "rows as columns": (_ctr_variant(_extent, _rows), "These are rows"),
    "exclusive end": (_ctr_variant(_extent, lambda m: (_columns(m)[0], _columns(m)[1] + 1)), "one past the last"),
    "integer division": (_integer_division, "Integer division"),
    "boolean": (_boolean, "not a comparison with 0.5"),
    "no ValueError": (_no_value_error, "an empty heart_mask raises ValueError"),
    "anonymous ValueError": (_anonymous_value_error, "names it"),
    "modifies its input": (_modifies, "inputs must not be modified"),
    "no asarray (nested lists)": (_no_asarray, "'list' object has no attribute"),
    "hard-coded toy answer": (_hard_coded, "nested lists"),
    "old contract (a float)": (_old_contract, "type of the result"),
    "always-equal float": (_hostile_float, "type of the result"),
    "always-equal float in the dict": (_hostile_in_dict, "type of the result"),
}


def test_cardiothoracic_ratio_helper_answer_is_reported_by_name():
    """measure_ctr gives the ratio of the contract in one call: the grader names it to the instructor."""

    def with_helper(heart_mask, thorax_mask):
        result = _ctr_from(_columns)(heart_mask, thorax_mask)
        return {**result, "ctr": phantom.measure_ctr(heart_mask, thorax_mask)}

    grade("cardiothoracic_ratio", with_helper)  # it is correct...
    assert "measure_ctr" in hidden.get("cardiothoracic_ratio").helpers_that_answer  # ...and reported


# --------------------------------------------------------------------------- flag_implausible

MEASURED = ["ctr", "heart_width_mm", "thorax_width_mm"]


def _flags_pandas(table, low=0.3, high=0.7):
    return (table[MEASURED].isna().any(axis=1) | (table["heart_width_mm"] > table["thorax_width_mm"])
            | (table["ctr"] < low) | (table["ctr"] > high))


def _flags_between(table, low=0.3, high=0.7):
    # between() is False for NaN, so a missing ctr is flagged by the range test already.
    return (~table["ctr"].between(low, high) | table["heart_width_mm"].isna() | table["thorax_width_mm"].isna()
            | table["heart_width_mm"].gt(table["thorax_width_mm"]))


def _flags_loop(table, low=0.3, high=0.7):
    flags = []
    for _, row in table.iterrows():
        values = [row[c] for c in MEASURED]
        bad = any(pd.isna(v) for v in values) or row["heart_width_mm"] > row["thorax_width_mm"] \
            or not (low <= row["ctr"] <= high)
        flags.append(bool(bad))
    return pd.Series(flags, index=table.index)


def _flags_numpy(table, low=0.3, high=0.7):
    values = table[MEASURED].to_numpy(dtype=float)
    ctr, heart, thorax = values.T
    with np.errstate(invalid="ignore"):
        bad = np.isnan(values).any(axis=1) | (heart > thorax) | (ctr < low) | (ctr > high)
    return pd.Series(bad, index=table.index, name="implausible")


FLAG_CORRECT = {"pandas": _flags_pandas, "between": _flags_between, "loop": _flags_loop, "numpy": _flags_numpy}


def _flags_without(rule):
    def answer(table, low=0.3, high=0.7):
        parts = {"missing": table[MEASURED].isna().any(axis=1),
                 "wider": table["heart_width_mm"] > table["thorax_width_mm"],
                 "range": (table["ctr"] < low) | (table["ctr"] > high)}
        parts.pop(rule)
        return parts.popitem()[1] | parts.popitem()[1]

    return answer


FLAG_MISTAKES = {
    "returns the flagged rows": (lambda t, low=0.3, high=0.7: t[_flags_pandas(t, low, high)], "not a table"),
    "returns a list": (lambda t, low=0.3, high=0.7: _flags_pandas(t, low, high).tolist(), "expected: Series"),
    "adds the conditions with +": (lambda t, low=0.3, high=0.7: t[MEASURED].isna().sum(axis=1)
                                   + (t["heart_width_mm"] > t["thorax_width_mm"]), "combine them with |"),
    "resets the index": (lambda t, low=0.3, high=0.7: _flags_pandas(t, low, high).reset_index(drop=True),
                         "same index as the table"),
    "misses NaN": (_flags_without("missing"), "slips through every range check"),
    "NaN in any column": (lambda t, low=0.3, high=0.7: _flags_pandas(t, low, high) | t.isna().any(axis=1),
                          "missing values in other columns do not count"),
    "no width rule": (_flags_without("wider"), "a heart wider than the thorax is flagged"),
    "no range rule": (_flags_without("range"), "CTR outside [low, high] is flagged"),
    "inclusive bounds": (lambda t, low=0.3, high=0.7: t[MEASURED].isna().any(axis=1)
                         | (t["heart_width_mm"] > t["thorax_width_mm"]) | (t["ctr"] <= low) | (t["ctr"] >= high),
                         "strict comparisons"),
    "fixed bounds": (lambda t, low=0.3, high=0.7: _flags_pandas(t), "Use the low and high arguments"),
    "modifies the table": (lambda t, low=0.3, high=0.7: t.insert(0, "flag", _flags_pandas(t, low, high))
                           or t["flag"], "inputs must not be modified"),
    "always-equal Series": (lambda t, low=0.3, high=0.7: AlwaysEqualSeries(_flags_pandas(t, low, high)),
                            "type of the result"),
}


@pytest.mark.parametrize("secret", SECRETS)
def test_flag_implausible_fixed_bounds_are_caught_for_every_secret(secret):
    fails("flag_implausible", FLAG_MISTAKES["fixed bounds"][0], "Use the low and high arguments", secret)


# --------------------------------------------------------------------------- intensity_summary

KEYS = ["mean", "variance", "skewness", "excess_kurtosis"]


def _summary_numpy(image, mask):
    values = np.asarray(image)[np.asarray(mask, dtype=bool)].astype(np.float64)
    deviations = values - values.mean()
    variance = np.mean(deviations**2)
    return {"mean": float(values.mean()), "variance": float(variance),
            "skewness": float(np.mean(deviations**3) / variance**1.5),
            "excess_kurtosis": float(np.mean(deviations**4) / variance**2 - 3)}


def _summary_scipy(image, mask):
    values = image[mask]
    return {"mean": np.mean(values), "variance": np.var(values), "skewness": stats.skew(values),
            "excess_kurtosis": stats.kurtosis(values)}


def _summary_python(image, mask):
    values = [float(v) for v in np.asarray(image)[mask].tolist()]
    n = len(values)
    mean = sum(values) / n
    m2, m3, m4 = (sum((v - mean) ** k for v in values) / n for k in (2, 3, 4))
    return {"mean": mean, "variance": m2, "skewness": m3 / m2**1.5, "excess_kurtosis": m4 / m2**2 - 3}


def _summary_pandas(image, mask):
    values = pd.Series(image[mask], dtype=float)
    n = len(values)
    centred = values - values.mean()
    return {"mean": values.mean(), "variance": values.var(ddof=0),
            "skewness": (centred**3).mean() / values.var(ddof=0) ** 1.5,
            "excess_kurtosis": (centred**4).sum() / n / values.var(ddof=0) ** 2 - 3}


SUMMARY_CORRECT = {"numpy": _summary_numpy, "scipy": _summary_scipy, "python": _summary_python,
                   "pandas": _summary_pandas}


def _summary_with(**changes):
    def answer(image, mask):
        values = np.asarray(image)[mask].astype(float)
        result = _summary_scipy(values, np.ones(values.shape, bool))
        result.update({k: f(image, mask, values) for k, f in changes.items()})
        return result

    return answer


def _uint_overflow(image, mask):
    values = image[mask]  # keeps the image's dtype: squaring wraps around
    mean = values.mean()
    variance = np.mean(values**2) - mean**2
    return {**_summary_scipy(image, mask), "variance": float(variance)}


def _rows_and_columns(image, mask):
    values = [image[r, c] for r in range(image.shape[0]) for c in range(image.shape[1]) if mask[r, c]]
    return _summary_scipy(np.array(values, dtype=float), np.ones(len(values), bool))


SUMMARY_MISTAKES = {
    "whole image": (_summary_with(mean=lambda i, m, v: float(np.mean(i))), "averaged the whole image"),
    "multiplied by the mask": (_summary_with(mean=lambda i, m, v: float(np.mean(i * m))), "Multiplying by the mask"),
    "sample variance": (_summary_with(variance=lambda i, m, v: float(np.var(v, ddof=1))), "sample variance"),
    "standard deviation": (_summary_with(variance=lambda i, m, v: float(np.std(v))), "standard deviation"),
    "pandas skew": (_summary_with(skewness=lambda i, m, v: float(pd.Series(v).skew())), "correct for small samples"),
    "kurtosis without -3": (_summary_with(excess_kurtosis=lambda i, m, v: float(stats.kurtosis(v, fisher=False))),
                            "Subtract 3"),
    "pandas kurt": (_summary_with(excess_kurtosis=lambda i, m, v: float(pd.Series(v).kurt())),
                    "kurtosis(bias=False)"),
    "uint8 overflow": (_uint_overflow, "uint8 arithmetic wraps around"),
    "2-D loops only": (_rows_and_columns, "works in any dimension"),
    "the radiomics helper as it is": (lambda image, mask: radiomics.intensity_features(image, mask),
                                      "exactly the four keys"),
    "always-equal floats": (lambda image, mask: {k: AlwaysEqual(1.0) for k in KEYS}, "type of the result"),
    "a tuple": (lambda image, mask: tuple(_summary_numpy(image, mask).values()), "expected: dict"),
}


def test_uint16_overflow_is_caught_by_a_hidden_case():
    def uint16_overflow(image, mask):
        return _uint_overflow(image, mask) if image.dtype == np.uint16 else _summary_numpy(image, mask)

    fails("intensity_summary", uint16_overflow, "uint16 arithmetic wraps around")


def test_intensity_summary_helper_answer_is_reported_by_name():
    def with_helper(image, mask):
        features = radiomics.intensity_features(image, mask)
        return {key: features[key] for key in KEYS}

    grade("intensity_summary", with_helper)  # correct...
    assert "intensity_features" in hidden.get("intensity_summary").helpers_that_answer  # ...and reported


# --------------------------------------------------------------------------- every exercise

CORRECT = {"cardiothoracic_ratio": CTR_CORRECT, "flag_implausible": FLAG_CORRECT, "intensity_summary": SUMMARY_CORRECT}
MISTAKES = {"cardiothoracic_ratio": CTR_MISTAKES, "flag_implausible": FLAG_MISTAKES,
            "intensity_summary": SUMMARY_MISTAKES}


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("name, style", [(name, style) for name, styles in CORRECT.items() for style in styles])
def test_correct_styles_pass_visible_and_hidden_checks(name, style, secret):
    grade(name, CORRECT[name][style], secret)


@pytest.mark.parametrize("name, mistake", [(name, mistake) for name, found in MISTAKES.items() for mistake in found])
def test_typical_mistakes_fail_with_a_message_naming_them(name, mistake):
    answer, phrase = MISTAKES[name][mistake]
    fails(name, answer, phrase)


# --------------------------------------------------------------------------- the lesson as a whole


def test_docstring_examples_hold():
    assert doctest.testmod(visible_module).failed == 0


def test_unanswered_exercises_say_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for item in exercises.for_lesson(LESSON):
        with pytest.raises(NotImplementedYet):
            check(item.name, stub)


def test_hidden_cases_depend_on_the_secret():
    """Two secrets draw different inputs: a hard-coded answer cannot follow them."""
    seen = {}
    for secret in SECRETS[:2]:
        calls = []

        def record(*args, **kwargs):
            calls.append(args)
            return _flags_pandas(*args, **kwargs)

        hidden.get("flag_implausible").run(Checker("flag_implausible", LocalRunner(record), kind="hidden"),
                                           rng_for("flag_implausible", secret))
        seen[secret] = calls[0][0]
    first, second = seen.values()
    assert not first.index.equals(second.index)


def test_solution_notebook_has_one_line_check_cells_for_every_exercise():
    path = Path(__file__).resolve().parents[1] / "solutions" / LESSON / f"{LESSON}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    checks = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and str(meta.get("grade_id", "")).endswith("_checks"):
            checks[meta["grade_id"][: -len("_checks")]] = "".join(cell["source"]).strip()
    names = [item.name for item in exercises.for_lesson(LESSON)]
    assert sorted(checks) == sorted(names)
    for name in names:
        assert checks[name] == f'check("{name}", {name})'
    assert not any("BEGIN HIDDEN TESTS" in "".join(c["source"]) for c in cells)
