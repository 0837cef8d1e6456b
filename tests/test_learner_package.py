"""The learner package: built wheel and sdist hold no answers; installed outside the repository, it works.

Once per test session (shared by the xdist workers), ``python -m build`` makes the wheel and the
sdist, and a fresh virtual environment outside the repository gets the wheel the way the README
tells learners: ``pip install medprep-<version>-py3-none-any.whl``. Then, as a learner would:
``medprep check``, ``medprep start``, lesson 1 up to its first exercise, ``medprep submit``;
and as the instructor would, ``nbgrader zip_collect`` and ``nbgrader autograde`` on what was
submitted, in a copy of the course folder.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

from conftest import _shared_tmp, _try_lock
from grading import ROOT, copy_course, generate, lessons, load_json, notebook_grades, solution_path, student_path

FIRST = "01_know_your_data"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# --- what must never ship ---------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _cell_text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _regions(text: str, kind: str = "SOLUTION|HIDDEN TESTS") -> list[str]:
    """The text between nbgrader's ``### BEGIN <kind>`` and ``### END <kind>`` markers."""
    return [m.group(2) for m in re.finditer(rf"### BEGIN ({kind})[^\n]*\n(.*?)### END \1", text, re.S)]


#: A code line that is only (part of) a string literal: a feedback message, which visible checks
#: may share with hidden ones; the answer is in the code and the cases, not in the hints.
MESSAGE = re.compile(r"""^[rfbu]*("[^"]*"|'[^']*')[),]*$""", re.I)


def _code(text: str) -> list[str]:
    return [line for line in _lines(text) if not MESSAGE.match(line)]


def _answer_blocks() -> list[list[str]]:
    """The answer key, as blocks of stripped lines: solution regions and hidden tests of solutions/,
    written model answers, the answer cells of the sample submissions in tests/submissions/, the instructor notes."""
    blocks = []
    for lesson in lessons():
        for cell in load_json(solution_path(lesson))["cells"]:
            if cell["cell_type"] == "markdown" and cell["metadata"].get("nbgrader", {}).get("solution"):
                blocks.append(_lines(_cell_text(cell)))
            else:
                blocks += [_code(region) for region in _regions(_cell_text(cell))]
    for sample in (ROOT / "tests" / "submissions").glob("*/*/*.ipynb"):
        blocks += [(_code if cell["cell_type"] == "code" else _lines)(_cell_text(cell))
                   for cell in load_json(sample)["cells"] if cell["metadata"].get("nbgrader", {}).get("solution")]
    blocks.append(_lines((ROOT / "solutions" / "instructor_notes.md").read_text()))
    return blocks


def _secrets() -> tuple[set[str], set[tuple[str, str]]]:
    """(long lines, pairs of consecutive lines) of the answer key that the student notebooks do not show.

    A line alone (``values = np.asarray(values, dtype=np.float64)``) may be an idiom that the helpers
    share; a line of 50 characters or more, or two consecutive lines of an answer, are the answer.
    """
    public = {line for lesson in lessons() for cell in load_json(student_path(lesson))["cells"]
              for line in _lines(_cell_text(cell))}
    # Imports and comments say nothing of an answer (a helper module may start with the same imports).
    blocks = [[line for line in block if not line.startswith(("import ", "from ", "#"))] for block in _answer_blocks()]
    long = {line for block in blocks for line in block if line not in public and len(line) >= 50}
    pairs = {(a, b) for block in blocks for a, b in zip(block, block[1:]) if not (a in public and b in public)}
    return long, pairs


def _leaks(name: str, data: bytes, secrets) -> list[str]:
    """The secret lines and line pairs that the file ``name`` (its text, a notebook's cell sources) contains."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []  # images: no answer can hide in the pixels of the course's synthetic data
    if name.endswith(".ipynb"):
        text = "\n".join(_cell_text(cell) for cell in json.loads(text)["cells"])
    lines = _lines(text)
    long, pairs = secrets
    return sorted(long & set(lines)) + [" / ".join(p) for p in sorted(pairs & set(zip(lines, lines[1:])))]


def _members(path: Path) -> dict[str, bytes]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return {name: wheel.read(name) for name in wheel.namelist()}
    with tarfile.open(path) as sdist:
        return {m.name.split("/", 1)[1]: sdist.extractfile(m).read() for m in sdist.getmembers() if m.isfile()}


FORBIDDEN_PATHS = re.compile(r"(^|/)(medprep_grader|solutions|tests|submissions)(/|$)|instructor_notes")


def test_leak_detector_finds_the_answer_key():
    """The detector below is only worth something if it sees answers where they are."""
    secrets = _secrets()
    assert len(secrets[0]) > 50 and len(secrets[1]) > 50
    for lesson in lessons():
        assert _leaks(f"{lesson}.ipynb", solution_path(lesson).read_bytes(), secrets), lesson
        assert not _leaks(f"{lesson}.ipynb", student_path(lesson).read_bytes(), secrets), lesson
    assert _leaks("notes.md", (ROOT / "solutions" / "instructor_notes.md").read_bytes(), secrets)
    sample = ROOT / "tests" / "submissions" / "correct" / FIRST / f"{FIRST}.ipynb"
    assert _leaks("sample.ipynb", sample.read_bytes(), secrets)


# --- the README's learner part --------------------------------------------------------------------------


def readme_learner_commands() -> list[str]:
    """The commands of the first code block of the README's "Learners" part, without their comments."""
    readme = (ROOT / "README.md").read_text()
    learners = readme[readme.index("\n## Learners"):readme.index("\n## Instructors")]
    block = re.search(r"```bash\n(.*?)```", learners, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_readme_gives_learners_two_commands_and_no_clone():
    readme = (ROOT / "README.md").read_text()
    learners = readme[readme.index("\n## Learners"):readme.index("\n## Instructors")]
    assert "git clone" not in learners and "git " not in learners
    assert readme_learner_commands() == [f"python -m pip install medprep-{VERSION}-py3-none-any.whl", "medprep start"]


# --- the session's build and learner venv -----------------------------------------------------------


def _env(venv: Path | None = None) -> dict[str, str]:
    """The environment of a learner's shell: the venv's bin first, none of this test session's settings."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "MEDPREP_DATA", "VIRTUAL_ENV"}}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
        env["VIRTUAL_ENV"] = str(venv)
    return env


def _build_and_install(folder: Path) -> dict:
    dist = folder / "dist"
    # What the build packs: compared later with the wheel and with a learner's copies (others may be
    # regenerating notebooks/ in a shared working tree while the tests run).
    students = {lesson: student_path(lesson).read_text() for lesson in lessons()}
    run = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                         capture_output=True, text=True, env=_env())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    wheel = next(dist.glob("medprep-*-py3-none-any.whl"))
    venv = folder / "learner-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_env())
    start = time.perf_counter()
    # The README's learner command, as written there, in the folder where the wheel was saved.
    install = readme_learner_commands()[0]
    assert install.endswith(wheel.name), f"the README installs {install}, the build made {wheel.name}"
    run = subprocess.run(install.split(), capture_output=True, text=True, cwd=dist, env=_env(venv))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {"wheel": str(wheel), "sdist": str(next(dist.glob("medprep-*.tar.gz"))), "venv": str(venv),
            "install_seconds": time.perf_counter() - start, "students": students}


@pytest.fixture(scope="session")
def learner(tmp_path_factory) -> dict:
    """``{"wheel", "sdist", "venv", "install_seconds", "students"}``: built and installed once per session, for
    every worker; ``students`` holds the text of each student notebook that the build packed."""
    shared = _shared_tmp(tmp_path_factory) / "learner-package"
    record = shared / "record.json"
    shared.mkdir(parents=True, exist_ok=True)
    if _try_lock(shared.with_suffix(".lock")):
        try:
            result = _build_and_install(shared)
        except Exception as error:  # recorded, so that the other worker does not wait for nothing
            result = {"error": f"{type(error).__name__}: {error}"}
        record.with_suffix(".partial").write_text(json.dumps(result))
        record.with_suffix(".partial").replace(record)
    deadline = time.monotonic() + 900
    while not record.exists():
        assert time.monotonic() < deadline, "the learner package was not built and installed within 15 minutes"
        time.sleep(0.5)
    result = json.loads(record.read_text())
    if "error" in result:
        pytest.fail(f"building or installing the learner package failed: {result['error']}", pytrace=False)
    return result


def medprep(learner: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed ``medprep`` command of the learner's venv, from ``cwd`` (outside the repository)."""
    venv = Path(learner["venv"])
    return subprocess.run([str(venv / "bin" / "medprep"), *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(venv), timeout=300)


@pytest.fixture
def started(learner, tmp_path) -> Path:
    """A learner's folder: ``medprep start --copy-only medprep-course`` in a fresh folder."""
    run = medprep(learner, "start", "--copy-only", "medprep-course", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    return tmp_path / "medprep-course"


# --- the distributions ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_distribution_holds_no_answers(learner, kind):
    members = _members(Path(learner[kind]))
    forbidden = sorted(name for name in members if FORBIDDEN_PATHS.search(name))
    assert not forbidden, f"instructor files in the {kind}: {forbidden[:10]}"
    secrets = _secrets()
    leaks = {name: found for name, data in members.items() if (found := _leaks(name, data, secrets))}
    assert not leaks, f"answers in the {kind}: {dict(list(leaks.items())[:3])}"


@pytest.mark.slow
def test_wheel_carries_the_course_data_and_student_notebooks(learner):
    members = _members(Path(learner["wheel"]))
    course = "medprep_helpers/course/"
    manifest = members[course + "data/MANIFEST.sha256"].decode()
    listed = [line.split(maxsplit=1)[1] for line in manifest.splitlines() if line.strip()]
    assert listed and all(course + "data/" + name in members for name in listed)
    for lesson in lessons():
        assert members[f"{course}notebooks/{lesson}/{lesson}.ipynb"].decode() == learner["students"][lesson]
    shipped = {name for name in members if name.startswith(course + "notebooks/")}
    assert len(shipped) == len(lessons()), f"more than the student notebooks: {sorted(shipped)}"
    entry_points = next(data for name, data in members.items() if name.endswith(".dist-info/entry_points.txt"))
    assert "medprep = medprep_helpers.cli:main" in entry_points.decode()


# --- the learner's install ----------------------------------------------------------------------------


@pytest.mark.slow
def test_learner_install_has_no_instructor_or_test_tools(learner):
    python = str(Path(learner["venv"]) / "bin" / "python")
    run = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, env=_env())
    installed = {p["name"].lower() for p in json.loads(run.stdout)}
    assert "medprep" in installed
    assert not installed & {"nbgrader", "pytest", "pytest-xdist", "nbval", "neurocombat", "build"}
    probe = subprocess.run([python, "-c", "import medprep_grader"], capture_output=True, text=True, cwd="/",
                           env=_env())
    assert probe.returncode != 0 and "No module named 'medprep_grader'" in probe.stderr


@pytest.mark.slow
def test_medprep_check_passes_with_the_packaged_data(learner, tmp_path):
    run = medprep(learner, "check", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAIL" not in run.stdout
    assert f"OK   course: medprep {VERSION}, {len(lessons())} lessons stamped {VERSION}" in run.stdout
    assert "OK   course data:" in run.stdout and "OK   DICOM radiograph" in run.stdout
    python = str(Path(learner["venv"]) / "bin" / "python")
    code = "from medprep_helpers.data import data_dir, notebooks_dir; print(data_dir()); print(notebooks_dir())"
    where = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=_env())
    site = Path(learner["venv"]) / "lib"
    assert all(Path(line).is_relative_to(site) for line in where.stdout.split()), where.stdout + where.stderr
    # MEDPREP_DATA still wins.
    override = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                              env={**_env(), "MEDPREP_DATA": str(ROOT / "data")})
    assert override.stdout.split()[0] == str(ROOT / "data"), override.stderr


@pytest.mark.slow
def test_start_copies_the_four_lessons_and_lesson_1_stops_at_its_first_exercise(learner, started):
    for lesson in lessons():
        assert (started / lesson / f"{lesson}.ipynb").read_text() == learner["students"][lesson]
    assert len(lessons()) == 4
    # Run lesson 1 where the learner has it, with the venv's own kernel, as "Run All" would.
    script = """
import builtins, json, sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
import medprep_helpers.checks as checks
notebook = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}})
try:
    client.execute()
    print(json.dumps({"cell": None}))
except CellExecutionError as error:
    cls = getattr(builtins, error.ename, None) or getattr(checks, error.ename, None)
    cell = max(i for i, c in enumerate(notebook.cells) if c.get("execution_count"))  # where the run stopped
    shown = [o for o in notebook.cells[cell].get("outputs", []) if o.get("output_type") == "error"]
    print(json.dumps({"cell": cell, "ename": error.ename, "shown": bool(shown),
                      "not_implemented": isinstance(cls, type) and issubclass(cls, NotImplementedError)}))
"""
    venv = Path(learner["venv"])
    notebook = started / FIRST / f"{FIRST}.ipynb"
    run = subprocess.run([str(venv / "bin" / "python"), "-c", script, str(notebook), str(notebook.parent)],
                         capture_output=True, text=True, cwd=started, env=_env(venv), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    cells = json.loads(learner["students"][FIRST])["cells"]
    first_answer = next(i for i, c in enumerate(cells) if c["cell_type"] == "code"
                        and c["metadata"].get("nbgrader", {}).get("solution"))
    assert outcome["cell"] is not None and first_answer <= outcome["cell"] <= first_answer + 2, outcome
    assert outcome["not_implemented"] and outcome["shown"], outcome  # and the learner sees why


@pytest.mark.slow
def test_start_again_leaves_an_edited_notebook_untouched(learner, started):
    edited = started / "02_augment" / "02_augment.ipynb"
    edited.write_text(edited.read_text().replace("raise NotImplementedError()", "return image", 1))
    mine = edited.read_bytes()
    (started / "03_features" / "03_features.ipynb").unlink()
    run = medprep(learner, "start", "--copy-only", "medprep-course", cwd=started.parent)
    assert run.returncode == 0, run.stderr
    assert edited.read_bytes() == mine
    assert "kept your 02_augment/02_augment.ipynb as it is" in run.stdout and "added: 03_features" in run.stdout


@pytest.mark.slow
def test_bad_input_gets_a_clear_message_and_a_nonzero_exit(learner, started):
    notebook = started / FIRST / f"{FIRST}.ipynb"
    run = medprep(learner, "submit", "07_nothing", "--name", "ada", cwd=started.parent)
    assert run.returncode == 2 and "unknown lesson '07_nothing'" in run.stderr
    run = medprep(learner, "submit", FIRST, "--name", "ada", "no-such-folder", cwd=started.parent)
    assert run.returncode == 2 and "no-such-folder does not exist" in run.stderr
    stamped = json.loads(notebook.read_text())
    stamped["metadata"]["medprep"]["version"] = "0.0.1"
    notebook.write_text(json.dumps(stamped))
    mine = notebook.read_bytes()
    run = medprep(learner, "submit", FIRST, "--name", "ada", cwd=started.parent)
    assert run.returncode == 2 and "comes from course version 0.0.1" in run.stderr
    assert notebook.read_bytes() == mine and not (started / "submit").exists()


@pytest.mark.slow
def test_submission_is_graded_by_zip_collect_and_autograde_as_blank(learner, started, tmp_path):
    run = medprep(learner, "submit", FIRST, "--name", "ada", cwd=started.parent)
    assert run.returncode == 0, run.stderr
    submitted = started / "submit" / f"ada_{FIRST}.ipynb"
    assert str(submitted) in run.stdout
    # The instructor: a copy of the course folder, the lesson generated, the file where zip_collect reads.
    course = copy_course(tmp_path / "course", with_data=True)
    generate(course, FIRST)
    archive = course / "downloaded" / FIRST / "archive"
    archive.mkdir(parents=True)
    archive.joinpath(submitted.name).write_bytes(submitted.read_bytes())
    env = {**_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "MEDPREP_DATA": str(course / "data")}
    for command in (["zip_collect", FIRST], ["autograde", FIRST]):
        run = subprocess.run([sys.executable, "-m", "nbgrader", *command], capture_output=True, text=True,
                             cwd=course, env=env, timeout=600)
        assert run.returncode == 0, f"nbgrader {command[0]}: {run.stdout[-2000:]}{run.stderr[-3000:]}"
    assert (course / "submitted" / "ada" / FIRST / f"{FIRST}.ipynb").read_bytes() == submitted.read_bytes()
    grades = notebook_grades(course, FIRST)["ada"]
    autograded = {name: g for name, g in grades.items() if g["auto"] is not None}
    assert autograded and sum(g["max"] for g in autograded.values()) > 0
    assert all(g["auto"] == 0 for g in autograded.values()), autograded


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_start_opens_jupyterlab_on_the_lessons(learner, tmp_path):
    """``medprep start`` (no --copy-only) serves the learner's folder with JupyterLab."""
    port, token = _free_port(), "medprep-test-token"
    venv = Path(learner["venv"])
    # CI runs as root, which JupyterLab refuses unless told; a learner is no root.
    as_root = ["--allow-root"] if os.geteuid() == 0 else []
    server = subprocess.Popen(
        [str(venv / "bin" / "medprep"), "start", "--no-browser", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", *as_root],
        cwd=tmp_path, env=_env(venv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # whatever JupyterLab starts (kernels) stops with it
    )
    try:
        url = f"http://127.0.0.1:{port}"
        path = f"{FIRST}/{FIRST}.ipynb"
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                request = urllib.request.Request(f"{url}/api/contents/{path}?content=0",
                                                 headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    status = response.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, f"JupyterLab did not serve {path}: {server.poll()=}"
        # The learner's browser opens the server's root: JupyterLab, on lesson 1.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/", headers={"Authorization": f"token {token}"})
        response = connection.getresponse()
        assert response.status == 302 and response.getheader("Location").startswith(f"/lab/tree/{path}")
        request = urllib.request.Request(f"{url}/lab/tree/{path}", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and "<title>JupyterLab" in response.read().decode()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert status == 200, output[-3000:]
    assert (tmp_path / "medprep-course" / path).exists(), output


# --- the instructor's release tools (medprep_grader/release.py) ---------------------------------------


def test_solutions_bundle_has_the_answers_without_hidden_tests_or_stamp(tmp_path):
    from medprep_grader.release import solutions_bundle

    from medprep_helpers import cli

    bundle = solutions_bundle(tmp_path / "solutions.zip")
    with zipfile.ZipFile(bundle) as archive:
        notebooks = {Path(name).stem: json.loads(archive.read(name)) for name in archive.namelist()}
    assert sorted(notebooks) == lessons()
    for lesson, notebook in notebooks.items():
        text = "\n".join(_cell_text(cell) for cell in notebook["cells"])
        assert not re.search(r"BEGIN HIDDEN TESTS|END HIDDEN TESTS|BEGIN SOLUTION|END SOLUTION", text), lesson
        solution = load_json(solution_path(lesson))
        hidden = [block for cell in solution["cells"] for block in _regions(_cell_text(cell), "HIDDEN TESTS")]
        assert not any(block.strip() and block.strip() in text for block in hidden), f"{lesson}: hidden tests"
        answers = [line for cell in solution["cells"] for block in _regions(_cell_text(cell), "SOLUTION")
                   for line in _lines(block)]
        assert answers and set(answers) <= set(_lines(text)), f"{lesson}: answers missing"
        assert any(cell.get("outputs") for cell in notebook["cells"]), f"{lesson}: outputs"
        assert cli.COURSE not in notebook["metadata"], f"{lesson}: a worked solution must not pass `medprep submit`"


def test_stamp_tool_changes_only_the_notebook_metadata(tmp_path, monkeypatch):
    from medprep_grader.release import stamp_notebooks

    from medprep_helpers import cli

    for folder in ("solutions", "notebooks"):
        for lesson in lessons():
            source = ROOT / folder / lesson / f"{lesson}.ipynb"
            (tmp_path / folder / lesson).mkdir(parents=True)
            (tmp_path / folder / lesson / source.name).write_bytes(source.read_bytes())
    assert stamp_notebooks(tmp_path) == []  # the repository's notebooks carry this version already
    monkeypatch.setattr(cli, "__version__", "9.9.9")
    changed = stamp_notebooks(tmp_path)
    assert len(changed) == 2 * len(lessons())
    for path in changed:
        before, after = load_json(ROOT / path.relative_to(tmp_path)), load_json(path)
        assert after["metadata"]["medprep"]["version"] == "9.9.9" and after["cells"] == before["cells"]
        assert {k: v for k, v in after["metadata"].items() if k != "medprep"} == {
            k: v for k, v in before["metadata"].items() if k != "medprep"}
