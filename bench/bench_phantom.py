"""Benchmark: time to draw one synthetic chest radiograph, and to write the course data.

``synthetic_radiograph`` is timed at the cohort's sizes and at 512 x 512, upright and
turned by 2 degrees (a turned patient takes the slower path: every structure is
evaluated on full coordinate grids instead of broadcast rows and columns). Both wall
time and CPU time are reported: on a shared machine the wall time grows with the
load, the CPU time much less. Each case is repeated and the fastest repeat is kept.

Run from the repository root::

    python bench/bench_phantom.py            # or: python -m bench.bench_phantom
    python bench/bench_phantom.py --repeats 5 --course-data

Prints a markdown table: shape, rotation, wall seconds per image, CPU seconds per image.
``--course-data`` also times ``write_course_data`` into a temporary folder (what
``python -m medprep_helpers.data --generate`` does).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from medprep_helpers.phantom import synthetic_radiograph, write_course_data

SHAPES = ((256, 256), (288, 320), (512, 512))
IMAGES = 8


def time_case(shape, rotation, repeats):
    """Fastest (wall, cpu) seconds per image over ``repeats`` runs of IMAGES images."""
    synthetic_radiograph(seed=0, shape=shape, rotation=rotation)  # warm-up: imports, font, caches
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for seed in range(IMAGES):
            synthetic_radiograph(seed=seed, shape=shape, rotation=rotation, ctr=0.4 + 0.02 * seed)
        best_wall = min(best_wall, (time.perf_counter() - wall) / IMAGES)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / IMAGES)
    return best_wall, best_cpu


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; the fastest is kept")
    parser.add_argument("--course-data", action="store_true", help="also time write_course_data")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")

    lines = ["| shape | rotation | wall s/image | CPU s/image |", "|---|---|---|---|"]
    for shape in SHAPES:
        for rotation in (0.0, 2.0):
            wall, cpu = time_case(shape, rotation, args.repeats)
            lines.append(f"| {shape[0]} x {shape[1]} | {rotation:g} | {wall:.4f} | {cpu:.4f} |")
    if args.course_data:
        with tempfile.TemporaryDirectory() as folder:
            wall, cpu = time.perf_counter(), time.process_time()
            written = write_course_data(folder)
            lines.append(f"\nwrite_course_data: {len(written)} files in {time.perf_counter() - wall:.1f} s wall, "
                         f"{time.process_time() - cpu:.1f} s CPU")
    report = "\n".join(lines)
    print(report)
    return report


if __name__ == "__main__":
    main()
