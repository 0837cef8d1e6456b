"""Write the sample submissions the grading tests autograde: ``tests/submissions/``.

Each sample is what a learner could hand in, built from the student version
(``notebooks/``) and the instructor version (``solutions/``) of a lesson:

- for every lesson: ``correct`` (every exercise and written answer filled in from the
  solutions), ``blank`` (the student notebook untouched) and ``partial`` (the first half
  of the exercises and written answers filled in, the rest untouched);
- for the first lesson only, the submissions that must not harm grading:

  ``infinite_loop``  the second exercise's function never returns;
  ``kernel_death``   the second exercise's answer cell ends with ``os._exit(1)``;
  ``tampered``       the first two exercises unanswered, the first one's visible test
                     rewritten to print success, the second one's test cell deleted,
                     the third one's points raised to 100 in the cell metadata;
  ``careless``       correct answers, but the first answer prints megabytes, the second
                     draws a figure of megabytes, and a last cell deletes the course data.

The layout is nbgrader's ``submitted/<student>/<lesson>/<lesson>.ipynb`` (the sample's
kind is the student id), so an instructor can try grading with
``cp -r tests/submissions/* submitted/``. ``expected.json`` says, per student and lesson,
which test cells must pass and which must score zero. Run after changing a solution::

    python tests/make_submissions.py

``tests/test_grading_safety.py`` checks that the committed files are what this script writes.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading import lessons, load_json, nbgrader_meta, solution_path, student_path  # noqa: E402

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
EXPECTED = SUBMISSIONS / "expected.json"

#: Sample kinds written for every lesson, and those written for the first lesson only.
EVERY_LESSON = ("correct", "blank", "partial")
FIRST_LESSON_ONLY = ("infinite_loop", "kernel_death", "tampered", "careless")

_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_CHECKS = re.compile(r"# Checks for `?(\w+)`?")


# --------------------------------------------------------------------------- reading the notebooks


def exercises(notebook: dict) -> list[str]:
    """Names of the graded functions (or answer variables), in notebook order."""
    names = []
    for cell in notebook["cells"]:
        meta = nbgrader_meta(cell)
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            match = _CHECKS.match("".join(cell["source"]))
            if match:
                names.append(match.group(1))
    return names


def written_answers(notebook: dict) -> list[str]:
    """grade_ids of the manually graded written answers (markdown solution + grade cells)."""
    return [
        nbgrader_meta(c)["grade_id"]
        for c in notebook["cells"]
        if c["cell_type"] == "markdown" and nbgrader_meta(c).get("solution") and nbgrader_meta(c).get("grade")
    ]


def _index(notebook: dict, grade_id: str) -> int:
    for index, cell in enumerate(notebook["cells"]):
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return index
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def _answer_text(solution_cell: dict) -> str:
    """What a learner who got it right would have typed: the solution without its markers."""
    lines = [line for line in _source(solution_cell).splitlines() if not _MARKER.match(line)]
    text = "\n".join(lines)
    if solution_cell["cell_type"] == "markdown":
        text = re.sub(r"^\*\*Model answer\.\*\*\s*", "", text)
    return text


# --------------------------------------------------------------------------- building the samples


def _filled(student: dict, solution: dict, functions: list[str], written: list[str]) -> dict:
    """The student notebook with the answers to ``functions`` and ``written`` filled in."""
    notebook = copy.deepcopy(student)
    for grade_id in [f"{name}_answer" for name in functions] + list(written):
        _set_source(notebook["cells"][_index(notebook, grade_id)], _answer_text(solution["cells"][_index(solution, grade_id)]))
    return notebook


def _first_half(items: list[str]) -> list[str]:
    return items[: (len(items) + 1) // 2]


def _function_exercises(solution: dict, names: list[str]) -> list[str]:
    """The exercises whose answer is a function (``def``), not a variable."""
    return [n for n in names if f"def {n}(" in _source(solution["cells"][_index(solution, f"{n}_answer")])]


def _never_returns(solution_cell: dict) -> str:
    """The function with its body replaced by a loop whose counter is never advanced."""
    lines, inside = [], False
    for line in _source(solution_cell).splitlines():
        if re.match(r"^\s*### BEGIN SOLUTION", line):
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            lines += [
                f"{indent}step = 0",
                f"{indent}while step < 10:  # forgot `step += 1`: this loop never ends",
                f"{indent}    total = step * 2",
                f"{indent}return total",
            ]
        elif re.match(r"^\s*### END SOLUTION", line):
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


FLOOD = '''
# Debugging output left in: one line of 2 MB, then 30 000 lines (1.5 MB).
print("x" * 2_000_000)
for row in range(30_000):
    print(f"debug: row {row} looks fine " + "." * 20)'''

HUGE_FIGURE = '''
# A huge figure of noise: a PNG of a few megabytes.
huge_figure, huge_axes = plt.subplots(figsize=(10, 10))
huge_axes.imshow(np.random.default_rng(0).random((1000, 1000)), cmap="gray")
huge_axes.set_title("noise")
plt.show()'''

DELETE_DATA = '''# Tidying up before I hand in: I do not need the course data any more.
import shutil

from medprep_helpers import data as course_data

shutil.rmtree(course_data.data_dir())'''


def samples(lesson: str, first_lesson: bool) -> dict[str, tuple[dict, dict]]:
    """``{student: (notebook, expectation)}`` for one lesson.

    ``expectation`` has ``pass`` and ``zero`` (test-cell grade_ids that must get full
    marks, and zero) and ``written`` (grade_ids of the written answers filled in).
    """
    solution, student = load_json(solution_path(lesson)), load_json(student_path(lesson))
    names, written = exercises(solution), written_answers(solution)
    checks = {name: f"{name}_checks" for name in names}

    def expect(passing: list[str], answered: list[str]) -> dict:
        return {
            "pass": [checks[n] for n in names if n in passing],
            "zero": [checks[n] for n in names if n not in passing],
            "written": list(answered),
        }

    out = {
        "correct": (_filled(student, solution, names, written), expect(names, written)),
        "blank": (copy.deepcopy(student), expect([], [])),
        "partial": (
            _filled(student, solution, _first_half(names), _first_half(written)),
            expect(_first_half(names), _first_half(written)),
        ),
    }
    if not first_lesson:
        return out

    functions = _function_exercises(solution, names)
    looping, dying = functions[1], functions[1]

    notebook = _filled(student, solution, names, written)
    answer = notebook["cells"][_index(notebook, f"{looping}_answer")]
    _set_source(answer, _never_returns(solution["cells"][_index(solution, f"{looping}_answer")]))
    out["infinite_loop"] = (notebook, expect([n for n in names if n != looping], written))

    notebook = _filled(student, solution, names, written)
    answer = notebook["cells"][_index(notebook, f"{dying}_answer")]
    _set_source(answer, _source(answer) + "\n\nimport os\n\nos._exit(1)  # ends the kernel process at once")
    out["kernel_death"] = (notebook, expect(names[: names.index(dying)], written))

    edited, deleted, inflated = names[0], names[1], names[2]
    notebook = _filled(student, solution, names[2:], written)
    test = notebook["cells"][_index(notebook, checks[edited])]
    _set_source(test, f'# Checks for {edited}\nprint("{edited}: all checks passed")')
    nbgrader_meta(notebook["cells"][_index(notebook, checks[inflated])])["points"] = 100
    del notebook["cells"][_index(notebook, checks[deleted])]
    out["tampered"] = (notebook, expect(names[2:], written))

    notebook = _filled(student, solution, names, written)
    for name, extra in ((functions[0], FLOOD), (functions[1], HUGE_FIGURE)):
        answer = notebook["cells"][_index(notebook, f"{name}_answer")]
        _set_source(answer, _source(answer) + "\n" + extra)
    last = {"cell_type": "code", "execution_count": None, "id": "tidy-up", "metadata": {}, "outputs": [], "source": []}
    _set_source(last, DELETE_DATA)
    notebook["cells"].append(last)
    out["careless"] = (notebook, expect(names, written))
    return out


def ready_lessons() -> list[str]:
    """The lessons with both a solution and a generated student notebook."""
    return [lesson for lesson in lessons() if student_path(lesson).exists()]


def build() -> tuple[dict[Path, str], dict]:
    """Every sample file's text (by path) and the expectations, for the lessons that exist."""
    files, expected = {}, {}
    for position, lesson in enumerate(ready_lessons()):
        for student, (notebook, expectation) in samples(lesson, first_lesson=position == 0).items():
            files[SUBMISSIONS / student / lesson / f"{lesson}.ipynb"] = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
            expected.setdefault(student, {})[lesson] = expectation
    files[EXPECTED] = json.dumps(expected, indent=1, sort_keys=True) + "\n"
    return files, expected


def main() -> None:
    files, _ = build()
    stale = [p for p in SUBMISSIONS.glob("*/*/*.ipynb") if p not in files]
    for path in stale:
        path.unlink()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in sorted(SUBMISSIONS.glob("*/*"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    print(f"wrote {len(files)} files under {SUBMISSIONS.relative_to(Path.cwd()) if SUBMISSIONS.is_relative_to(Path.cwd()) else SUBMISSIONS}")


if __name__ == "__main__":
    main()
