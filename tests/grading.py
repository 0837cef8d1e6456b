"""Shared tools for the grading-pipeline tests: run nbgrader on a copy of the course.

Everything runs in a temporary copy of the course, so the tests never write
into the repository (no gradebook.db, no submitted/ folders).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
SUBMISSIONS = ROOT / "tests" / "submissions"


def lessons() -> list[str]:
    """The lessons (nbgrader assignments) that have a solution notebook."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name)


def solution_path(lesson: str) -> Path:
    return SOLUTIONS / lesson / f"{lesson}.ipynb"


def student_path(lesson: str) -> Path:
    return NOTEBOOKS / lesson / f"{lesson}.ipynb"


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def copy_course(destination: Path, with_data: bool = False) -> Path:
    """Copy what nbgrader needs (config, solutions, notebooks) into ``destination``.

    ``with_data`` also copies ``data/``: grading then runs with ``MEDPREP_DATA`` pointing
    at the copy (see :func:`course_data`), so no submission can reach the repository's data.
    """
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", destination / "nbgrader_config.py")
    for folder in ("solutions", "notebooks") + (("data",) if with_data else ()):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, destination / folder, dirs_exist_ok=True)
    return destination


@contextmanager
def course_data(folder: Path):
    """Point ``MEDPREP_DATA`` (and so ``medprep_helpers.data.data_dir``) at ``folder`` for a while."""
    old = os.environ.get("MEDPREP_DATA")
    os.environ["MEDPREP_DATA"] = str(folder)
    try:
        yield Path(folder)
    finally:
        if old is None:
            os.environ.pop("MEDPREP_DATA", None)
        else:
            os.environ["MEDPREP_DATA"] = old


def nbgrader_api(course_root: Path, overrides: dict | None = None):
    """An ``NbGraderAPI`` configured from the course's ``nbgrader_config.py`` (plus ``overrides``)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    config.merge(Config(overrides or {}))
    config.CourseDirectory.root = str(course_root)
    return NbGraderAPI(config=config)


def generate(course_root: Path, lesson: str) -> Path:
    """Generate the student version of ``lesson`` inside ``course_root``."""
    result = nbgrader_api(course_root).generate_assignment(lesson, force=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {lesson} failed:\n{result['log']}\n{result.get('error')}")
    return course_root / "notebooks" / lesson / f"{lesson}.ipynb"


def submit(course_root: Path, lesson: str, notebooks: dict[str, Path]) -> None:
    """Put each student's notebook where nbgrader looks: ``submitted/<student>/<lesson>/<lesson>.ipynb``."""
    for student, notebook in notebooks.items():
        folder = course_root / "submitted" / student / lesson
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, folder / f"{lesson}.ipynb")


def sample_submissions(lesson: str) -> dict[str, Path]:
    """The committed sample submissions of ``lesson``, by student (see make_submissions.py)."""
    return {p.parents[1].name: p for p in sorted(SUBMISSIONS.glob(f"*/{lesson}/{lesson}.ipynb"))}


def notebook_grades(course_root: Path, lesson: str) -> dict[str, dict[str, dict]]:
    """``{student: {grade_id: {"auto", "manual", "score", "max"}}}`` from the course's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        for student in gradebook.students:
            try:
                record = gradebook.find_submission_notebook(lesson, lesson, student.id)
            except MissingEntry:
                continue
            out[student.id] = {
                g.name: {"auto": g.auto_score, "manual": g.manual_score, "score": g.score, "max": g.max_score}
                for g in record.grades
            }
    return out


def set_manual_grade(course_root: Path, lesson: str, student: str, grade_id: str, score: float) -> None:
    """What an instructor does in formgrader: give a written answer its points."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(grade_id, lesson, lesson, student)
        grade.manual_score = score
        gradebook.db.commit()


def export_grades(course_root: Path, destination: Path) -> Path:
    """What ``nbgrader export`` does: one CSV row per student and lesson."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        CsvExportPlugin(to=str(destination)).export(gradebook)
    return destination


def autograde_class(course_root: Path, lesson: str, students: list[str], timeout: int | None = None, processes: int = 2) -> str:
    """Autograde ``students`` with ``processes`` nbgrader processes on disjoint students; return the logs.

    One group is graded in this process (``NbGraderAPI``), the others by ``nbgrader autograde``
    command lines running meanwhile: a notebook's kernel leaves a core partly idle (start-up,
    messaging), and a second grader fills it. ``MEDPREP_DATA`` points at the course's ``data/``.
    """
    students = sorted(students)
    groups = [g for g in (students[i::processes] for i in range(processes)) if g]
    options = {"Execute": {"timeout": timeout}, "SandboxedExecute": {"call_timeout": timeout}} if timeout else {}

    def others(group):
        return ",".join(s for s in students if s not in group)

    with course_data(course_root / "data"):
        command = [sys.executable, "-m", "nbgrader", "autograde", lesson, "--force"]
        command += [f"--Execute.timeout={timeout}", f"--SandboxedExecute.call_timeout={timeout}"] if timeout else []
        background = [
            subprocess.Popen(
                command + [f"--CourseDirectory.student_id_exclude={others(group)}"],
                cwd=course_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            for group in groups[1:]
        ]
        api = nbgrader_api(course_root, {**options, "CourseDirectory": {"student_id_exclude": others(groups[0])}})
        here = api.autograde(lesson, "*", force=True, create=True)
        logs = [here["log"] + (here.get("error") or "")] + [p.communicate()[0] for p in background]
    if not here["success"] or any(p.returncode for p in background):
        raise RuntimeError(f"nbgrader autograde {lesson} failed:\n" + "\n".join(logs))
    return "\n".join(logs)


#: Per-cell time limit while grading the samples (the course config says 30 s): the sample with an
#: endless loop pays it twice, in its test cell and in a later cell that calls the same function.
SAMPLE_TIMEOUT = 10


def instructor_workflow(
    course_root: Path,
    lesson: str,
    notebooks: dict[str, Path],
    manual_scores: dict[str, dict[str, float]],
    timeout: int | None = SAMPLE_TIMEOUT,
) -> dict:
    """Everything an instructor does for one lesson, in a course copy made by ``copy_course(..., with_data=True)``.

    Collect (copy into ``submitted/``), autograde every student (two nbgrader processes), grade the
    written answers by hand (``manual_scores``, as formgrader would), generate feedback, export
    grades. Returns a JSON-friendly record: grades after autograding (``auto``) and at the end
    (``final``), the logs, the feedback files, the grades CSV and the data checksum problems.
    """
    from medprep_helpers.data import verify_manifest

    from medprep_grader.integrity import code_fingerprint

    submit(course_root, lesson, notebooks)
    generate(course_root, lesson)  # records the lesson and its grade cells in the gradebook
    submitted_before = _digests(course_root / "submitted")
    code_before, home_before = code_fingerprint(), _digests(Path.home())
    log = autograde_class(course_root, lesson, list(notebooks), timeout)
    code_after, home_after = code_fingerprint(), _digests(Path.home())
    auto = notebook_grades(course_root, lesson)
    for student, scores in manual_scores.items():
        for grade_id, score in scores.items():
            set_manual_grade(course_root, lesson, student, grade_id, score)
    feedback = nbgrader_api(course_root).generate_feedback(lesson)
    if not feedback["success"]:
        raise RuntimeError(f"nbgrader generate_feedback {lesson} failed:\n{feedback['log']}\n{feedback.get('error')}")
    return {
        "lesson": lesson,
        "course": str(course_root),
        "auto": auto,
        "final": notebook_grades(course_root, lesson),
        "autograde_log": log,
        "feedback": {s: str(course_root / "feedback" / s / lesson / f"{lesson}.html") for s in notebooks},
        "grades_csv": str(export_grades(course_root, course_root / "grades.csv")),
        "data_problems": verify_manifest(course_root / "data"),
        "submitted_changed": sorted(k for k, v in _digests(course_root / "submitted").items() if submitted_before.get(k) != v),
        "code_changed": sorted(k for k in code_before.keys() | code_after.keys() if code_before.get(k) != code_after.get(k)),
        "home_changed": sorted(k for k in home_before.keys() | home_after.keys()
                               if home_before.get(k) != home_after.get(k) and ("/startup/" in k or "medprep-attack" in k)),
    }


def _digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` that an attack could aim at (HOME: only IPython/Jupyter folders)."""
    import hashlib

    roots = [folder / ".ipython", folder / ".jupyter", folder / ".config"] if folder == Path.home() else [folder]
    out = {}
    for root in roots:
        for path in root.rglob("*") if root.is_dir() else []:
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
