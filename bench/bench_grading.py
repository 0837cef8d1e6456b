"""Benchmark: autograding a class against running the same notebooks plainly.

A class of N students (default 30) hands in every lesson; student i hands in the
``correct``, ``partial`` or ``blank`` sample of tests/make_submissions.py (in turn).
The class is graded with the course's nbgrader_config.py (each submission restored from the
released notebook, run in a bubblewrap sandbox, its exercises judged from outside the kernel
on visible and secret hidden cases, outputs sanitized) in a temporary copy of the course:

- with two nbgrader processes on disjoint students (both cores), the whole class;
- with one process, the first few students, to show the overhead per notebook.

Seconds per notebook are compared with a plain execution (nbclient, errors allowed) of the
same submitted notebooks, one after the other. Goal: grading at most 1.5 times the plain
execution. The grades are checked too: the correct samples get full marks and the blank ones
zero. The sandbox's own start-up cost is measured apart: a Python process started with and
without bubblewrap and its limits.

Run from the repository root::

    python -m bench.bench_grading --students 30
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import make_submissions  # noqa: E402
from grading import (  # noqa: E402
    autograde_class,
    copy_course,
    generate,
    notebook_grades,
    submit,
)

from bench.bench_notebooks import run_notebook  # noqa: E402

KINDS = ("correct", "partial", "blank")
GOAL = 1.5


def class_of(students: int) -> dict[str, str]:
    """``{student id: sample kind}``: s01 correct, s02 partial, s03 blank, s04 correct, ..."""
    return {f"s{i + 1:02d}": KINDS[i % len(KINDS)] for i in range(students)}


def write_samples(folder: Path) -> dict[tuple[str, str], tuple[Path, Path]]:
    """``{(lesson, kind): (submission, submission)}``, as make_submissions.py builds the samples now."""
    files, _ = make_submissions.build()
    samples = {}
    for path, text in files.items():
        kind, lesson = path.parts[-3], path.parts[-2]
        if path.suffix == ".ipynb" and kind in KINDS:
            copy = folder / kind / lesson / path.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(text)
            samples[lesson, kind] = (copy, copy)
    return samples


def measure(students: int = 30, single: int = 4, lessons: list[str] | None = None) -> dict:
    """Plain and graded seconds per notebook, per lesson (default: every lesson)."""
    work = Path(tempfile.mkdtemp(prefix="medprep-bench-grading-"))
    try:
        return _measure(work, students, single, lessons)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(work: Path, students: int, single: int, lessons: list[str] | None) -> dict:
    samples = write_samples(work / "samples")
    lessons = sorted(lessons or {lesson for lesson, _ in samples})
    samples = {key: paths for key, paths in samples.items() if key[0] in lessons}
    classroom = class_of(students)
    plain = {key: run_notebook(graded, graded.parent, allow_errors=True) for key, (_, graded) in samples.items()}
    rows = {}
    for processes, size in ((2, students), (1, min(single, students))):
        course = copy_course(work / f"course-{processes}", with_data=True)
        group = dict(list(classroom.items())[:size])
        for lesson in lessons:
            submit(course, lesson, {s: samples[lesson, kind][0] for s, kind in group.items()})
            generate(course, lesson)
            start = time.perf_counter()
            autograde_class(course, lesson, list(group), processes=processes)
            seconds = time.perf_counter() - start
            grades = notebook_grades(course, lesson)
            row = rows.setdefault(lesson, {"plain": statistics.mean(plain[lesson, k] for k in group.values())})
            row[processes] = seconds / size
            row["as expected"] = row.get("as expected", True) and _as_expected(grades, group)
    return {"students": students, "single": min(single, students), "rows": rows, "sandbox": sandbox_startup()}


def _as_expected(grades: dict, group: dict[str, str]) -> bool:
    """Correct samples get every automatic mark, blank ones none."""
    for student, kind in group.items():
        auto = [g for g in grades[student].values() if g["auto"] is not None]
        if kind == "correct" and any(g["auto"] != g["max"] for g in auto):
            return False
        if kind == "blank" and any(g["auto"] != 0 for g in auto):
            return False
    return True


def sandbox_startup(repeats: int = 10) -> dict:
    """Seconds to start ``python -c pass`` plainly and inside the grading sandbox (median of ``repeats``)."""
    import subprocess

    from medprep_grader.sandbox import Sandbox, sandbox_problem

    if sandbox_problem():
        return {"problem": sandbox_problem()}
    scratch = Path(tempfile.mkdtemp(prefix="medprep-bench-sandbox-"))
    box = Sandbox(scratch, ROOT, scratch, env={"PATH": "/usr/bin:/bin", "HOME": str(scratch)})
    box.prepare()
    times = {"plain": [], "sandbox": []}
    for _ in range(repeats):
        for kind, command in (("plain", [sys.executable, "-c", "pass"]), ("sandbox", box.command([sys.executable, "-c", "pass"]))):
            start = time.perf_counter()
            subprocess.run(command, check=True)
            times[kind].append(time.perf_counter() - start)
    shutil.rmtree(scratch, ignore_errors=True)
    return {kind: statistics.median(values) for kind, values in times.items()}


def table(result: dict) -> str:
    n, k = result["students"], result["single"]
    lines = [
        f"| lesson | plain run of the submission s/notebook | 1 process, {k} students: s/notebook | ratio | "
        f"2 processes, {n} students: s/notebook | ratio (goal ≤ {GOAL}) | grades as expected |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    total = {"plain": 0.0, 1: 0.0, 2: 0.0}
    for lesson, row in result["rows"].items():
        lines.append(
            f"| {lesson} | {row['plain']:.1f} | {row[1]:.1f} | {row[1] / row['plain']:.2f} | {row[2]:.1f} | "
            f"**{row[2] / row['plain']:.2f}** | {'yes' if row['as expected'] else 'NO'} |"
        )
        for key in total:
            total[key] += row[key]
    lines.append(
        f"| **whole course** | {total['plain']:.1f} | {total[1]:.1f} | {total[1] / total['plain']:.2f} | {total[2]:.1f} | "
        f"**{total[2] / total['plain']:.2f}** | |"
    )
    lines.append("")
    lines.append(f"A class of {n} grades in about {total[2] * n / 60:.1f} min on this machine with two processes.")
    startup = result.get("sandbox")
    if startup and "problem" not in startup:
        lines.append(f"Sandbox start-up: `python -c pass` {startup['plain'] * 1000:.0f} ms plain, "
                     f"{startup['sandbox'] * 1000:.0f} ms in bubblewrap with its limits "
                     f"(+{(startup['sandbox'] - startup['plain']) * 1000:.0f} ms per kernel).")
    elif startup:
        lines.append(f"Sandbox start-up not measured: {startup['problem']}")
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30, help="class size (default 30)")
    parser.add_argument("--single", type=int, default=4, help="students graded with one process (default 4)")
    parser.add_argument("--lessons", nargs="+", default=None, help="only these lessons")
    args = parser.parse_args(argv)
    text = table(measure(args.students, args.single, args.lessons))
    print(text)
    return text


if __name__ == "__main__":
    main()
