"""Test-session setup: one instructor workflow per lesson, shared by every test and xdist worker.

Autograding is the slow part of the suite, so each lesson's sample submissions are graded
once per test session (``instructor_run``): the first worker that needs a lesson grades it
while holding a lock file, the others wait for it and read its record.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading import SUBMISSIONS, copy_course, instructor_workflow, load_json, nbgrader_meta, sample_submissions, solution_path  # noqa: E402


def _shared_tmp(tmp_path_factory) -> Path:
    """A folder every xdist worker of this session sees (each worker has its own basetemp below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _exclusive(lock: Path, patience: float = 1800):
    """Hold ``lock`` (a file created atomically) while the block runs; wait while another process holds it."""
    deadline = time.monotonic() + patience
    while True:
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lock} held for more than {patience} s") from None
            time.sleep(0.5)
    try:
        os.write(handle, str(os.getpid()).encode())
        os.close(handle)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _manual_scores(lesson: str, expected: dict) -> dict[str, dict[str, float]]:
    """What the instructor gives in formgrader: full points for every written answer a sample filled in."""
    points = {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"])
        for c in load_json(solution_path(lesson))["cells"]
        if nbgrader_meta(c).get("grade")
    }
    return {
        student: {grade_id: points[grade_id] for grade_id in by_lesson[lesson]["written"]}
        for student, by_lesson in expected.items()
        if lesson in by_lesson
    }


def _run(folder: Path, lesson: str) -> dict:
    import make_submissions

    files, expected = make_submissions.build()
    stale = sorted(str(p.relative_to(SUBMISSIONS)) for p, text in files.items() if not p.exists() or p.read_text() != text)
    if stale:
        raise RuntimeError(
            f"tests/submissions is out of date with solutions/ and notebooks/ ({', '.join(stale[:4])}...): "
            "run `python tests/make_submissions.py`"
        )
    course = copy_course(folder / "course", with_data=True)
    record = instructor_workflow(course, lesson, sample_submissions(lesson), _manual_scores(lesson, expected))
    record["expected"] = {student: by_lesson[lesson] for student, by_lesson in expected.items() if lesson in by_lesson}
    return record


@pytest.fixture(scope="session")
def instructor_run(tmp_path_factory):
    """``instructor_run(lesson)`` -> the record of :func:`grading.instructor_workflow` on the samples, plus ``expected``."""
    shared = _shared_tmp(tmp_path_factory)

    def run(lesson: str) -> dict:
        result = shared / f"instructor-{lesson}" / "record.json"
        with _exclusive(shared / f"instructor-{lesson}.lock"):
            if not result.exists():
                result.parent.mkdir(parents=True, exist_ok=True)
                try:
                    record = _run(result.parent, lesson)
                except Exception:  # recorded, so that a worker waiting for it does not redo the work
                    record = {"error": traceback.format_exc()}
                result.write_text(json.dumps(record))
        record = json.loads(result.read_text())
        if "error" in record:
            pytest.fail(f"grading the sample submissions of {lesson} failed:\n{record['error']}", pytrace=False)
        return record

    return run
