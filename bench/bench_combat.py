"""Benchmark: medprep's ComBat against neuroCombat 0.2.12, side by side in one run.

Parametric empirical Bayes (the default of both) on 2000 subjects x 1000 features from
4 sites of unequal sizes, with age (continuous) and sex (categorical) as covariates.
Both implementations get the same data; each is timed several times, alternating, and
the median is reported. The script also checks that the two agree (max |difference|).

Run from the repository root::

    python bench/bench_combat.py            # or: python -m bench.bench_combat
    python bench/bench_combat.py --repeats 7 --subjects 4000

Prints a markdown table: implementation, seconds (median), ratio to neuroCombat.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import numpy as np
import pandas as pd
from neuroCombat import neuroCombat

from medprep_helpers.harmonize import combat


def simulated_cohort(n_subjects: int, n_features: int, seed: int = 0):
    """Features (subjects x features DataFrame), site labels and covariates with site effects."""
    rng = np.random.default_rng(seed)
    site_names = np.array(["clinic", "hospital", "community", "mobile"])
    site = rng.choice(site_names, n_subjects, p=[0.4, 0.3, 0.2, 0.1])
    # Ages on a quarter-year grid: neuroCombat casts continuous covariates to float32,
    # these values survive that cast, so the agreement check compares like with like.
    age = np.round(rng.uniform(20, 85, n_subjects) * 4) / 4
    sex = rng.choice(["F", "M"], n_subjects)
    site_code = np.searchsorted(np.sort(site_names), site)
    shift = rng.normal(0, 1.0, (len(site_names), n_features))
    scale = rng.uniform(0.6, 1.8, (len(site_names), n_features))
    noise = rng.normal(size=(n_subjects, n_features)) * scale[site_code]
    values = 50 + 0.2 * age[:, None] + 1.5 * (sex == "M")[:, None] + shift[site_code] + noise
    features = pd.DataFrame(values, columns=[f"feature_{i:04d}" for i in range(n_features)])
    covariates = pd.DataFrame({"age": age, "sex": sex})
    return features, site, covariates


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2000)
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    features, site, covariates = simulated_cohort(args.subjects, args.features)
    # neuroCombat wants features x subjects as a float64 array (a DataFrame is cast to float32)
    # and the site as a column of its covariate table.
    reference_data = np.ascontiguousarray(features.to_numpy().T)
    reference_covars = covariates.assign(site=site)

    def run_reference():
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per step
            return neuroCombat(reference_data, reference_covars, "site", ["sex"], ["age"])["data"].T

    def run_ours():
        return combat(features, site, covariates).to_numpy()

    timings = {"neuroCombat 0.2.12": [], "medprep_helpers.harmonize.combat": []}
    runners = dict(zip(timings, (run_reference, run_ours)))
    results = {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            results[name] = run()
            timings[name].append(time.perf_counter() - start)

    medians = {name: statistics.median(times) for name, times in timings.items()}
    reference_seconds = medians["neuroCombat 0.2.12"]
    difference = np.abs(results["neuroCombat 0.2.12"] - results["medprep_helpers.harmonize.combat"]).max()
    print(
        f"ComBat, parametric EB, {args.subjects} subjects x {args.features} features, 4 sites, "
        f"covariates age + sex; median of {args.repeats} runs\n"
    )
    print("| implementation | seconds (median) | ratio (neuroCombat / this) |")
    print("| --- | ---: | ---: |")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.3f} | {reference_seconds / seconds:.2f} |")
    print(f"\nmax |difference| between the two outputs: {difference:.2e}")


if __name__ == "__main__":
    main()
