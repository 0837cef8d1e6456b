"""Hidden checks: cases drawn from the course secret, judged with reference implementations.

Instructor-only (never in the learner package). One module per lesson; each hidden check is a
function ``(check, rng)`` decorated with :func:`hidden`, where ``check`` is a
:class:`medprep_helpers.checks.Checker` whose calls go to the learner's kernel and ``rng`` is a
numpy Generator seeded from the course secret and the exercise name. Messages reuse the
visible checks' judges (``medprep_helpers.exercises``), so a mistake is named the same way
in both.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from medprep_helpers.exercises import LESSON_MODULES

__all__ = ["HiddenCheck", "hidden", "get"]

MODULES = {lesson: "medprep_grader.hidden." + module.rsplit(".", 1)[1] for lesson, module in LESSON_MODULES.items()}


@dataclass(frozen=True)
class HiddenCheck:
    """The hidden part of one exercise.

    Attributes
    ----------
    name : str
        The exercise.
    run : callable
        ``run(check, rng)``.
    helpers_that_answer : tuple of str
        Names of course helpers that compute this exercise's answer in one call: an answer whose
        source calls one of them is reported to the instructor by name.
    """

    name: str
    run: Callable
    helpers_that_answer: tuple = ()


_REGISTRY: dict[str, HiddenCheck] = {}


def hidden(name: str, helpers_that_answer: tuple = ()) -> Callable:
    """Register the decorated ``(check, rng)`` function as exercise ``name``'s hidden checks."""

    def register(run: Callable) -> Callable:
        _REGISTRY[name] = HiddenCheck(name, run, tuple(helpers_that_answer))
        return run

    return register


def get(name: str) -> HiddenCheck | None:
    """The hidden checks of exercise ``name`` (None when it has only visible ones)."""
    if name not in _REGISTRY:
        for module in MODULES.values():
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as error:
                if error.name != module:
                    raise
    return _REGISTRY.get(name)
