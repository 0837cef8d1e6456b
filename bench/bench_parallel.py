"""Benchmark: parallel autograding (``python -m medprep_grader autograde``) against nbgrader's own loop.

A class of N students (default 12) hands in one lesson (default 02_augment); student i hands in
the ``correct``, ``partial`` or ``blank`` sample of tests/make_submissions.py, in turn. Each run
grades the whole class in its own fresh copy of the course, with the course's
``nbgrader_config.py``, on a SQLite gradebook (the workshop default):

- nbgrader's sequential loop (``NbGraderAPI.autograde(lesson, "*")``, one process);
- the command with 1 worker, then with 2 workers (a Dask LocalCluster), as an instructor runs it.

Reported, with the machine's load average when each run starts (other work on a shared machine
slows every run down): submissions per minute (wall time of the whole run, start-up included),
the start-up until the first task starts (interpreter, checks, Dask cluster), the engine's
overhead per submission (with one worker, the time between the first task's start and the last
task's end that nbgrader did not spend grading: Dask dispatch, state files, content hashes), and
the cost in core-seconds per submission that sizes a large class. The grades of the three runs
must agree.

Run from the repository root::

    python -m bench.bench_parallel --students 12
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from grading import autograde_class, copy_course, generate, notebook_grades, submit  # noqa: E402

from bench.bench_grading import class_of, write_samples  # noqa: E402

STATE_FOLDER = ".medprep_grading"  # medprep_grader.parallel.STATE_FOLDER (not imported: keeps Dask out of this process)


def _course(work: Path, name: str, lesson: str, group: dict[str, str], samples: dict) -> Path:
    course = copy_course(work / name, with_data=True)
    submit(course, lesson, {student: samples[lesson, kind][0] for student, kind in group.items()})
    generate(course, lesson)
    return course


def _command(course: Path, lesson: str, workers: int) -> dict:
    """Run the command; wall time, and the task records of its state files."""
    env = {**os.environ, "MEDPREP_DATA": str(course / "data")}
    start_wall = time.time()
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "medprep_grader", "autograde", lesson, "--workers", str(workers)],
                         cwd=course, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode:
        raise RuntimeError(f"medprep_grader autograde {lesson} --workers {workers} failed:\n{run.stdout}\n{run.stderr[-3000:]}")
    records = [json.loads(p.read_text()) for p in (course / STATE_FOLDER / lesson).glob("*.json")]
    first, last = min(r["started"] for r in records), max(r["ended"] for r in records)
    busy = sum(r["seconds"] for r in records)
    return {
        "seconds": seconds,
        "to_first": first - start_wall,
        "span": last - first,
        "grading": busy,
        "overhead": ((last - first) - busy) / len(records) if workers == 1 else None,
    }


def measure(students: int = 12, lesson: str = "02_augment", workers: tuple[int, ...] = (1, 2)) -> dict:
    """Seconds for nbgrader's loop and for the command with each number of ``workers``."""
    work = Path(tempfile.mkdtemp(prefix="medprep-bench-parallel-"))
    os.environ.setdefault("MEDPREP_GRADING_SECRET", "bench-parallel-secret-0123456789")
    try:
        samples = write_samples(work / "samples")
        group = class_of(students)
        course = _course(work, "nbgrader", lesson, group, samples)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        autograde_class(course, lesson, list(group), processes=1)
        rows = {"nbgrader loop": {"seconds": time.perf_counter() - start, "load": load}}
        reference = notebook_grades(course, lesson)
        same = True
        for n in workers:
            course = _course(work, f"workers-{n}", lesson, group, samples)
            load = os.getloadavg()[0]
            rows[f"{n} worker{'s' if n > 1 else ''}"] = {**_command(course, lesson, n), "load": load}
            same = same and notebook_grades(course, lesson) == reference
        return {"students": students, "lesson": lesson, "rows": rows, "same grades": same}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(result: dict) -> str:
    n = result["students"]
    lines = [
        f"Class of {n} on {result['lesson']}, SQLite gradebook, {os.cpu_count()} cores.",
        "",
        "| run | load at start | wall s | submissions/min | s per submission | start-up s (to the first task) | "
        "engine overhead s/submission |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["rows"].items():
        first = f"{row['to_first']:.1f}" if "to_first" in row else ""
        overhead = f"{row['overhead']:.3f}" if row.get("overhead") is not None else ""
        lines.append(f"| {name} | {row['load']:.1f} | {row['seconds']:.0f} | **{n / row['seconds'] * 60:.1f}** | {row['seconds'] / n:.1f} | "
                     f"{first} | {overhead} |")
    lines.append("")
    lines.append(f"Grades identical in every run: {'yes' if result['same grades'] else 'NO'}.")
    # Cost in core-seconds per submission, from the run with the most workers: a grading keeps more
    # than one core partly busy (kernel, judge, sandbox start), so one worker alone understates it.
    name, row = max(((k, r) for k, r in result["rows"].items() if "span" in r), key=lambda kr: int(kr[0].split()[0]))
    cores = min(int(name.split()[0]), os.cpu_count() or 1)
    per_core = row["span"] * cores / n
    hours = [(label, 20000 * per_core / c / 3600) for label, c in (("2 cores", 2), ("32 cores", 32), ("128 cores", 128))]
    lines.append(
        f"Cost: {per_core:.1f} core-seconds per submission ({name} on {cores} cores, once started). 5,000 learners x "
        "4 lessons (20,000 submissions) at this cost: " + ", ".join(f"{h:.1f} h on {label}" for label, h in hours)
        + " (one worker per core; start-up and engine overhead are small against it)."
    )
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=12, help="class size (default 12)")
    parser.add_argument("--lesson", default="02_augment", help="the lesson graded (default 02_augment)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    args = parser.parse_args(argv)
    text = table(measure(args.students, args.lesson, tuple(args.workers)))
    print(text)
    return text


if __name__ == "__main__":
    main()
