"""Visible checks of lesson 4, Harmonize (the cases each task states).

The expected values are literals computed once by the course authors; no reference solution
lives here. The ``judge_*`` functions hold the messages (what was checked, the typical mistake
a wrong value points to, a hint) and are shared with the hidden checks, which pass values
computed on inputs drawn at grading time.

Examples
--------
>>> train, train_sites, test, test_sites, train_age, test_age = toy_split()
>>> train.shape, test.shape, sorted(set(train_sites))
((18, 2), (6, 2), ['a', 'b', 'c'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import CheckFailed
from . import exercise

LESSON = "04_harmonize"

# --------------------------------------------------------------------------- site_effect_size

#: Typical wrong answers for eta squared: key -> (what the learner returned, hint).
ETA_MISTAKES = {
    "one_minus": ("1 - eta squared (within over total)",
                  "You divided the WITHIN-site sum of squares by the total: that is the share NOT explained by the "
                  "site."),
    "ratio": ("between over within (a ratio)",
              "Divide the between-site sum of squares by the TOTAL sum of squares, not by the within-site one."),
    "f_statistic": ("the F statistic",
                    "That is the F statistic of the ANOVA. Eta squared is SS_between / SS_total; from F it is "
                    "F (k - 1) / (F (k - 1) + n - k) for k sites and n rows."),
    "p_value": ("the p-value of the ANOVA",
                "That is the p-value of f_oneway. It depends on the number of subjects; eta squared is an effect "
                "size."),
    "unweighted": ("unweighted group means",
                   "Weight each site's squared deviation by its number of subjects n_g: "
                   "sum(n_g * (mean_g - grand)**2)."),
    "spread_of_means": ("the spread of the site means",
                        "The variance of the site means ignores the site sizes: weight each site by n_g."),
    "spread_of_means_ddof1": ("the spread of the site means (sample variances)",
                              "The variance of the site means ignores the site sizes: weight each site by n_g."),
    "mean_of_means": ("the mean of the site means as grand mean",
                      "The grand mean is the mean of all rows kept, not the mean of the site means."),
    "omega_squared": ("omega squared",
                      "That is omega squared, a bias-corrected variant. The task asks for plain eta squared."),
    "epsilon_squared": ("epsilon squared (adjusted eta squared)",
                        "That is the adjusted eta squared (epsilon squared). The task asks for plain eta squared."),
}

# The toy of the task: sites a (1, 2, 3), b (6, 9), c (4). SS_between = 36.333, SS_total = 42.833.
_TOY_ETA = 0.8482490272373541
_TOY_MISTAKES = {
    "one_minus": 0.1517509727626459,
    "ratio": 5.58974358974359,
    "f_statistic": 8.384615384615385,
    "p_value": 0.05911493624561234,
    "unweighted": 0.3696498054474708,
    "spread_of_means": 0.7237354085603113,
    "spread_of_means_ddof1": 0.9046692607003891,
    "mean_of_means": 0.8638132295719844,
    "omega_squared": 0.7111111111111111,
    "epsilon_squared": 0.7470817120622568,
}


def call_noting_input(check, note, *args, **kwargs):
    """``check.call(...)``; when the learner's function crashes, the message also says what the input was."""
    try:
        return check.call(*args, **kwargs)
    except CheckFailed as error:
        if "raised an error" not in str(error):
            raise
        raise CheckFailed(f"{error}\n  input:    {note}") from None


def judge_eta(check, found, expected, mistakes, where, missing=False, hint=""):
    """The checks of one site_effect_size result; shared by the visible and the hidden cases.

    ``mistakes`` maps keys of :data:`ETA_MISTAKES` to the value each wrong variant gives on this
    input; ``missing`` says the input had rows with a missing value (which must be left out).
    """
    check.type_is(found, (float, np.floating), f"a single float ({where})",
                  "Return one number, e.g. float(between / total), not a Series, an array or a tuple.")
    found = float(found)
    check.that(not np.isnan(found), f"a number, not nan ({where})", expected, found,
               "nan usually means missing values reached a numpy sum: drop the rows with a missing value first.")
    for key, value in mistakes.items():
        name, mistake_hint = ETA_MISTAKES[key]
        if not np.isclose(value, expected, rtol=1e-6) and np.isclose(found, value, rtol=1e-6):
            check.fail(f"eta squared ({where}): you returned {name}", expected, found, mistake_hint)
    if missing and not np.isclose(found, expected, rtol=1e-6):
        check.fail(f"rows with a missing value are dropped ({where})", expected, found,
                   "A row with a value but no site (or a site but no value) must not enter the grand mean or the "
                   "total: keep only the rows where both columns are present, e.g. df[[feature, site_col]].dropna().")
    check.close(found, expected, f"eta squared ({where})", hint, rtol=1e-6)


@exercise("site_effect_size", LESSON)
def site_effect_size(check):
    toy = pd.DataFrame({"site": ["a", "a", "a", "b", "b", "c"], "value": [1.0, 2.0, 3.0, 6.0, 9.0, 4.0]})
    found = check.call(toy, "value")
    judge_eta(check, found, _TOY_ETA, _TOY_MISTAKES, "toy: 3 sites of 3, 2 and 1 rows")

    gappy = pd.DataFrame({"site": ["a", "a", "a", "b", "b", "c", None, "b"],
                          "value": [1.0, 2.0, 3.0, 6.0, 9.0, 4.0, 100.0, np.nan]})
    found = call_noting_input(check, "the toy table plus a row without a site (None) and a row without a value "
                              "(NaN): drop such rows first, e.g. df[[feature, site_col]].dropna()", gappy, "value")
    judge_eta(check, found, _TOY_ETA, _TOY_MISTAKES, "toy with a missing site and a missing value", missing=True)


# --------------------------------------------------------------------------- harmonize_train_test


def toy_split():
    """The toy of harmonize_train_test's visible check.

    Two features (``width`` with an age effect, ``texture``) of 18 training rows (index 0..17)
    and 6 test rows (index 100..105) from sites ``a``, ``b``, ``c``, each with its own shift;
    site ``b`` is also noisier.

    Returns
    -------
    tuple
        ``(train_features, train_sites, test_features, test_sites, train_covariates, test_covariates)``,
        the order of harmonize_train_test's parameters; the covariates are a one-column DataFrame ``age``.
    """
    train_index, test_index = pd.RangeIndex(0, 18), pd.RangeIndex(100, 106)
    train = pd.DataFrame({
        "width": [113.6, 134.6, 106.4, 109.7, 123.9, 112.1, 106.3, 135.3, 105.4,
                  113.3, 126.3, 101.3, 107.4, 128.1, 103.0, 114.3, 141.1, 108.8],
        "texture": [10.0, 14.8, 7.4, 9.9, 13.2, 8.1, 8.8, 13.2, 9.4, 8.5, 14.7, 8.1, 9.4, 17.0, 8.8, 8.8, 13.1, 8.6],
    }, index=train_index)
    train_age = pd.DataFrame({"age": [58, 74, 67, 34, 38, 72, 20, 69, 68, 48, 38, 37, 35, 47, 50, 53, 80, 68]},
                             index=train_index)
    test = pd.DataFrame({"width": [109.1, 134.8, 103.2, 121.3, 130.3, 106.4],
                         "texture": [10.9, 15.3, 6.7, 9.2, 14.3, 6.0]}, index=test_index)
    test_age = pd.DataFrame({"age": [29, 69, 43, 79, 55, 56]}, index=test_index)
    train_sites = pd.Series(["a", "b", "c"] * 6, index=train_index, name="site")
    test_sites = pd.Series(["a", "b", "c"] * 2, index=test_index, name="site")
    return train, train_sites, test, test_sites, train_age, test_age


# ComBat() fitted on the toy's training rows with age, applied to both (computed once by the course authors).
_TOY_TRAIN_HARMONIZED = [
    [115.3909963, 11.68890281], [120.9167978, 10.84746526], [118.5130479, 9.499946347],
    [112.2748396, 11.48574256], [110.3293086, 9.811730832], [123.8599979, 10.28844611],
    [109.0267425, 10.01375065], [121.1575755, 9.721086408], [117.6187227, 11.73684423],
    [115.7772192, 9.70937823], [112.2080006, 10.88141732], [113.1342033, 10.2464047],
    [109.2738263, 10.83912239], [114.1699331, 12.49528715], [114.9970477, 11.04451393],
    [116.6648084, 10.11443639], [126.3735309, 9.617609824], [120.738644, 10.84256555],
]
_TOY_TEST_HARMONIZED = [
    [111.8958154, 12.76982964], [120.7661813, 11.2186475], [115.0174812, 8.68862411],
    [123.5688144, 10.71350156], [116.3835461, 10.54645936], [118.2567616, 7.921745644],
]
# The same without the age covariate (the typical mistake "covariates ignored").
_TOY_TEST_WITHOUT_COVARIATES = [
    [114.4606734, 12.8586521], [117.7811957, 11.3834723], [112.8417497, 8.441909526],
    [131.2377464, 10.481812], [114.8655973, 10.73758197], [116.768405, 7.559315065],
]


def judge_split(check, result, train_features, test_features, where):
    """Shape of a harmonize_train_test result: two DataFrames with the rows and columns of the two inputs."""
    check.that(type(result) in (tuple, list) and len(result) == 2, f"two results ({where})",
               "a tuple (train_harmonized, test_harmonized)",
               f"a {type(result).__name__}" + (f" of length {len(result)}" if type(result) in (tuple, list) else ""),
               "End with `return train_harmonized, test_harmonized`.")
    for part, given, label in [(result[0], train_features, "training"), (result[1], test_features, "test")]:
        index, columns = list(given.index), list(given.columns)
        check.type_is(part, pd.DataFrame, f"the harmonized {label} features are a DataFrame ({where})",
                      "ComBat's transform returns a DataFrame; return it as it is.")
        check.that(list(part.index) == list(index) and list(part.columns) == list(columns),
                   f"{label} index and columns kept ({where})",
                   f"index {index[:3]}..., columns {columns}",
                   f"index {list(part.index)[:3]}..., columns {list(part.columns)}",
                   "Return the rows and columns you were given, in the same order (training first, then test).")


def check_no_leak(check, args, first, where):
    """Changing test rows may change nothing in the training output, nor the other test subjects' output.

    ``args`` are the arguments of the first call ``(train_features, train_sites, test_features,
    test_sites, train_covariates, test_covariates)`` and ``first`` its (already judged) result.
    The learner's function is called twice more, on perturbed test features.
    """
    train, train_sites, test, test_sites, train_cov, test_cov = args
    moved = test.astype(float)
    moved.iloc[0] = moved.iloc[0] * 3 + 40
    moved.iloc[1:] = moved.iloc[1:].to_numpy() + np.linspace(5, 15, len(moved) - 1)[:, None]
    again = check.call(train, train_sites, moved, test_sites, train_cov, test_cov)
    judge_split(check, again, train, test, where)
    changed = np.abs(np.asarray(again[0], float) - np.asarray(first[0], float)).max()
    check.that(changed < 1e-9, f"the test rows do not influence the training output ({where})",
               "identical training output", f"training output changed by up to {changed:.3g} when only the test "
               "features changed", "ComBat was fitted on the training AND test rows (e.g. combat on pd.concat). Fit "
               "on the training rows only: model = ComBat().fit(train_features, train_sites, train_covariates).")
    if len(test) < 2:
        return
    only_first = test.astype(float)
    only_first.iloc[0] = only_first.iloc[0] * 3 + 40
    third = check.call(train, train_sites, only_first, test_sites, train_cov, test_cov)
    judge_split(check, third, train, test, where)
    others = np.abs(np.asarray(third[1], float)[1:] - np.asarray(first[1], float)[1:]).max()
    check.that(others < 1e-9, f"each test subject is corrected on its own ({where})",
               "the other test subjects unchanged", f"they changed by up to {others:.3g} when one test subject "
               "changed", "The test subjects influence each other: did you fit ComBat on the test set (e.g. "
               "combat(test_features, ...))? Apply the model fitted on the training rows: model.transform(...).")


def judge_values(check, found, expected_train, expected_test, train_input, where, test_without_covariates=None):
    """The harmonized values of a harmonize_train_test result (already checked by :func:`judge_split`).

    ``test_without_covariates``: what the test output would be had the covariates been ignored
    (None when the case has no covariates).
    """
    found_train, found_test = np.asarray(found[0], float), np.asarray(found[1], float)
    expected_train, expected_test = np.asarray(expected_train, float), np.asarray(expected_test, float)
    wrong_test = found_test.shape != expected_test.shape or not np.allclose(found_test, expected_test,
                                                                           rtol=1e-6, atol=1e-8)
    if test_without_covariates is not None and wrong_test:
        bare = np.asarray(test_without_covariates, float)
        if bare.shape == found_test.shape and np.allclose(found_test, bare, rtol=1e-6, atol=1e-6):
            check.fail(f"covariates kept ({where})", expected_test[:2].round(3), found_test[:2].round(3),
                       "You ignored the covariates: pass train_covariates to fit and to the training transform, "
                       "and test_covariates to the test transform, so that their effects are kept.")
    train_input = np.asarray(train_input, float)
    check.that(found_train.shape != train_input.shape or not np.allclose(found_train, train_input),
               f"training rows harmonized ({where})", "corrected training features", "the training features unchanged",
               "Transform the training rows too: the model learns the site effects, transform removes them.")
    check.close(found_train, expected_train, f"harmonized training features ({where})",
                "Use ComBat() with its default options, fitted on the training rows with their covariates.",
                rtol=1e-6, atol=1e-8)
    check.close(found_test, expected_test, f"harmonized test features ({where})",
                "Transform the test rows with the model fitted on the training rows, with the test sites and "
                "covariates.", rtol=1e-6, atol=1e-8)


@exercise("harmonize_train_test", LESSON)
def harmonize_train_test(check):
    args = toy_split()
    train, test = args[0], args[2]
    where = "toy: 3 sites, age"
    first = check.call(*args)
    judge_split(check, first, train, test, where)
    check_no_leak(check, args, first, where)
    judge_values(check, first, _TOY_TRAIN_HARMONIZED, _TOY_TEST_HARMONIZED, train, where,
                 test_without_covariates=_TOY_TEST_WITHOUT_COVARIATES)


# --------------------------------------------------------------------------- answer_confounded

CONFOUNDED_OPTIONS = ["a", "b", "c", "d"]


def confounded_letter(answer):
    """The letter an answer_confounded answer stands for ("B " -> "b"), or None for a non-string."""
    return answer.strip().lower() if isinstance(answer, str) else None


@exercise("answer_confounded", LESSON, kind="value")
def answer_confounded(check):
    answer = check.value()
    check.that(confounded_letter(answer) in CONFOUNDED_OPTIONS, "one of the options", CONFOUNDED_OPTIONS, answer,
               'Assign one letter as a string, e.g. answer_confounded = "a".')
