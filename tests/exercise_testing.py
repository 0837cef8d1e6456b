"""Shared tools for the exercise tests (tests/test_exercises_*.py): grade an answer as the course does.

``grade`` runs an exercise's visible checks as the learner's check cell does, then the visible and
hidden checks as the grader does: every input first makes the grader's trip through the wire
format (an input the format cannot carry fails here, not at grading time) and results come back
as plain data. ``fails`` asserts that an answer fails with a message containing ``phrase``.
"""

from __future__ import annotations

import pytest

from medprep_grader import hidden
from medprep_grader.secret import rng_for
from medprep_helpers import exercises, wire
from medprep_helpers.checks import CheckFailed, Checker, LocalRunner, check

SECRETS = ["test-secret-0123456789", "another-course-secret-42", "third-secret-for-the-term"]


class WireRunner(LocalRunner):
    """A LocalRunner whose arguments first make the grader's trip through the wire format."""

    def call(self, name, args, kwargs):
        sent_args, sent_kwargs = wire.decode(wire.encode((tuple(args), dict(kwargs))))
        assert wire.unsupported_part((sent_args, sent_kwargs)) is None, f"{name}: an input the wire format cannot carry"
        return super().call(name, sent_args, sent_kwargs)


def grade(name, answer, secret=SECRETS[0]) -> int:
    """Visible checks in the notebook, then visible and hidden ones as graded; the hidden checks passed."""
    check(name, answer)
    exercises.get(name).visible(Checker(name, WireRunner(answer)))
    checker = Checker(name, WireRunner(answer), kind="hidden")
    hidden.get(name).run(checker, rng_for(name, secret))
    return checker.passed


def fails(name, answer, phrase, secret=SECRETS[0]) -> str:
    """Assert that ``answer`` fails with a message containing ``phrase`` (hints are wrapped: spaces normalised)."""
    with pytest.raises(CheckFailed) as failure:
        grade(name, answer, secret)
    assert " ".join(phrase.split()) in " ".join(str(failure.value).split()), str(failure.value)
    return str(failure.value)
