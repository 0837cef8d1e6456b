"""Visible checks of lesson 1, Know your data (the cases each task states)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import exercise

LESSON = "01_know_your_data"


def judge_label_rates(check, found, index, rates, group_sizes=None, shares=None, where="toy table"):
    """The checks of a label_rate_by result; shared by the visible and the hidden cases.

    ``rates`` are the expected rates in index order; ``group_sizes`` (group size / n) and
    ``shares`` (each group's share of the positives) are the two typical wrong answers.
    """
    check.type_is(found, pd.Series, hint="Select the label column before aggregating, e.g. groupby(column)[label].mean().")
    check.that(set(found.index) >= set(index), f"every group appears ({where})", list(index), list(found.index),
               "A group without positive cases must still appear with rate 0. Did you filter the positive rows first?")
    check.that(list(found.index) == list(index), f"index sorted ascending ({where})", list(index), list(found.index),
               "Sort the result by its index (sort_index()), not by the rates.")
    try:
        values = found.to_numpy(dtype=float)
    except (TypeError, ValueError):
        check.fail(f"numeric rates ({where})", "numbers between 0 and 1", found.tolist(),
                   "Average a boolean or 0/1 label column.")
    check.that(np.all((values >= 0) & (values <= 1)), f"values are fractions ({where})", "values in [0, 1]", values,
               "Did you count positives instead of dividing by the number of rows in each group?")
    if shares is not None and not np.allclose(shares, rates) and np.allclose(values, shares):
        check.fail(f"rate within each group ({where})", "positives / rows, per group", values,
                   "You divided by the total number of positives: that is each group's share of the positive cases. "
                   "The contract asks for the rate inside each group (positives / rows of that group).")
    if group_sizes is not None and not np.allclose(group_sizes, rates) and np.allclose(values, group_sizes):
        check.fail(f"rate within each group ({where})", "positives / rows, per group", values,
                   "These are the group sizes as fractions of all rows (value_counts(normalize=True)), not label rates.")
    negatives = 1 - np.asarray(rates, dtype=float)
    if not np.allclose(negatives, rates) and np.allclose(values, negatives):
        check.fail(f"rate within each group ({where})", "positives / rows, per group", values,
                   "You computed the rate of *negative* labels.")
    check.close(values, rates, f"rate of positives within each group ({where})",
                hint="Use the `label` argument, not a hard-coded column name; 0/1 labels are positive when 1.")


@exercise("label_rate_by", LESSON)
def label_rate_by(check):
    toy = pd.DataFrame({"site": ["b", "a", "b", "a", "c", "b"],
                        "cardiomegaly": [True, False, False, False, True, True]})
    found = check.call(toy, "site")
    judge_label_rates(check, found, ["a", "b", "c"], [0, 2 / 3, 1],
                      group_sizes=[2 / 6, 3 / 6, 1 / 6], shares=[0, 2 / 3, 1 / 3])


@exercise("most_associated", LESSON, kind="value")
def most_associated(check):
    options = ["site", "sex", "view", "position"]
    answer = check.value()
    check.that(answer in options, "one of the options", options, answer,
               'Assign the column name as a string, e.g. most_associated = "sex".')
