"""Shared tools for the grading-pipeline tests: run nbgrader on a copy of the course.

Everything runs in a temporary copy of the course, so the tests never write
into the repository (no gradebook.db, no submitted/ folders).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"


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


def copy_course(destination: Path) -> Path:
    """Copy what nbgrader needs (config, solutions, notebooks) into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", destination / "nbgrader_config.py")
    for folder in ("solutions", "notebooks"):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, destination / folder, dirs_exist_ok=True)
    return destination


def nbgrader_api(course_root: Path):
    """An ``NbGraderAPI`` configured from the course's ``nbgrader_config.py``."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    config.CourseDirectory.root = str(course_root)
    return NbGraderAPI(config=config)


def generate(course_root: Path, lesson: str) -> Path:
    """Generate the student version of ``lesson`` inside ``course_root``."""
    result = nbgrader_api(course_root).generate_assignment(lesson, force=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {lesson} failed:\n{result['log']}\n{result.get('error')}")
    return course_root / "notebooks" / lesson / f"{lesson}.ipynb"


@dataclass
class AutogradeResult:
    auto_score: float
    auto_max: float
    failed_cells: list[str]
    log: str


def autograde(course_root: Path, lesson: str, student: str, notebook: Path) -> AutogradeResult:
    """Submit ``notebook`` as ``student``'s work on ``lesson``, autograde it, read the scores."""
    from nbgrader.api import Gradebook

    submitted = course_root / "submitted" / student / lesson
    submitted.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, submitted / f"{lesson}.ipynb")
    api = nbgrader_api(course_root)
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        known = {a.name for a in gradebook.assignments}
        if not any(s.id == student for s in gradebook.students):
            gradebook.add_student(student)
    if lesson not in known:
        generate(course_root, lesson)  # records the assignment and its grade cells in the gradebook
    result = api.autograde(lesson, student, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"autograde failed:\n{result['log']}\n{result.get('error')}")
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        notebook_record = gradebook.find_submission_notebook(lesson, lesson, student)
        grades = [g for g in notebook_record.grades if g.auto_score is not None]
        auto_score = sum(g.auto_score for g in grades)
        auto_max = sum(g.max_score for g in grades)
        failed = [g.name for g in grades if g.auto_score < g.max_score]
    return AutogradeResult(auto_score, auto_max, failed, result["log"])
