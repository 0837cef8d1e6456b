"""The course's graded exercises and their visible checks.

Each lesson has one module here; each exercise is a function decorated with :func:`exercise`
that takes a :class:`~medprep_helpers.checks.Checker` and runs the *visible* checks: the cases
stated in the exercise's task text, with literal expected values (no reference solution lives
in this package, so no helper answers an exercise). The grader (``medprep_grader``, instructor
only) runs the same visible checks from outside the learner's kernel, then hidden cases drawn
from a course secret.

Examples
--------
>>> get("label_rate_by").lesson
'01_know_your_data'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

__all__ = ["Exercise", "exercise", "get", "for_lesson", "LESSON_MODULES"]

# lesson (nbgrader assignment) -> module holding its exercises
LESSON_MODULES = {
    "01_know_your_data": "medprep_helpers.exercises.know_your_data",
    "02_augment": "medprep_helpers.exercises.augment",
    "03_features": "medprep_helpers.exercises.features",
    "04_harmonize": "medprep_helpers.exercises.harmonize",
}
KINDS = ("function", "value")


@dataclass(frozen=True)
class Exercise:
    """One graded exercise.

    Attributes
    ----------
    name : str
        The learner's function or answer variable; its check cell has grade id ``<name>_checks``.
    lesson : str
        The lesson (nbgrader assignment) it belongs to.
    kind : str
        ``"function"`` (the learner writes a function) or ``"value"`` (an answer variable).
    visible : callable
        ``visible(check)`` runs the visible checks with the given Checker.
    """

    name: str
    lesson: str
    kind: str
    visible: Callable


_REGISTRY: dict[str, Exercise] = {}


def exercise(name: str, lesson: str, kind: str = "function") -> Callable:
    """Register the decorated function as the visible checks of exercise ``name``."""
    if lesson not in LESSON_MODULES:
        raise ValueError(f"lesson must be one of {sorted(LESSON_MODULES)}, got {lesson!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def register(visible: Callable) -> Callable:
        _REGISTRY[name] = Exercise(name, lesson, kind, visible)
        return visible

    return register


def _load_all() -> None:
    for module in LESSON_MODULES.values():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:  # a lesson module that exists but fails to import is a bug
                raise


def get(name: str) -> Exercise:
    """The exercise called ``name``; ValueError naming the argument when there is none."""
    if name not in _REGISTRY:
        _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"name must be one of the course's exercises, got {name!r}")
    return _REGISTRY[name]


def for_lesson(lesson: str) -> list[Exercise]:
    """The exercises of one lesson, in the order they are registered (the notebook's order)."""
    if lesson not in LESSON_MODULES:
        raise ValueError(f"lesson must be one of {sorted(LESSON_MODULES)}, got {lesson!r}")
    _load_all()
    return [e for e in _REGISTRY.values() if e.lesson == lesson]
