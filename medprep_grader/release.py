"""Instructor tools around the learner package: worked solutions to release, and the version stamp.

::

    python -m medprep_grader.release solutions [LESSON ...] [--out FILE]   # zip of worked solutions
    python -m medprep_grader.release stamp                                  # after changing the version

``solutions`` builds the bundle an instructor hands to self-paced learners when they decide to
(never part of the learner package): each lesson's solution notebook with its stored outputs,
without the hidden tests and the nbgrader markers, and without the course stamp, so that
``medprep submit`` does not take a worked solution for a learner's notebook.

``stamp`` writes ``metadata.medprep = {"course", "lesson", "version"}`` into every notebook of
``solutions/`` and ``notebooks/``, the version read from the installed package (pyproject.toml is
its single source: reinstall with ``pip install -e .`` after changing it). It changes the
notebook metadata only; ``nbgrader generate_assignment`` keeps the stamp in the student versions.

Examples
--------
>>> bundle = solutions_bundle(Path("/tmp/medprep-solutions.zip"))  # doctest: +SKIP
>>> zipfile.ZipFile(bundle).namelist()[0]  # doctest: +SKIP
'medprep-solutions-0.1.0/01_know_your_data.ipynb'
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path

from medprep_helpers import __version__
from medprep_helpers.cli import COURSE, course_stamp

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)


def _lessons(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)


def _dumps(notebook: dict) -> str:
    # nbformat's own layout, so that a metadata edit changes only the metadata lines.
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def worked_solution(path: Path) -> dict:
    """A solution notebook as learners may see it: answers and outputs, no hidden tests, markers or stamp."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = MARKER.sub("", HIDDEN.sub("", source))
        cell["metadata"].pop("nbgrader", None)
    notebook["metadata"].pop(COURSE, None)
    return notebook


def solutions_bundle(out: Path | None = None, lessons: list[str] | None = None, root: Path = ROOT) -> Path:
    """Write the zip of worked solutions (default ``medprep-solutions-<version>.zip`` here); returns its path."""
    known = _lessons(root)
    lessons = lessons or known
    unknown = sorted(set(lessons) - set(known))
    if unknown:
        raise ValueError(f"unknown lesson(s) {unknown}: LESSON is one of {known}")
    name = f"{COURSE}-solutions-{__version__}"
    out = Path(out) if out is not None else Path(f"{name}.zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for lesson in lessons:
            notebook = worked_solution(root / "solutions" / lesson / f"{lesson}.ipynb")
            bundle.writestr(f"{name}/{lesson}.ipynb", _dumps(notebook))
    return out


def stamp_notebooks(root: Path = ROOT) -> list[Path]:
    """Set this version's stamp in every lesson notebook of ``solutions/`` and ``notebooks/``; returns those changed."""
    changed = []
    for lesson in _lessons(root):
        for path in (root / "solutions" / lesson / f"{lesson}.ipynb", root / "notebooks" / lesson / f"{lesson}.ipynb"):
            if not path.exists():
                continue
            notebook = json.loads(path.read_text(encoding="utf-8"))
            if notebook["metadata"].get(COURSE) != course_stamp(lesson):
                notebook["metadata"][COURSE] = course_stamp(lesson)
                path.write_text(_dumps(notebook), encoding="utf-8")
                changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medprep_grader.release", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("solutions", help="zip the worked solutions for learners")
    p.add_argument("lessons", nargs="*", metavar="LESSON", help="default: every lesson")
    p.add_argument("--out", type=Path, help=f"the zip file (default: {COURSE}-solutions-{__version__}.zip)")
    commands.add_parser("stamp", help="stamp every lesson notebook with the installed version")
    args = parser.parse_args(argv)
    if args.command == "stamp":
        changed = stamp_notebooks()
        print("\n".join(f"stamped {p.relative_to(ROOT)}" for p in changed) or f"every notebook carries {__version__}")
        return 0
    try:
        out = solutions_bundle(args.out, args.lessons)
    except ValueError as error:
        parser.error(str(error))
    print(f"wrote {out}: worked solutions of course version {__version__}, for learners when you release them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
