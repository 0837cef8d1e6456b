"""Broken submissions are graded without harm and get the marks they deserve.

The samples (tests/make_submissions.py) are graded with the course's nbgrader_config.py in
``instructor_run`` (conftest.py); the broken kinds exist for the first lesson only:
``infinite_loop``, ``kernel_death``, ``tampered`` (edited, deleted and re-pointed test cells)
and ``careless`` (megabytes of output, a huge figure, deletes the course data).
"""

from __future__ import annotations

import json
from pathlib import Path

import make_submissions
import pytest

from grading import lessons, student_path

FIRST = next(lesson for lesson in lessons() if student_path(lesson).exists())


@pytest.fixture
def record(instructor_run) -> dict:
    """The instructor workflow's record for the first lesson, the one with the broken samples."""
    return instructor_run(FIRST)


def _autograded(record: dict, student: str) -> dict:
    lesson = record["lesson"]
    return json.loads((Path(record["course"]) / "autograded" / student / lesson / f"{lesson}.ipynb").read_text())


def _cell(notebook: dict, grade_id: str) -> dict:
    return next(c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def _errors(cell: dict) -> list[str]:
    return [o["ename"] for o in cell.get("outputs", []) if o["output_type"] == "error"]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def _assert_marks(record: dict, student: str) -> dict:
    """Check ``student``'s marks against the expectation; return the autograded notebook."""
    expected, grades = record["expected"][student], record["auto"][student]
    for name in expected["pass"]:
        assert grades[name]["auto"] == grades[name]["max"], f"{student}: {name} lost its marks"
    for name in expected["zero"]:
        assert grades[name]["auto"] == 0, f"{student}: {name} should score zero"
    return _autograded(record, student)


def test_committed_submissions_match_the_solutions():
    files, _ = make_submissions.build()
    stale = [str(p) for p, text in files.items() if not p.exists() or p.read_text() != text]
    assert not stale, f"run `python tests/make_submissions.py`: out of date: {stale}"
    extra = set(make_submissions.SUBMISSIONS.glob("*/*/*.ipynb")) - set(files)
    assert not extra, f"run `python tests/make_submissions.py`: stale samples {sorted(map(str, extra))}"


def test_samples_cover_every_kind():
    _, expected = make_submissions.build()
    assert set(expected) == set(make_submissions.EVERY_LESSON + make_submissions.FIRST_LESSON_ONLY)
    kernel = expected["kernel_death"][FIRST]
    assert kernel["pass"] and kernel["zero"], "kernel_death must have tests both above and below the death"


@pytest.mark.slow
def test_infinite_loop_is_stopped_and_only_its_tests_fail(record):
    notebook = _assert_marks(record, "infinite_loop")
    for name in record["expected"]["infinite_loop"]["zero"]:
        assert "CellTimeoutError" in _errors(_cell(notebook, name)), f"{name}: not stopped by the time limit"


@pytest.mark.slow
def test_kernel_death_zeroes_the_tests_below_it_only(record):
    notebook = _assert_marks(record, "kernel_death")
    zero = record["expected"]["kernel_death"]["zero"]
    dying = _cell(notebook, zero[0].replace("_checks", "_answer"))
    assert "DeadKernelError" in _errors(dying), "the cell that killed the kernel is not marked"
    for name in zero:
        assert _errors(_cell(notebook, name)) == ["NotRun"], f"{name}: should be marked as not run"
    assert "Stopped at cell" in record["autograde_log"]


@pytest.mark.slow
def test_deleting_the_course_data_harms_nobody(record):
    _assert_marks(record, "careless")
    # Students are graded in alphabetical order: these come after "careless" deleted its data.
    later = [s for s in record["expected"] if s > "careless" and s in ("correct", "partial")]
    assert later, "no sample is graded after the one that deletes the data"
    for student in later:
        _assert_marks(record, student)
    assert record["data_problems"] == [], f"the course data was damaged: {record['data_problems']}"
    assert "was changed while grading" not in record["autograde_log"]


@pytest.mark.slow
def test_edited_deleted_and_reweighted_tests_are_restored(record):
    notebook = _assert_marks(record, "tampered")
    assert {n: g["max"] for n, g in record["auto"]["tampered"].items()} == {
        n: g["max"] for n, g in record["auto"]["correct"].items()
    }, "points edited in the submission's metadata were used"
    reference = _autograded(record, "correct")
    for name in record["expected"]["tampered"]["zero"]:
        original = _text(_cell(reference, name)["source"])
        assert _text(_cell(notebook, name)["source"]).endswith(original), f"{name}: not the original test"
        assert _errors(_cell(notebook, name)), f"{name}: the original test did not run"
    log = record["autograde_log"]
    assert "was edited in the submission" in log and "Missing grade cell" in log
    assert log.count("was edited in the submission") == 1, "unedited test cells with hidden tests were reported as edited"


@pytest.mark.slow
def test_huge_outputs_are_cut(record):
    notebook = _assert_marks(record, "careless")
    texts, removed = [], []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                texts.append(_text(output["text"]))
            for mime, value in output.get("data", {}).items():
                assert len(_text(value)) < 1_400_000, f"a {mime} output of {len(_text(value)):,} characters was kept"
                if mime == "text/plain" and "removed by the grader" in _text(value):
                    removed.append(_text(value))
    assert removed, "the huge figure was not replaced by a note"
    assert all(len(t) < 25_000 and t.count("\n") <= 201 for t in texts), "a text output was not cut"
    assert any("cut at 20,000" in t for t in texts), "the 2 MB line was not cut"
    assert Path(record["feedback"]["careless"]).stat().st_size < 1.5 * Path(record["feedback"]["correct"]).stat().st_size
