"""Hidden checks of lesson 1, Know your data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from medprep_helpers import data
from medprep_helpers.exercises.know_your_data import judge_label_rates

from . import hidden


def _random_groups(rng, n, labels):
    return [labels[i] for i in rng.integers(0, len(labels), size=n)]


@hidden("label_rate_by")
def label_rate_by(check, rng):
    # Numeric groups, 0/1 labels and a custom label column; one group without positives.
    bands = sorted(rng.choice(np.arange(20, 95, 5), size=3, replace=False).tolist())
    frame = pd.DataFrame({"age_band": _random_groups(rng, 15, bands), "label": rng.integers(0, 2, size=15)})
    frame.loc[frame["age_band"] == bands[0], "label"] = 0
    frame.loc[len(frame)] = [bands[0], 0]  # every band present
    frame.loc[len(frame)] = [bands[1], 0]
    frame.loc[len(frame)] = [bands[2], 1]
    frame = frame.sample(frac=1, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
    found = check.call(frame, "age_band", label="label")
    rates = frame.groupby("age_band")["label"].mean().sort_index()
    judge_label_rates(check, found, rates.index.tolist(), rates.to_numpy(), where="numeric groups, 0/1 label column")
    # The course cohort, by sex.
    cohort = data.load_cohort()
    found = check.call(cohort, "sex")
    expected = pd.crosstab(cohort["sex"], cohort["cardiomegaly"], normalize="index")[True].sort_index()
    judge_label_rates(check, found, expected.index.tolist(), expected.to_numpy(), where="course cohort by sex")


@hidden("most_associated")
def most_associated(check, rng):
    cohort = data.load_cohort()
    strength = {}
    for column in ["site", "sex", "view", "position"]:
        table = pd.crosstab(cohort[column], cohort["cardiomegaly"]).to_numpy()
        strength[column] = chi2_contingency(table, correction=False)[0] / (table.sum() * (min(table.shape) - 1))
    best = max(strength, key=strength.get)
    answer = check.value()
    check.that(answer == best, "the strongest association", "the column with the largest Cramér's V", answer,
               "Compare the Cramér's V values in the table above and pick the largest.")
