"""Benchmark: the test suite's wall time on 2 cores, and what one nbformat import costs.

``python -m pytest -n 2`` should take at most 4 minutes. Every process that imports
nbformat (pytest workers, nbval, nbgrader) pays for jsonschema's IRI grammar build
(rfc3987-syntax with lark), whichever validator ``NBFORMAT_VALIDATOR`` names;
tests/conftest.py defers it with tests/lazy_imports for the processes the suite starts.

Run from the repository root::

    python -m bench.bench_tests            # whole suite
    python -m bench.bench_tests --quick    # fast tests only (-m "not slow")
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAZY = ROOT / "tests" / "lazy_imports"
SUITE_GOAL = 240.0


def import_seconds(extra_env: dict[str, str], repeats: int = 3) -> float:
    """Median wall seconds of ``python -c "import nbformat"`` in a new process with ``extra_env``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NBFORMAT_VALIDATOR")}
    env.update(extra_env)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import nbformat"], env=env, check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def suite(quick: bool) -> tuple[float, str]:
    """Wall seconds of the suite on 2 workers and pytest's summary line."""
    command = [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"]
    command += ["-m", "not slow"] if quick else []
    start = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = [line for line in run.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return seconds, (summary[-1].strip("= ") if summary else f"pytest exited with {run.returncode}")


def table(quick: bool) -> str:
    plain = import_seconds({})
    validator = import_seconds({"NBFORMAT_VALIDATOR": "fastjsonschema"})
    lazy = import_seconds({"PYTHONPATH": str(LAZY)})
    seconds, summary = suite(quick)
    what = 'fast tests (-m "not slow")' if quick else "whole suite"
    goal = f"≤ {SUITE_GOAL:.0f}" if not quick else ""
    return "\n".join([
        "| measure | seconds | goal | note |",
        "| --- | ---: | ---: | --- |",
        f"| `python -m pytest -n 2`, {what} | **{seconds:.0f}** | {goal} | {summary} |",
        f"| `import nbformat`, new process | {plain:.2f} | | as instructors' nbgrader commands pay it |",
        f"| `import nbformat`, `NBFORMAT_VALIDATOR=fastjsonschema` | {validator:.2f} | | no help: already the default |",
        f"| `import nbformat`, with tests/lazy_imports | {lazy:.2f} | | as the suite's workers and subprocesses pay it |",
    ])


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help='fast tests only (-m "not slow")')
    text = table(parser.parse_args(argv).quick)
    print(text)
    return text


if __name__ == "__main__":
    main()
