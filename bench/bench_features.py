"""Benchmark: the radiomic feature table of the whole course cohort, next to one numpy pass.

Every cohort radiograph (``data/cohort``) with its lung mask goes through
``medprep_helpers.radiomics.feature_table``: each feature family on its own and all three
together (intensity, intensity histogram and GLCM; ``n_bins=32`` for the last two). As a
floor, the same pixels are read once with numpy (``image[mask].mean()``): the cost of
touching the ROI at all. Images and masks are decoded from PNG once, before any timing
(decoding is reported on its own line), so the table measures the features only.

Each method runs ``--repeats`` times, in an order reversed every other repeat so that a
change in machine load affects all of them alike; the median is reported.

Run from the repository root::

    python bench/bench_features.py            # or: python -m bench.bench_features
    python bench/bench_features.py --images 60 --repeats 1

Prints a markdown table: method, seconds for the cohort, milliseconds per image, and the
per-image cost relative to one numpy pass over the same pixels.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from medprep_helpers import data
from medprep_helpers.radiomics import feature_table

N_BINS = 32


def load_cohort_lungs(n_images: int | None):
    """Images and lung masks of the first ``n_images`` subjects (all by default), keyed by subject id."""
    subjects = data.load_cohort()["subject_id"].tolist()[:n_images]
    images = {subject: data.load_cohort_image(subject) for subject in subjects}
    masks = {subject: data.load_cohort_masks(subject)["lungs"] for subject in subjects}
    return images, masks


def numpy_pass(images, masks) -> list[float]:
    """The floor: read the ROI's pixels once per image."""
    return [float(images[key][masks[key]].mean()) for key in images]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="first N subjects (default: the whole cohort)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    begin = time.perf_counter()
    images, masks = load_cohort_lungs(args.images)
    decoding = time.perf_counter() - begin
    n_images = len(images)
    shapes = sorted({image.shape for image in images.values()})
    roi_pixels = np.mean([mask.sum() for mask in masks.values()])

    methods = {
        "numpy pass: image[mask].mean()": lambda: numpy_pass(images, masks),
        "feature_table, intensity": lambda: feature_table(images, masks, families=["intensity"], progress=False),
        "feature_table, histogram (n_bins=32)": lambda: feature_table(
            images, masks, families=["histogram"], n_bins=N_BINS, progress=False
        ),
        "feature_table, GLCM (n_bins=32)": lambda: feature_table(
            images, masks, families=["glcm"], n_bins=N_BINS, progress=False
        ),
        "feature_table, all three families": lambda: feature_table(images, masks, n_bins=N_BINS, progress=False),
    }
    seconds = {name: [] for name in methods}
    results = {}
    for repeat in range(args.repeats):
        order = list(methods) if repeat % 2 == 0 else list(methods)[::-1]
        for name in order:
            start = time.perf_counter()
            results[name] = methods[name]()
            seconds[name].append(time.perf_counter() - start)

    # Not timed: the feature table holds the numpy mean, and one row per image.
    table = results["feature_table, all three families"]
    agree = np.allclose(table["intensity_mean"].to_numpy(), results["numpy pass: image[mask].mean()"])

    print(
        f"Lung-mask radiomic features of {n_images} cohort radiographs (shapes {', '.join(map(str, shapes))}; "
        f"{roi_pixels:,.0f} lung pixels per image on average); median of {args.repeats} run(s)\n"
    )
    floor = statistics.median(seconds["numpy pass: image[mask].mean()"]) / n_images
    print("| method | seconds (cohort) | ms per image | per-image cost vs numpy pass |")
    print("| --- | ---: | ---: | ---: |")
    for name in methods:
        total = statistics.median(seconds[name])
        print(f"| {name} | {total:.2f} | {1000 * total / n_images:.2f} | {total / n_images / floor:.0f}x |")
    print(f"\nPNG decoding of images and masks (before timing): {decoding:.2f} s")
    print(f"feature table: {table.shape[0]} rows x {table.shape[1]} columns; intensity_mean equals numpy: {agree}")


if __name__ == "__main__":
    main()
