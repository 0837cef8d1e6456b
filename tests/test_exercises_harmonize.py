"""Lesson 4's exercises: correct answers in several styles pass, typical mistakes are named.

Visible checks run as in the notebook (``check``); hidden checks run in-process with inputs that
went through the wire format first, as the grader sends them to the learner's kernel.
"""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import f_oneway

import medprep_helpers.exercises.harmonize as visible_module
from medprep_helpers.checks import CheckFailed, check
from medprep_helpers.exercises import for_lesson
from medprep_helpers.harmonize import ComBat, combat
from exercise_testing import SECRETS, WireRunner, fails, grade  # noqa: F401 (shared by the exercise tests)


def test_module_examples():
    assert doctest.testmod(visible_module).failed == 0


# --------------------------------------------------------------------------- site_effect_size


def eta_groupby(df, feature, site_col="site"):
    kept = df[[feature, site_col]].dropna()
    values = kept[feature].astype(float)
    site_means = values.groupby(kept[site_col]).transform("mean")
    return float(((site_means - values.mean()) ** 2).sum() / ((values - values.mean()) ** 2).sum())


def eta_numpy(df, feature, site_col="site"):
    values = df[feature].to_numpy(dtype=float)
    sites = df[site_col].to_numpy(dtype=object)
    keep = ~np.isnan(values) & ~pd.isna(sites)
    values, sites = values[keep], sites[keep]
    _, codes = np.unique(sites.astype(str), return_inverse=True)
    sizes = np.bincount(codes)
    means = np.bincount(codes, weights=values) / sizes
    between = np.sum(sizes * (means - values.mean()) ** 2)
    return float(between / np.sum((values - values.mean()) ** 2))


def eta_f_oneway(df, feature, site_col="site"):
    # The derivation the task allows: eta squared = F (k - 1) / (F (k - 1) + n - k).
    kept = df[[feature, site_col]].dropna()
    samples = [group[feature].to_numpy(dtype=float) for _, group in kept.groupby(site_col)]
    k, n = len(samples), len(kept)
    stretched = f_oneway(*samples).statistic * (k - 1)
    return float(stretched / (stretched + n - k))


def eta_loops(df, feature, site_col="site"):
    rows = [(s, float(v)) for s, v in zip(df[site_col], df[feature]) if not pd.isna(s) and not pd.isna(v)]
    grand = sum(v for _, v in rows) / len(rows)
    groups = {}
    for s, v in rows:
        groups.setdefault(s, []).append(v)
    between = sum(len(g) * (sum(g) / len(g) - grand) ** 2 for g in groups.values())
    return between / sum((v - grand) ** 2 for _, v in rows)


def eta_agg(df, feature, site_col="site"):
    kept = df.dropna(subset=[feature, site_col])
    stats = kept.groupby(site_col)[feature].agg(["mean", "size"])
    grand = kept[feature].mean()
    return float((stats["size"] * (stats["mean"] - grand) ** 2).sum() / kept[feature].var(ddof=0) / len(kept))


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("answer", [eta_groupby, eta_numpy, eta_f_oneway, eta_loops, eta_agg])
def test_site_effect_size_correct_styles_pass(answer, secret):
    assert grade("site_effect_size", answer, secret) >= 15


def _parts(df, feature, site_col):
    kept = df[[feature, site_col]].dropna()
    values = kept[feature].to_numpy(dtype=float)
    groups = kept[site_col].to_numpy()
    labels = sorted(set(groups.tolist()))
    sizes = np.array([np.sum(groups == g) for g in labels])
    means = np.array([values[groups == g].mean() for g in labels])
    grand = values.mean()
    between = np.sum(sizes * (means - grand) ** 2)
    total = np.sum((values - grand) ** 2)
    return values, groups, labels, sizes, means, grand, between, total


def mistake(formula):
    def answer(df, feature, site_col="site"):
        return float(formula(*_parts(df, feature, site_col)))
    return answer


def _msw(values, sizes, between, total):
    return (total - between) / (len(values) - len(sizes))


ETA_MISTAKES = {
    "one minus": (mistake(lambda v, g, l, n, m, gm, b, t: (t - b) / t), "1 - eta squared"),
    "ratio": (mistake(lambda v, g, l, n, m, gm, b, t: b / (t - b)), "between over within"),
    "F": (mistake(lambda v, g, l, n, m, gm, b, t: (b / (len(n) - 1)) / _msw(v, n, b, t)), "the F statistic"),
    "p": (mistake(lambda v, g, l, n, m, gm, b, t: f_oneway(*[v[g == x] for x in l]).pvalue), "the p-value"),
    "unweighted": (mistake(lambda v, g, l, n, m, gm, b, t: np.sum((m - gm) ** 2) / t), "unweighted group means"),
    "spread": (mistake(lambda v, g, l, n, m, gm, b, t: np.var(m) / np.var(v)), "the spread of the site means"),
    "spread ddof": (mistake(lambda v, g, l, n, m, gm, b, t: np.var(m, ddof=1) / np.var(v, ddof=1)),
                    "(sample variances)"),
    "mean of means": (mistake(lambda v, g, l, n, m, gm, b, t: np.sum(n * (m - m.mean()) ** 2) / t),
                      "the mean of the site means as grand mean"),
    "omega": (mistake(lambda v, g, l, n, m, gm, b, t: (b - (len(n) - 1) * _msw(v, n, b, t)) / (t + _msw(v, n, b, t))),
              "omega squared"),
    "epsilon": (mistake(lambda v, g, l, n, m, gm, b, t: (b - (len(n) - 1) * _msw(v, n, b, t)) / t),
                "epsilon squared"),
}


@pytest.mark.parametrize("name", ETA_MISTAKES)
def test_site_effect_size_formula_mistakes_are_named(name):
    answer, phrase = ETA_MISTAKES[name]
    fails("site_effect_size", answer, phrase)


def eta_without_dropping(df, feature, site_col="site"):
    values = df[feature].to_numpy(dtype=float)
    means = df.groupby(site_col)[feature].transform("mean").to_numpy(dtype=float)
    return float(np.sum((means - values.mean()) ** 2) / np.sum((values - values.mean()) ** 2))


def eta_drops_values_only(df, feature, site_col="site"):
    # The row without a site stays in the grand mean and the total (groupby drops it only from the groups).
    kept = df[df[feature].notna()]
    values = kept[feature].astype(float)
    site_means = values.groupby(kept[site_col]).transform("mean").fillna(values.mean())
    return float(((site_means - values.mean()) ** 2).sum() / ((values - values.mean()) ** 2).sum())


def eta_sorts_with_none(df, feature, site_col="site"):
    values = df[feature].to_numpy(dtype=float)
    keep = ~np.isnan(values)
    _, codes = np.unique(df[site_col].to_numpy(dtype=object)[keep], return_inverse=True)  # None vs str: TypeError
    sizes = np.bincount(codes)
    means = np.bincount(codes, weights=values[keep]) / sizes
    return float(np.sum(sizes * (means - values[keep].mean()) ** 2) / np.sum((values[keep] - values[keep].mean()) ** 2))


def eta_fixed_site_column(df, feature, site_col="site"):
    return eta_groupby(df, feature, "site")


def eta_series(df, feature, site_col="site"):
    return pd.Series([eta_groupby(df, feature, site_col)])


def eta_in_place(df, feature, site_col="site"):
    df["complete"] = df[[feature, site_col]].notna().all(axis=1)  # a helper column, left in the caller's table
    return eta_groupby(df[df["complete"]], feature, site_col)


class AlwaysEqual(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


@pytest.mark.parametrize("answer, phrase", [
    (eta_without_dropping, "a number, not nan"),
    (eta_drops_values_only, "rows with a missing value are dropped"),
    (eta_sorts_with_none, "input:    the toy table plus a row without a site"),
    (eta_fixed_site_column, "input:    a random table whose site column is 'scanner'"),
    (eta_series, "a single float"),
    (eta_in_place, "inputs must not be modified"),
    (lambda df, feature, site_col="site": AlwaysEqual(0.5), "type of the result"),
])
def test_site_effect_size_other_mistakes_are_named(answer, phrase):
    fails("site_effect_size", answer, phrase)


def test_site_effect_size_hidden_cases_catch_a_toy_hard_coded_answer():
    message = fails("site_effect_size", lambda df, feature, site_col="site": 0.8482490272373541, "eta squared")
    assert "random table" in message


def test_hidden_site_effect_size_has_no_single_site_case():
    """Issue 9: a case with one site fails f_oneway (which the task allows) and is not stated: there is none."""
    tables = []

    def spy(df, feature, site_col="site"):
        tables.append(df[[feature, site_col]].dropna())
        return eta_groupby(df, feature, site_col)

    for secret in SECRETS:
        grade("site_effect_size", spy, secret)
    assert tables and all(table.iloc[:, 1].nunique() >= 2 for table in tables)


def test_hidden_inputs_depend_on_the_secret():
    seen = {}
    for secret in SECRETS[:2]:
        calls = []
        grade("site_effect_size", lambda df, feature, site_col="site", calls=calls: calls.append(df.copy())
              or eta_groupby(df, feature, site_col), secret)
        seen[secret] = calls
    first, second = seen.values()
    differing = [i for i, (a, b) in enumerate(zip(first, second)) if not a.equals(b)]
    assert differing, "the hidden tables do not depend on the secret"
    assert differing[0] > 0, "the visible tables must be the same for every secret"


# --------------------------------------------------------------------------- harmonize_train_test


def htt_fit_transform(train_features, train_sites, test_features, test_sites, train_covariates=None,
                      test_covariates=None):
    model = ComBat().fit(train_features, train_sites, train_covariates)
    return (model.transform(train_features, train_sites, train_covariates),
            model.transform(test_features, test_sites, test_covariates))


def htt_fit_transform_method(train_features, train_sites, test_features, test_sites, train_covariates=None,
                             test_covariates=None):
    model = ComBat()
    train_h = model.fit_transform(train_features, train_sites, train_covariates)
    return train_h, model.transform(test_features, test_sites, covariates=test_covariates)


def htt_function_for_training(train_features, train_sites, test_features, test_sites, train_covariates=None,
                              test_covariates=None):
    # combat() on the training rows alone is the same as fit + transform on them.
    model = ComBat().fit(train_features, np.asarray(train_sites), train_covariates)
    return (combat(train_features, batch=train_sites, covariates=train_covariates),
            model.transform(test_features, np.asarray(test_sites), test_covariates))


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("answer", [htt_fit_transform, htt_fit_transform_method, htt_function_for_training])
def test_harmonize_train_test_correct_styles_pass(answer, secret):
    assert grade("harmonize_train_test", answer, secret) >= 40


def htt_fit_on_all(train_features, train_sites, test_features, test_sites, train_covariates=None,
                   test_covariates=None):
    features = pd.concat([train_features, test_features])
    sites = pd.concat([pd.Series(list(train_sites), index=train_features.index),
                       pd.Series(list(test_sites), index=test_features.index)])
    covariates = None if train_covariates is None else pd.concat([train_covariates, test_covariates])
    both = combat(features, sites, covariates)
    return both.loc[train_features.index], both.loc[test_features.index]


def htt_each_set_on_its_own(train_features, train_sites, test_features, test_sites, train_covariates=None,
                            test_covariates=None):
    return (combat(train_features, train_sites, train_covariates),
            combat(test_features, test_sites, test_covariates))


def htt_no_covariates(train_features, train_sites, test_features, test_sites, train_covariates=None,
                      test_covariates=None):
    model = ComBat().fit(train_features, train_sites)
    return model.transform(train_features, train_sites), model.transform(test_features, test_sites)


def htt_train_untouched(train_features, train_sites, test_features, test_sites, train_covariates=None,
                        test_covariates=None):
    return train_features.copy(), htt_fit_transform(train_features, train_sites, test_features, test_sites,
                                                    train_covariates, test_covariates)[1]


def htt_non_parametric(train_features, train_sites, test_features, test_sites, train_covariates=None,
                       test_covariates=None):
    model = ComBat(parametric=False).fit(train_features, train_sites, train_covariates)
    return (model.transform(train_features, train_sites, train_covariates),
            model.transform(test_features, test_sites, test_covariates))


def _wrap(transform):
    def answer(*args, **kwargs):
        return transform(htt_fit_transform(*args, **kwargs))
    return answer


class AlwaysEqualFrame(pd.DataFrame):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("answer, phrase", [
    (htt_fit_on_all, "the test rows do not influence the training output"),
    (htt_each_set_on_its_own, "each test subject is corrected on its own"),
    (htt_no_covariates, "You ignored the covariates"),
    (htt_train_untouched, "training rows harmonized"),
    (htt_non_parametric, "harmonized training features"),
    (_wrap(lambda result: result[1]), "two results"),
    (_wrap(lambda result: (result[0].to_numpy(), result[1].to_numpy())), "are a DataFrame"),
    (_wrap(lambda result: (result[0], result[1].reset_index(drop=True))), "test index and columns kept"),
    (_wrap(lambda result: (result[1], result[0])), "training index and columns kept"),
    (_wrap(lambda result: (AlwaysEqualFrame(result[0]), AlwaysEqualFrame(result[1]))), "type of the result"),
])
def test_harmonize_train_test_mistakes_are_named(answer, phrase):
    fails("harmonize_train_test", answer, phrase)


# --------------------------------------------------------------------------- answer_confounded


@pytest.mark.parametrize("answer", ["b", " B ", "b\n"])
def test_answer_confounded_right_letter_passes(answer):
    assert grade("answer_confounded", answer) == 1


@pytest.mark.parametrize("answer, phrase", [
    ("a", "harmonizing confounded data"),
    ("c", "the design is singular"),
    ("d", "shifts the site means"),
    ("e", "one of the options"),
    (2, "one of the options"),
])
def test_answer_confounded_wrong_answers_fail(answer, phrase):
    fails("answer_confounded", answer, phrase)


def test_answer_confounded_hostile_string_is_a_wrong_type():
    class Anything(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    fails("answer_confounded", Anything("x"), "type of the answer")


def test_answer_confounded_missing_variable_is_named():
    with pytest.raises(CheckFailed, match="not answered yet"):
        check("answer_confounded")


# --------------------------------------------------------------------------- the notebook


def test_check_cells_are_one_line_per_registered_exercise():
    notebook = json.loads((Path(__file__).parents[1] / "solutions/04_harmonize/04_harmonize.ipynb").read_text())
    cells = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
             for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id", "").endswith("_checks")}
    expected = {
        f"{e.name}_checks": f'check("{e.name}", {e.name})' if e.kind == "function" else f'check("{e.name}")'
        for e in for_lesson("04_harmonize")
    }
    assert cells == expected
