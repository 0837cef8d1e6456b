"""The learner's ``medprep`` command: start the course, check the machine, hand in a lesson.

::

    medprep start [FOLDER] [--copy-only]     copy the lessons into FOLDER (default: medprep-course) and open JupyterLab
    medprep check                            is this machine ready for the course? (and which course version)
    medprep submit LESSON --name NAME [FOLDER]   write FOLDER/submit/NAME_LESSON.ipynb, the file to send the instructor

``python -m medprep_helpers ...`` does the same where the ``medprep`` script is not on the PATH.

Every student notebook carries a stamp in its notebook-level metadata,
``{"medprep": {"course": "medprep", "lesson": ..., "version": ...}}``, written
into the solutions by ``python -m medprep_grader.release stamp`` on the instructor
side (``nbgrader generate_assignment`` keeps it in the student versions). ``submit``
accepts only a notebook of this course, of the lesson named, of the installed
version, so that what reaches the instructor grades against the right tests.

Examples
--------
>>> main(["submit", "99_nothing", "--name", "ada", "/nonexistent"])  # doctest: +SKIP
medprep submit: error: unknown lesson '99_nothing' ...
2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from medprep_helpers import __version__
from medprep_helpers.data import lessons, notebooks_dir

__all__ = ["COURSE", "course_stamp", "read_stamp", "copy_lessons", "submit", "main"]

#: The course id (nbgrader's ``CourseDirectory.course_id``) and the notebook-metadata key of the stamp.
COURSE = "medprep"

#: Where ``medprep start`` puts the lessons when no folder is given (under the current folder).
DEFAULT_FOLDER = "medprep-course"

#: In the learner's folder: the hash of each notebook as ``start`` wrote it. A notebook that still
#: has that hash is untouched, so a newer course version may replace it; any other is the learner's.
RECORD = ".medprep-course.json"

#: A submitter's name: it becomes part of a file name that nbgrader's zip_collect splits at the lesson
#: (``FileNameCollectorPlugin.named_regexp`` in nbgrader_config.py), so no path separators and no
#: ``_NN`` that could be read as the start of a lesson name.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*(?:_(?!\d\d(?:_|$))[A-Za-z0-9.\-]+)*")


class UsageError(Exception):
    """A learner's mistake: printed as ``medprep <command>: error: ...`` with exit status 2."""


def course_stamp(lesson: str) -> dict[str, str]:
    """The stamp that a lesson's notebooks of this course version carry in their metadata.

    Examples
    --------
    >>> course_stamp("01_know_your_data")["course"]
    'medprep'
    """
    return {"course": COURSE, "lesson": lesson, "version": __version__}


def read_stamp(path: Path) -> dict | None:
    """The stamp in a notebook's metadata, or ``None`` when it has none.

    Raises
    ------
    UsageError
        When ``path`` is not a notebook (not JSON, or no ``metadata``).
    """
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} is not a notebook (it is not valid notebook JSON: {error})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("metadata"), dict):
        raise UsageError(f"{path} is not a notebook (no notebook metadata)")
    stamp = notebook["metadata"].get(COURSE)
    return stamp if isinstance(stamp, dict) else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _shipped(lesson: str) -> Path:
    return notebooks_dir() / lesson / f"{lesson}.ipynb"


@dataclass
class CopyReport:
    """What :func:`copy_lessons` did, lesson by lesson."""

    folder: Path
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # an untouched copy of an older version, replaced
    current: list[str] = field(default_factory=list)  # already this version's copy
    kept: list[str] = field(default_factory=list)  # edited by the learner: left alone

    def lines(self) -> list[str]:
        out = []
        for label, names in (("added", self.added), ("updated to this version", self.updated),
                             ("already up to date", self.current)):
            if names:
                out.append(f"{label}: {', '.join(names)}")
        for lesson in self.kept:
            out.append(
                f"kept your {lesson}/{lesson}.ipynb as it is (you changed it); it differs from course version "
                f"{__version__}. To get that version too, rename your notebook and run `medprep start` again."
            )
        return out


def copy_lessons(folder: str | Path) -> CopyReport:
    """Copy every lesson's student notebook into ``folder/<lesson>/<lesson>.ipynb``; never overwrite learner work.

    A notebook that is missing is copied; one that ``copy_lessons`` wrote and nobody changed since
    (same hash as recorded in ``folder/.medprep-course.json``) is replaced by this version's copy;
    any other is left exactly as it is and reported in ``kept``.

    Examples
    --------
    >>> import tempfile
    >>> report = copy_lessons(Path(tempfile.mkdtemp()) / "course")
    >>> report.added[0], report.kept
    ('01_know_your_data', [])
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"FOLDER {folder} is a file, not a folder: name a folder for the lessons")
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / RECORD
    try:
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
    except json.JSONDecodeError:
        record = {}  # a damaged record only means no notebook counts as untouched: nothing is overwritten
    written = record.get("sha256", {}) if isinstance(record, dict) else {}
    report = CopyReport(folder)
    for lesson in lessons():
        source, target = _shipped(lesson), folder / lesson / f"{lesson}.ipynb"
        fresh = _sha256(source)
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
            report.added.append(lesson)
        elif (present := _sha256(target)) == fresh:
            report.current.append(lesson)
        elif present == written.get(lesson):
            shutil.copyfile(source, target)
            report.updated.append(lesson)
        else:
            report.kept.append(lesson)
            continue
        written[lesson] = fresh
    record_path.write_text(json.dumps({"course": COURSE, "version": __version__, "sha256": written}, indent=1))
    return report


def _run(command: list[str], cwd: Path) -> int:
    """Run ``command`` in ``cwd`` in place of this process where the system can (POSIX), else as a child.

    Replaced, ``medprep start`` *is* JupyterLab: Ctrl-C or a stop signal reaches the server itself
    and no orphaned server outlives the command.
    """
    if os.name == "posix":
        os.chdir(cwd)
        os.execv(command[0], command)
    try:
        return subprocess.call(command, cwd=cwd)
    except KeyboardInterrupt:  # Ctrl-C stops JupyterLab, which is how a learner ends the session
        return 0


def _jupyterlab(folder: Path, open_path: str | None, extra: list[str]) -> int:
    """Run JupyterLab with ``folder`` as its root (until the learner stops it); its exit status."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}"]
    if open_path:
        command.append(f"--LabApp.default_url=/lab/tree/{open_path}")
    return _run(command + extra, folder)


def start(folder: str | Path, copy_only: bool = False, jupyter_args: list[str] | None = None) -> int:
    """``medprep start``: copy the lessons (see :func:`copy_lessons`), then open JupyterLab there."""
    report = copy_lessons(folder)
    folder = report.folder.resolve()
    print(f"Course {COURSE} {__version__} in {folder}")
    for line in report.lines():
        print(f"  {line}")
    if copy_only:
        print(f"Open the lessons with `medprep start {folder}` (or `jupyter lab` in that folder).")
        return 0
    first = lessons()[0]
    # A new folder opens on the first lesson; a returning learner gets the file browser.
    open_path = f"{first}/{first}.ipynb" if first in report.added and not report.kept else None
    print("Starting JupyterLab; stop it with Ctrl-C in this window.", flush=True)
    return _jupyterlab(folder, open_path, jupyter_args or [])


def _lesson(name: str) -> str:
    known = lessons()
    matches = [lesson for lesson in known if name in (lesson, lesson.split("_", 1)[0])]
    if not matches:
        raise UsageError(f"unknown lesson {name!r}: LESSON is one of {', '.join(known)} (or its number, e.g. 01)")
    return matches[0]


def submit(lesson: str, name: str, folder: str | Path = DEFAULT_FOLDER) -> Path:
    """``medprep submit``: check the learner's notebook and write ``FOLDER/submit/NAME_LESSON.ipynb``.

    The notebook must be this course's notebook of ``lesson`` at the installed version (its
    stamp). The file name is what the instructor's ``nbgrader zip_collect`` reads. The
    learner's notebook itself is only read.

    Returns
    -------
    Path
        The file written (an earlier one of the same name is replaced: it is a copy).
    """
    lesson = _lesson(lesson)
    if not NAME.fullmatch(name) or len(name) > 64:
        raise UsageError(
            f"--name {name!r} cannot name a submission: use letters, digits, '.', '-' and '_' (at most 64, "
            "starting with a letter or digit, no '_' followed by two digits), e.g. --name ada or --name ada.lovelace"
        )
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UsageError(
            f"FOLDER {folder} does not exist: give the folder that `medprep start` copied the lessons into "
            f"(default: {DEFAULT_FOLDER} in the folder where you ran it)"
        )
    notebook = folder / lesson / f"{lesson}.ipynb"
    if not notebook.is_file():
        raise UsageError(f"{notebook} not found: is {folder} the folder that `medprep start` made?")
    stamp = read_stamp(notebook)
    if stamp is None or stamp.get("course") != COURSE:
        raise UsageError(f"{notebook} is not a notebook of the {COURSE} course (its metadata has no course stamp)")
    if stamp.get("lesson") != lesson:
        raise UsageError(f"{notebook} is the notebook of lesson {stamp.get('lesson')!r}, not of {lesson!r}")
    if stamp.get("version") != __version__:
        raise UsageError(
            f"{notebook} comes from course version {stamp.get('version')}, but version {__version__} is installed: "
            "submit with the version you worked with (ask your instructor which one they grade)"
        )
    out = folder / "submit" / f"{name}_{lesson}.ipynb"
    out.parent.mkdir(exist_ok=True)
    shutil.copyfile(notebook, out)
    return out


_COMMANDS = {
    "start": "copy the lessons into a folder and open JupyterLab there",
    "check": "check that this machine is ready for the course",
    "submit": "write the file to send your instructor for a lesson",
}


def _command_parser(command: str) -> argparse.ArgumentParser:
    # One parser per command, parsed "intermixed" so that FOLDER may follow --name (argparse's
    # subparsers cannot do that).
    parser = argparse.ArgumentParser(prog=f"medprep {command}", description=_COMMANDS[command].capitalize() + ".")
    if command == "start":
        parser.description += (" Notebooks you changed are never overwritten. Options not listed here go to "
                               "JupyterLab (e.g. --no-browser, --port 8890).")
        parser.add_argument("folder", nargs="?", default=DEFAULT_FOLDER, metavar="FOLDER",
                            help=f"where the lessons go (default: {DEFAULT_FOLDER})")
        parser.add_argument("--copy-only", action="store_true", help="copy the lessons, do not start JupyterLab")
    elif command == "check":
        parser.description += (" It checks Python, the packages, the course data, DICOM reading, figures, the "
                               "Jupyter kernel and the course version; exit status 1 if anything failed.")
    else:
        parser.description += (" It checks your notebook of LESSON and writes FOLDER/submit/NAME_LESSON.ipynb. "
                                "Save the notebook in JupyterLab first.")
        parser.add_argument("lesson", metavar="LESSON", help="e.g. 01_know_your_data (or 01)")
        parser.add_argument("--name", required=True, metavar="NAME", help="your name or login, as your instructor asked")
        parser.add_argument("folder", nargs="?", default=DEFAULT_FOLDER, metavar="FOLDER",
                            help=f"the folder of `medprep start` (default: {DEFAULT_FOLDER})")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``medprep`` command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="medprep", description=f"The {COURSE} course, version {__version__}.",
        epilog="commands:\n" + "\n".join(f"  {name:8} {text}" for name, text in _COMMANDS.items())
        + "\n\n`medprep COMMAND --help` tells more.", formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{COURSE} {__version__}")
    parser.add_argument("command", choices=_COMMANDS, metavar="COMMAND", help="start, check or submit")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    top = parser.parse_args(argv)
    command_parser = _command_parser(top.command)
    args, extra = command_parser.parse_known_intermixed_args(top.arguments)
    args.command = top.command
    if extra and args.command != "start":
        command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "start":
            return start(args.folder, args.copy_only, extra)
        if args.command == "check":
            from medprep_helpers import check

            return check.main()
        out = submit(args.lesson, args.name, args.folder)
    except UsageError as error:
        print(f"medprep {args.command}: error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {out.resolve()}")
    if _sha256(out) == _sha256(_shipped(_lesson(args.lesson))):
        print("Note: this notebook is exactly as `medprep start` copied it. Did you save your work in JupyterLab?")
    print(f"Send this file to your instructor as it is (e-mail or your learning platform): its name tells them "
          f"who you are and which lesson it is. After more changes, save the notebook and run this command again.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
