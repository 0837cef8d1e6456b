"""The grading pipeline: student notebooks in sync, no leaks, autograding round trips, nbval.

Fast tests check the committed files; tests marked ``slow`` run nbgrader and
execute notebooks (``pytest -m slow`` runs them alone).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from grading import (
    ROOT,
    lessons,
    load_json,
    nbgrader_meta,
    solution_path,
    student_path,
)

LESSONS = lessons()
MARKERS = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS|BEGIN MARK SCHEME")


def _split_marked(source: str) -> tuple[list[str], list[str]]:
    """(public lines, lines between solution or hidden-test markers) of one cell, stripped."""
    public, marked, inside = [], [], False
    for line in source.splitlines():
        if re.search(r"### BEGIN (SOLUTION|HIDDEN TESTS)", line):
            inside = True
        elif re.search(r"### END (SOLUTION|HIDDEN TESTS)", line):
            inside = False
        else:
            (marked if inside else public).append(line.strip())
    return public, marked


def test_every_lesson_has_both_versions():
    assert LESSONS, "no solution notebooks found in solutions/"
    for lesson in LESSONS:
        assert student_path(lesson).exists(), f"{lesson}: student notebook missing; run nbgrader generate_assignment"
    students = sorted(p.parent.name for p in (ROOT / "notebooks").glob("*/*.ipynb"))
    assert students == LESSONS, f"notebooks/ {students} does not match solutions/ {LESSONS}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_student_notebook_leaks_nothing(lesson):
    student = load_json(student_path(lesson))
    student_text = "\n".join("".join(c["source"]) for c in student["cells"])
    assert not MARKERS.search(student_text), f"{lesson}: solution or hidden-test markers in the student notebook"
    for cell in student["cells"]:
        assert not cell.get("outputs"), f"{lesson}: student notebook has stored outputs"
    solution = load_json(solution_path(lesson))
    public, marked = set(), []
    for cell in solution["cells"]:
        cell_public, cell_marked = _split_marked("".join(cell["source"]))
        public.update(cell_public)
        marked.extend(cell_marked)
    # A marked line that the solution also shows in public (an import, say) is no secret.
    secrets = {line for line in marked if len(line) > 12 and not line.startswith("#") and line not in public}
    student_lines = {line.strip() for line in student_text.splitlines()}
    leaked = sorted(secrets & student_lines)
    assert not leaked, f"{lesson}: solution or hidden-test lines appear in the student notebook: {leaked[:5]}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_check_cells_are_one_line_naming_a_registered_exercise(lesson):
    from medprep_helpers import exercises

    solution = load_json(solution_path(lesson))
    ids, named = [], []
    for cell in solution["cells"]:
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        ids.append(meta["grade_id"])
        if meta.get("grade") and not meta.get("solution") and cell["cell_type"] == "code":
            source = "".join(cell["source"]).strip()
            match = re.fullmatch(r'check\("(\w+)"(?:, (\w+))?\)', source)
            assert match, f"{lesson}/{meta['grade_id']}: a check cell must be one line check(\"name\"[, name]), got {source!r}"
            name = match.group(1)
            assert match.group(2) in (None, name), f"{lesson}/{meta['grade_id']}: checks {name} with {match.group(2)}"
            assert meta["grade_id"] == f"{name}_checks", f"{lesson}: check cell of {name} has grade_id {meta['grade_id']}"
            assert exercises.get(name).lesson == lesson
            named.append(name)
    assert len(ids) == len(set(ids)), f"{lesson}: duplicate nbgrader grade_ids"
    assert named == [e.name for e in exercises.for_lesson(lesson)], (
        f"{lesson}: the notebook's exercises {named} differ from medprep_helpers.exercises"
    )


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_student_notebook_is_what_nbgrader_generates(lesson, instructor_run):
    # instructor_run (conftest.py) ran `nbgrader generate_assignment` in its copy of the course.
    course = Path(instructor_run(lesson)["course"])
    generated = course / "notebooks" / lesson / f"{lesson}.ipynb"
    assert load_json(generated) == load_json(student_path(lesson)), (
        f"notebooks/{lesson} is out of date: run `nbgrader generate_assignment {lesson} --force` "
        "(never edit student notebooks by hand)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_solutions_get_full_marks_and_blank_gets_zero(lesson, instructor_run):
    # The sample submissions "correct" (the solutions filled into the student version) and "blank"
    # (the untouched student version), autograded once per session (conftest.py, make_submissions.py).
    grades = instructor_run(lesson)["auto"]
    auto = {student: [g for g in grades[student].values() if g["auto"] is not None] for student in ("correct", "blank")}
    assert sum(g["max"] for g in auto["correct"]) > 0
    lost = [name for name, g in grades["correct"].items() if g["auto"] is not None and g["auto"] < g["max"]]
    assert not lost, f"{lesson}: solution lost marks in {lost}"
    blank = sum(g["auto"] for g in auto["blank"])
    assert blank == 0, f"{lesson}: the untouched student notebook scored {blank}"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_student_notebook_runs_up_to_its_first_exercise(lesson):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(student_path(lesson), as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    with pytest.raises(CellExecutionError) as error:
        client.execute()
    assert error.value.ename in {"NotImplementedError", "NotImplementedYet"}, error.value.ename
    cells = notebook.cells
    failing = next(i for i, c in enumerate(cells) if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    first_answer = next(
        i for i, c in enumerate(cells) if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")
    )
    assert first_answer <= failing <= first_answer + 2, "the first error is not at the first exercise"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_solution_outputs_match_a_fresh_run(lesson):
    """nbval: execute the solution notebook and compare with its stored outputs."""
    command = [
        sys.executable, "-m", "pytest", "--nbval", str(solution_path(lesson)),
        "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
        "-p", "no:cacheprovider", "-q", "-W", "error::DeprecationWarning",
    ]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


GENERIC_ALT = {"figure", "image", "plot", "chart", "graph", "picture", "img", "fig", "output", ""}


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_figure_has_its_own_alt_text(lesson):
    """Each image a learner sees says what it shows: no image output without alt text, none generic, none repeated."""
    seen: dict[str, int] = {}
    images = 0
    for index, cell in enumerate(load_json(solution_path(lesson))["cells"]):
        for output in cell.get("outputs", []):
            for mime in output.get("data", {}):
                if not mime.startswith("image/"):
                    continue
                images += 1
                alt = output.get("metadata", {}).get(mime, {}).get("alt", "")
                text = " ".join(str(alt).split()).lower().strip(".")
                assert text not in GENERIC_ALT and len(text.split()) >= 3, (
                    f"{lesson}, cell {index}: an image without a real alt text ({alt!r})"
                )
                assert text not in seen, f"{lesson}: cells {seen[text]} and {index} share the alt text {alt!r}"
                seen[text] = index
    assert images, f"{lesson}: no figure at all"
