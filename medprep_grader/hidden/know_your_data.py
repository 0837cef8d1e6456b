"""Hidden checks of lesson 1, Know your data."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.stats import chi2_contingency

from medprep_helpers import data
from medprep_helpers.exercises.know_your_data import (
    BIAS,
    DENOMINATOR,
    SQUARED,
    YATES,
    judge_cramers_v,
    judge_label_rates,
    judge_saved,
    judge_text_removal,
)
from medprep_helpers.phantom import synthetic_radiograph

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
    strength = {column: _cramers_v_variants(pd.crosstab(cohort[column], cohort["cardiomegaly"]).to_numpy())[0]
                for column in ["site", "sex", "view", "position"]}
    best = max(strength, key=strength.get)
    answer = check.value()
    check.that(answer == best, "the strongest association", "the column with the largest Cramér's V", answer,
               "Compare the Cramér's V values in the table above and pick the largest.")


# --------------------------------------------------------------------------- cramers_v

def _cramers_v_variants(table):
    """Cramér's V of a contingency table, and the typical wrong variants with their messages."""
    table = np.asarray(table, dtype=float)
    n, (r, c) = table.sum(), table.shape
    k = min(r, c) - 1
    chi2 = chi2_contingency(table, correction=False)[0]
    phi2 = chi2 / n
    v = float(np.sqrt(phi2 / k))
    yates = float(np.sqrt(chi2_contingency(table, correction=True)[0] / (n * k)))
    # Bergsma (2013): phi2 and the table's dimensions corrected for small-sample bias
    phi2_corrected = max(0.0, phi2 - (r - 1) * (c - 1) / (n - 1))
    r_corrected, c_corrected = r - (r - 1) ** 2 / (n - 1), c - (c - 1) ** 2 / (n - 1)
    bias = float(np.sqrt(phi2_corrected / min(r_corrected - 1, c_corrected - 1)))
    mistakes = [(yates, *YATES), (v * v, *SQUARED), (bias, *BIAS)]
    mistakes += [(float(np.sqrt(phi2 / d)), *DENOMINATOR) for d in {r - 1, min(r, c)} if d > 0 and d != k]
    return v, mistakes


def _judge_frame(check, frame, column, label, where):
    table = pd.crosstab(frame[column], frame[label]).to_numpy()
    expected, mistakes = _cramers_v_variants(table)
    kwargs = {} if label == "cardiomegaly" else {"label": label}
    judge_cramers_v(check, check.call(frame, column, **kwargs), expected, mistakes, where=where)


def _shuffled(rng, frame):
    return frame.sample(frac=1, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)


@hidden("cramers_v")
def cramers_v(check, rng):
    # A column independent of the label (V = 0), with a custom label column.
    # Inputs are plain Python values (str, bool, int): what the grader sends must pass the wire format.
    groups = [str(g) for g in rng.choice(list("pqrstuvw"), size=int(rng.integers(2, 5)), replace=False)]
    rows = []
    for group in groups:
        m = int(rng.integers(1, 5))
        rows += [(group, True)] * m + [(group, False)] * (2 * m)
    frame = _shuffled(rng, pd.DataFrame(rows, columns=["scanner", "finding"]))
    _judge_frame(check, frame, "scanner", "finding", "a column independent of the label, custom label column")
    # A column identical to the label (V = 1): Yates' correction shows there.
    n = int(rng.integers(6, 15))
    labels = np.r_[np.ones(n, bool), np.zeros(int(rng.integers(6, 15)), bool)]
    frame = _shuffled(rng, pd.DataFrame({"cardiomegaly": labels, "ward": ["icu" if x else "outpatient" for x in labels]}))
    _judge_frame(check, frame, "ward", "cardiomegaly", "a column identical to the label")
    # A random 2 x 2 table and a random table of 3 to 5 groups against a label with 3 values.
    counts = rng.integers(2, 15, size=(2, 2))
    frame = _shuffled(rng, pd.DataFrame(
        [(g, bool(l)) for g in range(2) for l in range(2) for _ in range(counts[g, l])],
        columns=["site", "cardiomegaly"]))
    _judge_frame(check, frame, "site", "cardiomegaly", "a random 2 x 2 table")
    r = int(rng.integers(3, 6))
    counts = rng.integers(1, 12, size=(r, 3))
    severities = ["mild", "moderate", "none"]
    frame = _shuffled(rng, pd.DataFrame(
        [(f"site {g}", severities[l]) for g in range(r) for l in range(3) for _ in range(counts[g, l])],
        columns=["site", "severity"]))
    _judge_frame(check, frame, "site", "severity", f"a random {r} x 3 table, label with 3 values")
    # The course cohort.
    cohort = data.load_cohort()
    for column in ("site", "sex"):
        _judge_frame(check, cohort, column, "cardiomegaly", f"course cohort, {column!r}")


# --------------------------------------------------------------------------- save_lossless

@hidden("save_lossless")
def save_lossless(check, rng):
    # Random 8-bit and 16-bit images of random size that hold 0 and the dtype's maximum,
    # written to a random file name given as a str (a fixed file elsewhere cannot pass).
    for dtype in (np.uint8, np.uint16):
        top = int(np.iinfo(dtype).max)
        shape = tuple(int(v) for v in rng.integers(17, 90, size=2))
        image = rng.integers(0, top + 1, size=shape).astype(dtype)
        image.flat[rng.choice(image.size, size=2, replace=False)] = (0, top)
        name = "".join(rng.choice(list(string.ascii_lowercase), size=8)) + ".png"
        path = check.scratch_path(name)
        found = check.call(image, str(path))
        judge_saved(check, found, image, path, where=f"random {shape[0]} x {shape[1]} {dtype.__name__} image, "
                                                      "path given as a str")


# --------------------------------------------------------------------------- remove_burned_in_text

def _random_radiograph(rng, dtype):
    """A fresh phantom radiograph with random text; redrawn until the task's promises hold."""
    letters = list(string.ascii_uppercase)
    for _ in range(20):
        name = "".join(rng.choice(letters, size=int(rng.integers(3, 7)))) + "^" + "".join(
            rng.choice(letters, size=int(rng.integers(3, 7))))
        text = f"{name} {int(rng.integers(1990, 2026))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
        args = dict(
            seed=int(rng.integers(1 << 31)), shape=tuple(int(v) for v in rng.integers(300, 420, size=2)),
            ctr=float(rng.uniform(0.38, 0.62)), body_size=float(rng.uniform(0.85, 1.0)),
            rotation=float(rng.uniform(-6, 6)), exposure=float(rng.uniform(0.85, 1.25)),
            contrast=float(rng.uniform(0.85, 1.15)), noise=float(rng.uniform(0.005, 0.03)),
            border=int(rng.choice([0, 0, 8, 14])), text=text, marker=str(rng.choice(["L", "R"])),
            marker_style=str(rng.choice(["box", "plain"])), dtype=dtype,
        )
        try:
            cxr = synthetic_radiograph(**args)
        except ValueError:  # text that does not fit outside the thorax: draw again
            continue
        image, text_mask, thorax = cxr.image, cxr.masks["text"], cxr.masks["thorax"]
        top = image.max()
        if text_mask.any() and np.all(image[text_mask] == top) and not np.any(image[~text_mask] == top) and not (
                text_mask & ndimage.binary_dilation(thorax, iterations=3)).any():
            return image, text_mask, thorax
    raise RuntimeError("no phantom radiograph kept the task's promises in 20 draws; check the generator")


@hidden("remove_burned_in_text")
def remove_burned_in_text(check, rng):
    # Fresh phantom radiographs from secret seeds, 8-bit and 16-bit (12 bits used): the masks in
    # data/ cannot answer them.
    for dtype in ("uint8", "uint16"):
        image, text, thorax = _random_radiograph(rng, dtype)
        near = ndimage.binary_dilation(text, np.ones((3, 3), bool), iterations=12)
        judge_text_removal(check, image, check.call(image), text, thorax, near,
                           where=f"a new {dtype} phantom radiograph {image.shape[0]} x {image.shape[1]}",
                           tolerance=0.01)
