"""The learner's ``medprep`` command (start, check, submit) and the course version stamp, in this clone.

The same command, installed from the built wheel outside the repository, is tested end to end
in test_learner_package.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import medprep_helpers
from medprep_helpers import check, cli
from medprep_helpers.data import lessons, notebooks_dir

ROOT = Path(__file__).resolve().parents[1]
FIRST = "01_know_your_data"


def _submission_regexp() -> re.Pattern:
    """``FileNameCollectorPlugin.named_regexp`` as the course's nbgrader_config.py sets it."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    return re.compile(config.FileNameCollectorPlugin.named_regexp)


def _stamp(path: Path) -> dict | None:
    return json.loads(path.read_text())["metadata"].get("medprep")


def _set_stamp(path: Path, stamp: dict | None) -> None:
    notebook = json.loads(path.read_text())
    if stamp is None:
        notebook["metadata"].pop("medprep", None)
    else:
        notebook["metadata"]["medprep"] = stamp
    path.write_text(json.dumps(notebook, indent=1))


@pytest.fixture
def course(tmp_path) -> Path:
    """A learner's folder as ``medprep start --copy-only`` leaves it."""
    folder = tmp_path / "medprep-course"
    assert cli.main(["start", "--copy-only", str(folder)]) == 0
    return folder


# --- one version everywhere ------------------------------------------------------------------------


def test_version_stamp_package_and_check_agree(capsys):
    """pyproject's version is what the package reports, what every notebook is stamped with, and what check says."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert metadata.version("medprep") == version, 'reinstall: python -m pip install -e ".[dev]"'
    assert medprep_helpers.__version__ == version
    for folder in ("solutions", "notebooks"):
        for lesson in lessons():
            stamp = _stamp(ROOT / folder / lesson / f"{lesson}.ipynb")
            assert stamp == {"course": "medprep", "lesson": lesson, "version": version}, f"{folder}/{lesson}"
    result = check.check_course_version()
    assert result.ok and version in result.detail, result.line()


def test_check_fails_when_a_notebook_carries_another_version(tmp_path, monkeypatch):
    copy = tmp_path / "notebooks"
    shutil.copytree(notebooks_dir(), copy)
    _set_stamp(copy / "02_augment" / "02_augment.ipynb", {"course": "medprep", "lesson": "02_augment", "version": "0.0.1"})
    monkeypatch.setattr("medprep_helpers.data._course_folder", lambda name: copy)
    result = check.check_course_version()
    assert not result.ok and "02_augment" in result.detail and "reinstall" in result.fix


def test_medprep_check_includes_the_course_version(capsys):
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out
    assert f"OK   course: medprep {medprep_helpers.__version__}, {len(lessons())} lessons" in out


def test_module_runs_the_command():
    run = subprocess.run([sys.executable, "-m", "medprep_helpers", "--version"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == f"medprep {medprep_helpers.__version__}"


# --- start -----------------------------------------------------------------------------------------


def test_start_copies_every_lesson(course):
    for lesson in lessons():
        copied = course / lesson / f"{lesson}.ipynb"
        assert copied.read_bytes() == (notebooks_dir() / lesson / f"{lesson}.ipynb").read_bytes()
    assert len(lessons()) == 4


def test_start_again_keeps_edited_notebooks_and_restores_missing_ones(course, capsys):
    edited = course / "02_augment" / "02_augment.ipynb"
    edited.write_text(edited.read_text().replace("raise NotImplementedError()", "return 42", 1))
    mine = edited.read_bytes()
    (course / "03_features" / "03_features.ipynb").unlink()
    capsys.readouterr()
    assert cli.main(["start", "--copy-only", str(course)]) == 0
    out = capsys.readouterr().out
    assert edited.read_bytes() == mine
    assert "kept your 02_augment/02_augment.ipynb as it is" in out
    assert "added: 03_features" in out and (course / "03_features" / "03_features.ipynb").exists()


def test_a_newer_version_replaces_only_untouched_notebooks(course, capsys):
    """Simulate notebooks copied by an older version: the untouched one is updated, the edited one kept."""
    record = json.loads((course / cli.RECORD).read_text())
    old_untouched, old_edited = course / FIRST / f"{FIRST}.ipynb", course / "02_augment" / "02_augment.ipynb"
    old_untouched.write_text('{"an": "older release"}')
    record["sha256"][FIRST] = cli._sha256(old_untouched)  # what the older start wrote: untouched since
    (course / cli.RECORD).write_text(json.dumps(record))
    old_edited.write_text('{"my": "work"}')
    capsys.readouterr()
    report = cli.copy_lessons(course)
    assert report.updated == [FIRST] and report.kept == ["02_augment"]
    assert old_untouched.read_bytes() == (notebooks_dir() / FIRST / f"{FIRST}.ipynb").read_bytes()
    assert old_edited.read_text() == '{"my": "work"}'


def test_start_into_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert cli.main(["start", "--copy-only", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and target.read_text() == "mine"


def test_start_opens_the_first_lesson_in_jupyterlab(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "_run", lambda command, cwd: calls.append((command, cwd)) or 0)
    folder = tmp_path / "course"
    assert cli.main(["start", str(folder), "--no-browser", "--port", "8890"]) == 0
    command, cwd = calls[0]
    assert command[:3] == [sys.executable, "-m", "jupyterlab"] and cwd == folder.resolve()
    assert f"--ServerApp.root_dir={folder.resolve()}" in command
    assert f"--LabApp.default_url=/lab/tree/{FIRST}/{FIRST}.ipynb" in command
    assert command[-3:] == ["--no-browser", "--port", "8890"]
    # A returning learner gets the file browser, not lesson 1 again.
    assert cli.main(["start", str(folder)]) == 0
    assert not any(part.startswith("--LabApp.default_url") for part in calls[1][0])


# --- submit ----------------------------------------------------------------------------------------


def test_submit_writes_the_file_that_zip_collect_reads(course, capsys):
    assert cli.main(["submit", FIRST, "--name", "ada.lovelace", str(course)]) == 0
    out = course / "submit" / f"ada.lovelace_{FIRST}.ipynb"
    assert out.read_bytes() == (course / FIRST / f"{FIRST}.ipynb").read_bytes()
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed and "Send this file to your instructor" in printed
    match = _submission_regexp().match(f"/downloaded/{FIRST}/archive/{out.name}")
    assert match and match["student_id"] == "ada.lovelace" and match["file_id"] == f"{FIRST}.ipynb"


@pytest.mark.parametrize("name", ["ada", "ada_lovelace", "a-b.c", "Ada2"])
def test_every_accepted_name_survives_zip_collect(course, name):
    """What submit accepts, nbgrader's file-name pattern splits back into this name and lesson."""
    for lesson in lessons():
        out = cli.submit(lesson, name, course)
        match = _submission_regexp().match(f"/archive/{out.name}")
        assert match and (match["student_id"], match["file_id"]) == (name, f"{lesson}.ipynb")


def test_submit_accepts_the_lesson_number(course):
    assert cli.submit("03", "ada", course).name == "ada_03_features.ipynb"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["09_nothing", "--name", "ada"], "unknown lesson '09_nothing': LESSON is one of 01_know_your_data"),
        ([FIRST, "--name", "a/b"], "--name 'a/b' cannot name a submission"),
        ([FIRST, "--name", "../ada"], "--name '../ada' cannot name a submission"),
        ([FIRST, "--name", "ada_02"], "--name 'ada_02' cannot name a submission"),
        ([FIRST, "--name", ""], "--name '' cannot name a submission"),
    ],
)
def test_submit_refuses_bad_arguments(course, capsys, argv, message):
    before = {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}
    assert cli.main(["submit", *argv, str(course)]) == 2
    assert message in capsys.readouterr().err
    assert {p: p.read_bytes() for p in course.rglob("*") if p.is_file()} == before  # nothing written or changed


def test_submit_refuses_a_missing_folder(tmp_path, capsys):
    assert cli.main(["submit", FIRST, "--name", "ada", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "FOLDER" in err and "nowhere does not exist" in err and "medprep start" in err


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        (None, "is not a notebook of the medprep course"),
        ({"course": "othercourse", "lesson": FIRST, "version": "0.1.0"}, "is not a notebook of the medprep course"),
        ({"course": "medprep", "lesson": "02_augment", "version": medprep_helpers.__version__},
         "is the notebook of lesson '02_augment', not of '01_know_your_data'"),
        ({"course": "medprep", "lesson": FIRST, "version": "0.0.1"}, "comes from course version 0.0.1"),
    ],
)
def test_submit_refuses_a_notebook_of_another_course_lesson_or_version(course, capsys, stamp, message):
    notebook = course / FIRST / f"{FIRST}.ipynb"
    _set_stamp(notebook, stamp)
    mine = notebook.read_bytes()
    assert cli.main(["submit", FIRST, "--name", "ada", str(course)]) == 2
    assert message in capsys.readouterr().err
    assert notebook.read_bytes() == mine and not (course / "submit").exists()


def test_submit_refuses_a_file_that_is_not_a_notebook(course, capsys):
    (course / FIRST / f"{FIRST}.ipynb").write_text("print('hello')")
    assert cli.main(["submit", FIRST, "--name", "ada", str(course)]) == 2
    assert "is not a notebook" in capsys.readouterr().err


def test_unknown_options_are_refused_outside_start(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["submit", FIRST, "--name", "ada", "--bogus"])
    assert stop.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err
