"""Benchmark: how long each solution notebook runs, and the whole course against its floor.

The floor is what no notebook can beat: starting a Python kernel, running one empty
cell and shutting the kernel down. The course (every solution notebook, one after
the other, each in a fresh kernel, as nbval, nbconvert and nbgrader run them) should
take at most 3 times the floor of the same number of kernels; each notebook at most
10 s (CONTRIBUTING.md).

Run from the repository root::

    python -m bench.bench_notebooks
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_GOAL = 10.0  # seconds per solution notebook (CONTRIBUTING.md)
COURSE_GOAL = 3.0  # course time / floor


def solution_notebooks() -> list[Path]:
    """``solutions/<lesson>/<lesson>.ipynb`` for every lesson, in order."""
    return sorted(p for p in (ROOT / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)


def run_notebook(notebook, folder: Path, allow_errors: bool = False) -> float:
    """Seconds to execute ``notebook`` (a path or a NotebookNode) in a fresh kernel started in ``folder``.

    A NotebookNode is executed in place: each cell's ``metadata.execution`` then holds its timings.
    """
    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", allow_errors=allow_errors,
        resources={"metadata": {"path": str(folder)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def floor_seconds(repeats: int) -> float:
    """Median seconds to start a kernel, run one empty cell and stop the kernel."""
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    return statistics.median(run_notebook(empty, ROOT) for _ in range(repeats))


def slowest_cell(notebook) -> tuple[int, float]:
    """(index, seconds) of the cell that ran longest, from nbclient's timing metadata."""
    def seconds(cell) -> float:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
            return 0.0
        start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00")) for k in ("iopub.execute_input", "shell.execute_reply"))
        return (end - start).total_seconds()

    durations = [seconds(cell) for cell in notebook.cells]
    index = max(range(len(durations)), key=durations.__getitem__)
    return index, durations[index]


def measure() -> dict:
    """Execution time (and slowest cell) of every solution notebook, and the floor of as many kernels."""
    times, slowest = {}, {}
    for path in solution_notebooks():
        notebook = nbformat.read(path, as_version=4)
        times[path.stem] = run_notebook(notebook, path.parent)
        slowest[path.stem] = slowest_cell(notebook)
    return {"times": times, "slowest": slowest, "floor": floor_seconds(max(3, len(times)))}


def table(result: dict) -> str:
    times, floor = result["times"], result["floor"]
    lines = [
        "| notebook | seconds | goal | times the floor | slowest cell |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, seconds in times.items():
        mark = "" if seconds <= NOTEBOOK_GOAL else " (over)"
        index, longest = result["slowest"][name]
        lines.append(f"| {name} | {seconds:.1f}{mark} | ≤ {NOTEBOOK_GOAL:.0f} | {seconds / floor:.1f} | "
                     f"cell {index}: {longest:.1f} s |")
    course, course_floor = sum(times.values()), floor * len(times)
    ratio = course / course_floor
    lines.append(f"| **whole course** ({len(times)} notebooks) | {course:.1f} | ≤ {COURSE_GOAL:.0f} x floor "
                 f"= {COURSE_GOAL * course_floor:.1f} | **{ratio:.2f}**{'' if ratio <= COURSE_GOAL else ' (over)'} | |")
    lines.append(f"| floor: one kernel, one empty cell | {floor:.2f} | | 1.0 | |")
    return "\n".join(lines)


def main(argv=None) -> str:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    os.chdir(ROOT)
    text = table(measure())
    print(text)
    return text


if __name__ == "__main__":
    main()
