"""Run every benchmark of the course and write one markdown report.

    python -m bench            # everything, full size (about 30 minutes on 2 cores)
    python -m bench --quick    # a class of 4, fast tests only, small lesson benchmarks (a few minutes)
    python -m bench --only notebooks grading

The report goes to stdout and to bench/results/latest.md (not in git). Benchmarks report
numbers; the tests check correctness. The machine's load at the start is recorded,
because other work on a shared machine slows every figure down.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench import bench_grading, bench_notebooks, bench_package, bench_parallel, bench_tests

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.md"

# The lessons' own benchmarks (owned by their authors): run as scripts, their markdown table captured.
LESSON_BENCHMARKS = {
    "augment": ("bench.bench_augment", [], ["--images", "40"]),
    "combat": ("bench.bench_combat", [], ["--subjects", "500", "--features", "200", "--repeats", "2"]),
    "features": ("bench.bench_features", [], ["--images", "40", "--repeats", "1"]),
}
SECTIONS = ("notebooks", "grading", "parallel", "tests", "package", *LESSON_BENCHMARKS)


def lesson_benchmark(name: str, quick: bool) -> str:
    module, full, small = LESSON_BENCHMARKS[name]
    run = subprocess.run([sys.executable, "-m", module, *(small if quick else full)], cwd=ROOT,
                         capture_output=True, text=True)
    if run.returncode:
        return f"`python -m {module}` failed (exit {run.returncode}):\n\n```\n{run.stderr[-2000:]}\n```"
    return run.stdout.strip()


def section(name: str, args) -> str:
    if name == "notebooks":
        return bench_notebooks.main([])
    if name == "grading":
        students = args.students or (4 if args.quick else 30)
        return bench_grading.main(["--students", str(students), "--single", str(min(4, students))])
    if name == "parallel":
        return bench_parallel.main(["--students", str(args.students or (6 if args.quick else 12))])
    if name == "tests":
        return bench_tests.main(["--quick"] if args.quick else [])
    if name == "package":
        return bench_package.main([])
    return lesson_benchmark(name, args.quick)


TITLES = {
    "notebooks": "Solution notebooks: execution time, and the course against the kernel floor",
    "grading": "Autograding a class against plain execution",
    "parallel": "Parallel autograding on Dask against nbgrader's loop (bench/bench_parallel.py)",
    "tests": "Test suite on 2 cores",
    "package": "Learner package: wheel size and a learner's install (bench/bench_package.py)",
    "augment": "Lesson 2: augmentation (bench/bench_augment.py)",
    "combat": "Lesson 4: ComBat (bench/bench_combat.py)",
    "features": "Lesson 3: features (bench/bench_features.py)",
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a run of a few minutes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--students", type=int, default=None, help="class size for the grading benchmark")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    header = (
        f"# medprep benchmarks{' (quick)' if args.quick else ''}\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average at start {load:.2f}\n"
    )
    print(header, flush=True)
    parts = [header]
    for name in args.only:
        start = time.perf_counter()
        print(f"## {TITLES[name]}\n", flush=True)
        body = section(name, args)
        if name in LESSON_BENCHMARKS:
            print(body)
        note = f"\n\n*({time.perf_counter() - start:.0f} s)*\n"
        print(note, flush=True)
        parts.append(f"## {TITLES[name]}\n\n{body}{note}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(parts))
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
