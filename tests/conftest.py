"""Test-session setup: one instructor workflow per lesson, shared by every test and xdist worker.

Autograding is the slow part of the suite, so each lesson's sample submissions are graded
once per test session (``instructor_run``): the worker that takes a lesson's lock file grades
it and writes a record that every test, in every worker, reads.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Every process the session starts (xdist workers, nbval, nbgrader, kernels) would spend 2-4 s of
# CPU building a grammar it never uses when it imports nbformat: lazy_imports/rfc3987_syntax defers it.
_LAZY = str(Path(__file__).resolve().parent / "lazy_imports")
if _LAZY not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_LAZY, os.environ.get("PYTHONPATH")]))

# Hidden test inputs are drawn from the course secret: a fixed one for the test session (never the
# instructor's own file in ~/.config/medprep).
os.environ.setdefault("MEDPREP_GRADING_SECRET", "medprep-test-session-secret-0123456789")

from grading import (  # noqa: E402
    SUBMISSIONS,
    copy_course,
    instructor_workflow,
    lessons,
    load_json,
    nbgrader_meta,
    solution_path,
    student_path,
)


def _shared_tmp(tmp_path_factory) -> Path:
    """A folder every xdist worker of this session sees (each worker has its own basetemp below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _try_lock(lock: Path) -> bool:
    """Create ``lock`` atomically; False when another process holds it."""
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


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
    """Grade the samples as make_submissions.py builds them from the current solutions.

    They equal the committed ones in tests/submissions/ whenever test_grading_safety's sync
    test passes; grading the fresh build keeps these tests about the solutions, not about a
    forgotten `python tests/make_submissions.py` (which the sync test reports by name).
    """
    import make_submissions

    files, expected = make_submissions.build()
    samples = {}
    for path, text in files.items():
        if path.suffix == ".ipynb" and path.parent.name == lesson:
            copy = folder / "samples" / path.relative_to(SUBMISSIONS)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(text)
            samples[path.parents[1].name] = copy
    course = copy_course(folder / "course", with_data=True)
    start = time.perf_counter()
    record = instructor_workflow(course, lesson, samples, _manual_scores(lesson, expected))
    record["seconds"] = time.perf_counter() - start
    record["expected"] = {student: by_lesson[lesson] for student, by_lesson in expected.items() if lesson in by_lesson}
    return record


#: Lessons that the selected tests grade (set when collection finishes, in every xdist worker).
NEEDED: list[str] = []


def pytest_collection_modifyitems(items):
    # Longest work first: tests that grade samples start at once, on both workers.
    items.sort(key=lambda item: "instructor_run" not in getattr(item, "fixturenames", ()))


def pytest_collection_finish(session):
    first = next((lesson for lesson in lessons() if student_path(lesson).exists()), None)
    for item in session.items:
        if "instructor_run" in getattr(item, "fixturenames", ()):
            callspec = getattr(item, "callspec", None)
            lesson = callspec.params.get("lesson", first) if callspec else first
            if lesson not in NEEDED:
                NEEDED.append(lesson)


@pytest.fixture(scope="session")
def instructor_run(tmp_path_factory):
    """``instructor_run(lesson)`` -> the record of :func:`grading.instructor_workflow` on the samples, plus ``expected``.

    Each lesson is graded once per session. A worker whose lesson is being graded by another
    worker grades a lesson nobody has started yet meanwhile, so both cores stay busy.
    """
    shared = _shared_tmp(tmp_path_factory)

    def grade(lesson: str) -> None:
        result = shared / f"instructor-{lesson}" / "record.json"
        result.parent.mkdir(parents=True, exist_ok=True)
        try:
            record = _run(result.parent, lesson)
        except Exception:  # recorded, so that a worker waiting for it does not redo the work
            record = {"error": traceback.format_exc()}
        partial = result.with_suffix(".partial")
        partial.write_text(json.dumps(record))
        partial.replace(result)  # appears complete or not at all

    def run(lesson: str) -> dict:
        from medprep_grader.sandbox import sandbox_problem

        if sandbox_problem():  # grading refuses to run without its sandbox (README: install bubblewrap)
            pytest.skip(f"no grading sandbox on this machine: {sandbox_problem()}")
        result = shared / f"instructor-{lesson}" / "record.json"
        deadline = time.monotonic() + 1800
        while not result.exists():
            if _try_lock(shared / f"instructor-{lesson}.lock"):
                grade(lesson)
                continue
            others = [o for o in NEEDED if o != lesson and not (shared / f"instructor-{o}" / "record.json").exists()]
            stolen = next((o for o in others if _try_lock(shared / f"instructor-{o}.lock")), None)
            if stolen:
                grade(stolen)
            elif time.monotonic() > deadline:
                raise TimeoutError(f"{lesson} was not graded within 30 minutes")
            else:
                time.sleep(0.5)
        record = json.loads(result.read_text())
        if "error" in record:
            pytest.fail(f"grading the sample submissions of {lesson} failed:\n{record['error']}", pytrace=False)
        return record

    return run
