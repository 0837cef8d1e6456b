"""Broken and hostile submissions are graded without harm and get no more than they deserve.

The samples (tests/make_submissions.py) are graded with the course's nbgrader_config.py in
``instructor_run`` (conftest.py). The broken kinds exist for the first lesson only:
``infinite_loop``, ``kernel_death``, ``tampered`` (edited, deleted and re-pointed test cells)
and ``careless`` (megabytes of output, a huge figure, deletes the course data). The hostile
kinds (lessons 1 and 3) carry one class of attack each from the grading issue's threat model:
each must score what the same submission without the attack scores (their expectations are
the honest ones), and leave the gradebook, the other students' files, the course code and
data, and the grader's HOME as they were.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import make_submissions
import pytest

from grading import lessons, student_path

FIRST = next(lesson for lesson in lessons() if student_path(lesson).exists())
HOSTILE = [lesson for position, lesson in enumerate(lessons()) if position in make_submissions.HOSTILE_LESSONS]


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
    hostile = {"hostile_same_process", "hostile_reach_expected", "hostile_instructor", "hostile_metadata",
               "hostile_reply", "hostile_outputs", "hostile_sandbox", "hostile_helper_answer"}
    assert set(expected) == set(make_submissions.EVERY_LESSON + make_submissions.FIRST_LESSON_ONLY) | hostile
    for kind in hostile - {"hostile_helper_answer", "hostile_sandbox"}:
        assert set(expected[kind]) == set(HOSTILE), kind
        for lesson in HOSTILE:
            assert expected[kind][lesson] == expected["partial"][lesson], f"{kind}: not the honest counterpart"
    kernel = expected["kernel_death"][FIRST]
    assert kernel["pass"] and kernel["zero"], "kernel_death must have tests both above and below the death"


@pytest.mark.slow
def test_infinite_loop_is_stopped_and_only_its_tests_fail(record):
    notebook = _assert_marks(record, "infinite_loop")
    for name in record["expected"]["infinite_loop"]["zero"]:
        cell = _cell(notebook, name)
        assert _errors(cell) == ["CheckFailed"] and "did not return within" in cell["outputs"][0]["evalue"], name


@pytest.mark.slow
def test_a_kernel_death_costs_only_the_answer_that_caused_it(record):
    notebook = _assert_marks(record, "kernel_death")
    (dead,) = record["expected"]["kernel_death"]["zero"]
    dying = _cell(notebook, dead.replace("_checks", "_answer"))
    assert "DeadKernelError" in _errors(dying), "the cell that killed the kernel is not marked"
    assert record["expected"]["kernel_death"]["pass"], "no answer after the death to be graded"
    assert "a fresh kernel re-runs the cells above it" in record["autograde_log"]


@pytest.mark.slow
def test_deleting_the_course_data_harms_nobody(record):
    _assert_marks(record, "careless")
    # Students are graded in alphabetical order: these come after "careless" deleted its data.
    later = [s for s in record["expected"] if s > "careless" and s in ("correct", "partial")]
    assert later, "no sample is graded after the one that deletes the data"
    for student in later:
        _assert_marks(record, student)
    assert record["data_problems"] == [], f"the course data was damaged: {record['data_problems']}"
    assert "changed while grading" not in record["autograde_log"]


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
    assert "was edited in the submission of tampered" in log and "was deleted from the submission of tampered" in log
    assert log.count("was edited in the submission of tampered") == 1, "unedited check cells were reported as edited"


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
    removed = [t for t in texts if "the grader removed outputs" in t and "image/png" in t]
    assert removed, "the huge figure was not replaced by a note"
    assert all(len(t) < 25_000 and t.count("\n") <= 201 for t in texts), "a text output was not cut"
    assert any("output cut by the grader" in t for t in texts), "the 2 MB line was not cut"
    assert Path(record["feedback"]["careless"]).stat().st_size < 1.5 * Path(record["feedback"]["correct"]).stat().st_size


# --------------------------------------------------------------------------- hostile submissions


@pytest.fixture(params=HOSTILE)
def hostile_record(request, instructor_run) -> dict:
    return instructor_run(request.param)


@pytest.mark.slow
def test_attacks_harm_nothing(hostile_record):
    record = hostile_record
    assert record["data_problems"] == [], f"the course data was damaged: {record['data_problems']}"
    assert record["code_changed"] == [], f"the course code changed: {record['code_changed']}"
    assert record["submitted_changed"] == [], f"submissions changed: {record['submitted_changed']}"
    assert record["home_changed"] == [], f"the grader's HOME changed: {record['home_changed']}"
    course = Path(record["course"])
    assert not (course / "escape.txt").exists() and not Path("/tmp/medprep-escape.txt").exists()
    for student in record["expected"]:  # nobody else's autograded notebook was blanked
        assert _autograded(record, student)["cells"], student


@pytest.mark.slow
def test_looted_secrets_do_not_reach_the_feedback(hostile_record):
    import os

    html = Path(hostile_record["feedback"]["hostile_instructor"]).read_text()
    notebook = json.dumps(_autograded(hostile_record, "hostile_instructor"))
    notes = (Path(__file__).resolve().parents[1] / "solutions" / "instructor_notes.md").read_text().splitlines()
    secret = os.environ["MEDPREP_GRADING_SECRET"]
    for text in (html, notebook):
        assert secret not in text, "the course secret leaked"
        assert not [line for line in notes if len(line) > 40 and line in text], "the instructor notes leaked"
    assert "LOOT" in notebook, "the attack did not run: the test would prove nothing"


@pytest.mark.slow
def test_active_content_never_reaches_feedback_or_formgrader(hostile_record):
    html = Path(hostile_record["feedback"]["hostile_outputs"]).read_text()
    notebook = json.dumps(_autograded(hostile_record, "hostile_outputs"))
    # The attack's code is shown as (escaped) text, which is fine; what must never appear is active content:
    # a script element carrying the payload, an element with an event handler, an embedded document or SVG,
    # or a javascript: link.
    active = {
        "script element": r"<script[^>]*>[^<]*pwned",
        "event handler": r"<[a-zA-Z][^<>]*\son[a-z]+\s*=[^<>]*pwned",
        "embedded document or SVG": r"<(iframe|svg|object|embed)\b",
        "javascript: link": r"""<[a-zA-Z][^<>]*\s(href|src)\s*=\s*["']?\s*javascript:""",
    }
    for what, pattern in active.items():
        found = re.findall(pattern, html, flags=re.IGNORECASE)
        assert not found, f"a {what} reached the feedback HTML: {found[:2]}"
    assert "pwned" in html, "the attack's cells are missing from the feedback: the test would prove nothing"
    graded = _autograded(hostile_record, "hostile_outputs")
    for cell in graded["cells"]:
        for output in cell.get("outputs", []):
            kinds = set(output.get("data", {}))
            assert kinds <= {"text/plain", "image/png", "image/jpeg"}, f"kept for formgrader: {sorted(kinds)}"
    outputs = json.dumps([c.get("outputs", []) for c in graded["cells"]])
    assert "<script" not in outputs and "javascript:" not in outputs
    markdown = "\n".join(_text(c["source"]) for c in graded["cells"] if c["cell_type"] == "markdown")
    assert "<script" not in markdown and "<img" not in markdown and "javascript:" not in markdown
    assert "UnresponsiveKernel" in notebook, "the interrupt-ignoring loop was not stopped"


@pytest.mark.slow
def test_the_sandbox_stops_reads_writes_network_and_fork_bombs(hostile_record):
    notebook = _autograded(hostile_record, "hostile_sandbox")
    attack = next(c for c in notebook["cells"] if "read the solutions" in _text(c["source"]))
    report = "".join(_text(o.get("text", "")) for o in attack["outputs"])
    assert "'read': 'FileNotFoundError'" in report or "'read': 'PermissionError'" in report, report
    assert "written" not in report and "connected" not in report, report
    bomb = next(c for c in notebook["cells"] if "fork a thousand" in _text(c["source"]))
    forked = "".join(_text(o.get("text", "")) for o in bomb["outputs"])
    # Stopped by the process limit, or (on a very busy machine) by the time limit, with the kernel replaced.
    assert "fork: stopped after" in forked or {"UnresponsiveKernel", "DeadKernelError"} & set(_errors(bomb)), forked
    _assert_marks(hostile_record, "hostile_sandbox")  # every answer after the attack still graded
