"""Feedback that teaches: the checking layer behind the exercises' test cells.

Every visible test cell in the course builds one :class:`Checker` for the
function it tests, runs a few focused checks (one concept each), and ends
with :meth:`Checker.done`. A failed check raises :class:`CheckFailed`, whose
message says what was expected, what was found, and a hint; a finished
checker prints that the *visible* checks passed, because hidden checks may
still run when the notebook is graded.

The same cells work with nbgrader (a raised exception means zero points for
that cell) and for self-paced learners who simply run the notebook.

Examples
--------
>>> check = Checker("double")
>>> found = check.call(lambda x: 2 * x, 3)
>>> check.close(found, 6, concept="2 * 3")
>>> check.done()
double: 1 visible check passed. Hidden checks may still run when the notebook is graded.
"""

from __future__ import annotations

import copy
import textwrap
from typing import Any, Callable

import numpy as np

__all__ = ["CheckFailed", "NotImplementedYet", "Checker"]


class CheckFailed(AssertionError):
    """A check of a learner's answer failed; the message explains why."""


class NotImplementedYet(CheckFailed, NotImplementedError):
    """The learner's function still raises ``NotImplementedError``.

    It is both a :class:`CheckFailed` (a friendly message) and a
    ``NotImplementedError`` (what an untouched exercise is expected to raise).
    """


def _short(value: Any, width: int = 300) -> str:
    """A one-glance text form of a value for a feedback message."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, np.ndarray):
        if value.size > 12:
            text = f"array of shape {value.shape}, dtype {value.dtype}"
            if value.size and np.issubdtype(value.dtype, np.number):
                finite = value[np.isfinite(value)] if value.dtype.kind == "f" else value
                if finite.size:
                    text += f", values {finite.min():.4g}..{finite.max():.4g}"
            return text
        text = np.array2string(value, precision=4, separator=", ")
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class Checker:
    """Runs the checks of one exercise function and reports them.

    Parameters
    ----------
    function_name : str
        The name of the learner's function; every message starts with it.
    """

    def __init__(self, function_name: str):
        if not isinstance(function_name, str) or not function_name:
            raise TypeError("function_name must be a non-empty string")
        self.function_name = function_name
        self.passed = 0

    # -- the one primitive every check goes through -------------------------
    def fail(self, concept: str, expected: Any, found: Any, hint: str = "") -> None:
        """Raise :class:`CheckFailed` with a structured, readable message."""
        lines = [
            f"{self.function_name}: {concept}",
            f"  expected: {expected if isinstance(expected, str) else _short(expected)}",
            f"  found:    {found if isinstance(found, str) else _short(found)}",
        ]
        if hint:
            wrapped = textwrap.fill(hint, width=88, subsequent_indent=" " * 10)
            lines.append(f"  hint:     {wrapped}")
        raise CheckFailed("\n".join(lines))

    def that(self, condition: bool, concept: str, expected: Any, found: Any, hint: str = "") -> None:
        """Pass when ``condition`` is true, otherwise fail with the given message."""
        if not bool(condition):
            self.fail(concept, expected, found, hint)
        self.passed += 1

    # -- calling the learner's code ----------------------------------------
    def call(self, function: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call the learner's function, turning crashes into feedback.

        The arguments are deep-copied first and compared afterwards, so a
        function that modifies its input in place fails with a message that
        says so.
        """
        originals = copy.deepcopy((args, kwargs))
        try:
            result = function(*args, **kwargs)
        except NotImplementedError:
            raise NotImplementedYet(
                f"{self.function_name}: not implemented yet\n"
                "  hint:     Replace the line `raise NotImplementedError()` with your code."
            ) from None
        except CheckFailed:
            raise
        except Exception as error:  # noqa: BLE001 - any crash becomes feedback
            self.fail(
                "the function raised an error",
                "a result",
                f"{type(error).__name__}: {error}",
                "Run your function on the example above and read the traceback.",
            )
        if not _same(originals, (args, kwargs)):
            self.fail(
                "inputs must not be modified",
                "the input unchanged after the call",
                "the input was changed in place",
                "Work on a copy (e.g. `image = image.copy()` or `df = df.copy()`) "
                "or use functions that return new objects.",
            )
        return result

    # -- common checks --------------------------------------------------------
    def type_is(self, value: Any, expected_type: type | tuple, concept: str = "type of the result", hint: str = "") -> None:
        """Check ``isinstance(value, expected_type)``."""
        names = (
            " or ".join(t.__name__ for t in expected_type)
            if isinstance(expected_type, tuple)
            else expected_type.__name__
        )
        self.that(isinstance(value, expected_type), concept, names, type(value).__name__, hint)

    def shape_is(self, array: Any, shape: tuple, concept: str = "shape of the result", hint: str = "") -> None:
        """Check the shape of an array-like."""
        found = np.shape(array)
        self.that(tuple(found) == tuple(shape), concept, str(tuple(shape)), str(tuple(found)), hint)

    def close(
        self,
        found: Any,
        expected: Any,
        concept: str,
        hint: str = "",
        rtol: float = 1e-6,
        atol: float = 1e-9,
    ) -> None:
        """Check that numbers (or arrays of numbers) agree within tolerance."""
        try:
            found_arr = np.asarray(found, dtype=float)
            expected_arr = np.asarray(expected, dtype=float)
        except (TypeError, ValueError):
            self.fail(concept, expected, found, hint or "The result should be numeric.")
        if found_arr.shape != expected_arr.shape:
            self.fail(concept, f"shape {expected_arr.shape}", f"shape {found_arr.shape}", hint)
        ok = np.allclose(found_arr, expected_arr, rtol=rtol, atol=atol, equal_nan=True)
        self.that(ok, concept, expected, found, hint)

    def done(self, kind: str = "visible") -> None:
        """Print the summary line: how many checks of this kind passed."""
        noun = "check" if self.passed == 1 else "checks"
        if kind == "visible":
            print(
                f"{self.function_name}: {self.passed} visible {noun} passed. "
                "Hidden checks may still run when the notebook is graded."
            )
        else:
            print(f"{self.function_name}: {self.passed} {kind} {noun} passed.")


def _same(a: Any, b: Any) -> bool:
    """Whether two (nested) arguments are equal, for the in-place-modification check."""
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        import pandas as pd

        if isinstance(a, (pd.DataFrame, pd.Series)):
            return isinstance(b, type(a)) and a.equals(b)
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - uncomparable leaves are treated as unchanged
        return True
