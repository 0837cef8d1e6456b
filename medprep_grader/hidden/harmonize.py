"""Hidden checks of lesson 4, Harmonize.

Inputs are drawn from the course secret (random tables, random subsets and splits of the
cohort); expected values come from reference implementations here. No helper is registered in
``helpers_that_answer``: the course helpers compute no eta squared, and harmonize_train_test is
about calling the lesson's ComBat correctly (fit on the training rows, transform both), so
calling it is the expected answer, not a shortcut.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import f_oneway

from medprep_helpers import data
from medprep_helpers.exercises.harmonize import (
    call_noting_input,
    check_no_leak,
    confounded_letter,
    judge_eta,
    judge_split,
    judge_values,
)
from medprep_helpers.harmonize import ComBat

from . import hidden

# --------------------------------------------------------------------------- site_effect_size

SITE_NAMES = ["north", "south", "annex", "mobile", "central", "east", "west"]


def eta_squared_and_mistakes(values, groups):
    """Eta squared of ``values`` by ``groups`` (no missing values), and the value of each typical mistake."""
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    labels = sorted(set(groups.tolist()))
    samples = [values[groups == g] for g in labels]
    sizes = np.array([len(s) for s in samples])
    means = np.array([s.mean() for s in samples])
    grand = values.mean()
    between = float(np.sum(sizes * (means - grand) ** 2))
    total = float(np.sum((values - grand) ** 2))
    within = total - between
    k, n = len(sizes), len(values)
    mean_square_within = within / (n - k)
    mistakes = {
        "one_minus": within / total,
        "ratio": between / within,
        "f_statistic": (between / (k - 1)) / mean_square_within,
        "p_value": float(f_oneway(*samples).pvalue),
        "unweighted": np.sum((means - grand) ** 2) / total,
        "spread_of_means": np.var(means) / np.var(values),
        "spread_of_means_ddof1": np.var(means, ddof=1) / np.var(values, ddof=1),
        "mean_of_means": np.sum(sizes * (means - means.mean()) ** 2) / total,
        "omega_squared": (between - (k - 1) * mean_square_within) / (total + mean_square_within),
        "epsilon_squared": (between - (k - 1) * mean_square_within) / total,
    }
    return between / total, mistakes


def _judge_table(check, table, feature, site_col, where, note, missing=False):
    kwargs = {} if site_col == "site" else {"site_col": site_col}
    found = call_noting_input(check, note, table, feature, **kwargs)
    kept = table[[feature, site_col]].dropna()
    expected, mistakes = eta_squared_and_mistakes(kept[feature], kept[site_col])
    judge_eta(check, found, expected, mistakes, where, missing=missing)


def _random_sites(rng, k):
    """Unequal group sizes for k sites (one site may have a single row; never all of them)."""
    names = rng.choice(SITE_NAMES, size=k, replace=False).tolist()
    sizes = rng.integers(1, 12, size=k)
    sizes[rng.integers(k)] = rng.integers(3, 12)  # at least one site with spread inside it
    return np.repeat(names, sizes)


@hidden("site_effect_size")
def site_effect_size(check, rng):
    # 1. A random table of 2 to 5 sites of unequal sizes, the site column passed as site_col, extra columns.
    sites = _random_sites(rng, int(rng.integers(2, 6)))
    shifts = dict(zip(sorted(set(sites)), rng.normal(0, 2, size=len(set(sites)))))
    order = rng.permutation(len(sites))
    table = pd.DataFrame({
        "patient": [f"p{i:03d}" for i in range(len(sites))],
        "scanner": sites[order],
        "volume": np.array([shifts[s] for s in sites[order]]) + rng.normal(10, 1.5, size=len(sites)),
        "age": rng.integers(20, 90, size=len(sites)),
    }, index=rng.permutation(1000)[: len(sites)])
    _judge_table(check, table, "volume", "scanner", "random table, site_col='scanner'",
                 "a random table whose site column is 'scanner' (passed as site_col), with extra columns")

    # 2. Integer site codes and an integer feature.
    codes = pd.DataFrame({"centre": rng.integers(1, 4, size=14), "count": rng.integers(0, 30, size=14)})
    codes.loc[:2, "centre"] = [1, 2, 3]  # every code present
    _judge_table(check, codes, "count", "centre", "integer site codes and an integer feature",
                 "integer site codes 1, 2, 3 in the column 'centre' (passed as site_col) and an integer feature")

    # 3. Missing values in either column (the cohort's CTR by site).
    cohort = data.load_cohort()
    holes = cohort[["site", "ctr", "age"]].sample(n=int(rng.integers(60, 120)), random_state=int(rng.integers(1 << 31)))
    holes = holes.astype({"site": object})
    holes.loc[holes.index[rng.choice(len(holes), size=8, replace=False)], "ctr"] = np.nan
    holes.loc[holes.index[rng.choice(len(holes), size=5, replace=False)], "site"] = None
    _judge_table(check, holes, "ctr", "site", "random missing values in both columns",
                 "a table with missing values (NaN) in the feature and missing sites (None): drop such rows first",
                 missing=True)

    # 4. Random subsets of the course cohort, by site and by view.
    subset = cohort.sample(n=int(rng.integers(100, 200)), random_state=int(rng.integers(1 << 31)))
    for column in ["age", "heart_width_px", "ctr"]:
        _judge_table(check, subset, column, "site", f"{column!r} by site on a random subset of the cohort",
                     f"a random subset of the course cohort, feature {column!r}")
    _judge_table(check, subset, "ctr", "view", "grouped by site_col='view' on a random subset of the cohort",
                 "a random subset of the course cohort, feature 'ctr', site_col='view'")


# --------------------------------------------------------------------------- harmonize_train_test


def _reference(train, train_sites, test, test_sites, train_cov, test_cov):
    model = ComBat().fit(train, train_sites, train_cov)
    return model.transform(train, train_sites, train_cov), model.transform(test, test_sites, test_cov)


def _judge_case(check, args, where, leak=True):
    train, train_sites, test, test_sites, train_cov, test_cov = args
    found = check.call(*args)
    judge_split(check, found, train, test, where)
    if leak:
        check_no_leak(check, args, found, where)
    expected_train, expected_test = _reference(*args)
    bare = None if train_cov is None else _reference(train, train_sites, test, test_sites, None, None)[1]
    judge_values(check, found, expected_train, expected_test, train, where, test_without_covariates=bare)


@hidden("harmonize_train_test")
def harmonize_train_test(check, rng):
    cohort = data.load_cohort().set_index("subject_id")
    columns = ["thorax_width_px", "heart_width_px", "ctr"]
    order = rng.permutation(len(cohort))
    n_train = int(rng.integers(150, 191))
    train, test = cohort.iloc[np.sort(order[:n_train])], cohort.iloc[np.sort(order[n_train:])]

    # 1. A random split of the cohort, covariates age and sex.
    args = (train[columns], train["site"], test[columns], test["site"], train[["age", "sex"]], test[["age", "sex"]])
    _judge_case(check, args, "random cohort split, covariates age and sex")

    # 2. A single test subject, sites given as plain lists.
    one = test.iloc[[int(rng.integers(len(test)))]]
    args = (train[columns], train["site"].tolist(), one[columns], one["site"].tolist(), train[["age", "sex"]],
            one[["age", "sex"]])
    _judge_case(check, args, "a single test subject, sites as lists")

    # 3. Test rows from one site only, no covariates.
    site = str(rng.choice(sorted(test["site"].unique())))
    one_site = test[test["site"] == site]
    args = (train[columns], train["site"], one_site[columns], one_site["site"], None, None)
    _judge_case(check, args, "test rows from one site, no covariates")


# --------------------------------------------------------------------------- answer_confounded

_CONFOUNDED_HINTS = {
    "a": "In the scenario, site and disease coincide: the table in section 5 shows how much of the CTR gap ComBat "
         "removes there.",
    "c": "With full confounding the label is constant within each site: the design is singular and ComBat refuses. "
         "And a test subject's label is unknown: using it would leak the answer into the features.",
    "d": "ComBat shifts the site means as well as rescaling the variances: look at the CTR gap before and after.",
}


@hidden("answer_confounded")
def answer_confounded(check, rng):
    given = confounded_letter(check.value())
    check.that(given == "b", "harmonizing confounded data", "the right option", given, _CONFOUNDED_HINTS.get(given, ""))
