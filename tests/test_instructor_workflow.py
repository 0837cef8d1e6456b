"""The instructor workflow of the README, on the sample submissions (tests/make_submissions.py).

For each lesson, ``instructor_run`` (conftest.py) does what the README tells an instructor to
do, in a temporary copy of the course: collect the submissions into ``submitted/``, autograde
them in one nbgrader call, grade the written answers by hand (as formgrader does), generate
feedback and export the grades. These tests check what came out.
"""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from grading import ROOT, copy_course, lessons, student_path

LESSONS = [lesson for lesson in lessons() if student_path(lesson).exists()]


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_every_sample_gets_the_marks_it_deserves(lesson, instructor_run):
    record = instructor_run(lesson)
    assert record["expected"], f"no sample submissions for {lesson}"
    for student, expected in record["expected"].items():
        grades = record["auto"][student]
        tests = {name for name, g in grades.items() if name.endswith("_checks")}
        assert tests == set(expected["pass"]) | set(expected["zero"]), f"{student}: unexpected test cells {tests}"
        for name in expected["pass"]:
            assert grades[name]["auto"] == grades[name]["max"] > 0, f"{lesson}/{student}: {name} should get full marks"
        for name in expected["zero"]:
            assert grades[name]["auto"] == 0, f"{lesson}/{student}: {name} should score zero"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_written_answers_wait_for_the_instructor(lesson, instructor_run):
    record = instructor_run(lesson)
    for student, expected in record["expected"].items():
        written = {n: g for n, g in record["auto"][student].items() if not n.endswith("_checks")}
        for name, grade in written.items():
            if name in expected["written"]:
                assert grade["auto"] is None, f"{student}/{name}: an answered question needs a human"
                assert record["final"][student][name]["score"] == grade["max"], f"{student}/{name}: manual grade lost"
            else:
                assert grade["auto"] == 0, f"{student}/{name}: an unanswered question scores zero without a human"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_feedback_and_grades_csv_are_written(lesson, instructor_run):
    record = instructor_run(lesson)
    with open(record["grades_csv"], newline="") as handle:
        rows = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(handle)}
    for student in record["expected"]:
        final = record["final"][student]
        total = sum(g["score"] for g in final.values())
        row = rows[(lesson, student)]
        assert float(row["score"]) == pytest.approx(total), f"{student}: grades.csv disagrees with the gradebook"
        maximum = sum(g["max"] for g in final.values())
        assert float(row["max_score"]) == pytest.approx(maximum)
        html = open(record["feedback"][student], encoding="utf-8").read()
        assert f"Score: {total:.1f} / {maximum:.1f}" in html, f"{student}: the feedback does not show the score {total}"
        assert len(html) < 5_000_000, f"{student}: feedback of {len(html) / 1e6:.1f} MB is not readable"


@pytest.mark.slow
def test_zip_collect_files_submissions_by_student(tmp_path):
    """Without JupyterHub: files named <student>_<lesson>.ipynb go to submitted/<student>/<lesson>/."""
    lesson = LESSONS[0]
    course = copy_course(tmp_path)
    archive = course / "downloaded" / lesson / "archive"
    archive.mkdir(parents=True)
    notebook = student_path(lesson).read_bytes()
    for student in ("ada", "jo_ann"):
        (archive / f"{student}_{lesson}.ipynb").write_bytes(notebook)
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", "zip_collect", lesson],
        cwd=course, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for student in ("ada", "jo_ann"):
        assert (course / "submitted" / student / lesson / f"{lesson}.ipynb").read_bytes() == notebook, run.stderr[-3000:]
    assert not (ROOT / "submitted").exists(), "zip_collect wrote into the repository"
