"""Feedback that teaches: the checking layer behind the exercises' one-line check cells.

In a lesson notebook each graded exercise is followed by one line::

    check("label_rate_by", label_rate_by)      # a function exercise
    check("most_associated")                   # an answer stored in a variable

:func:`check` runs the exercise's *visible* checks (small cases stated in the task text, in
:mod:`medprep_helpers.exercises`) against the learner's function and either prints how many
passed or stops with a :class:`CheckFailed` whose message says what was checked, what was
expected, what was found and a hint. In IPython the message is shown first and alone: no
frames of this module, and for an answer that crashed, only the learner's own failing line.

Every value a learner's function returns is passed through :func:`medprep_helpers.wire.to_plain`
first, the same plain-data round trip the grader uses, so a result type the grader would
reject (a ``float`` subclass, an object array...) is reported here in the same words.

Grading does not trust anything that runs in the learner's kernel, this module included:
``medprep_grader`` calls the learner's functions from outside, on hidden inputs, and runs the
same :class:`Checker` methods in its own process on the plain values it receives.

Examples
--------
>>> check = Checker("double", LocalRunner(lambda x: 2 * x))
>>> check.close(check.call(3), 6, concept="2 * 3")
>>> check.done()
double: 1 visible check passed. Hidden checks may still run when the notebook is graded.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from . import wire

__all__ = [
    "CheckFailed", "NotImplementedYet", "Checker", "LocalRunner", "check", "learner_frame", "same_value",
    "respond_to_grader", "raise_crash", "raise_modified",
]

_NOT_GIVEN = object()


class CheckFailed(AssertionError):
    """A check of a learner's answer failed; the message explains why."""


class NotImplementedYet(CheckFailed, NotImplementedError):
    """The learner's function still raises ``NotImplementedError``.

    It is both a :class:`CheckFailed` (a friendly message) and a ``NotImplementedError`` (what an
    untouched exercise is expected to raise).
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
    elif isinstance(value, wire.Unsupported):
        text = f"a {value.type_name}"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def same_value(a: Any, b: Any) -> bool:
    """Whether two plain values (as :mod:`~medprep_helpers.wire` decodes them) are equal.

    Arrays compare by dtype, shape and values (NaN equal to NaN); pandas objects with ``equals``.

    Examples
    --------
    >>> same_value([np.array([1.0, np.nan])], [np.array([1.0, np.nan])])
    True
    """
    if type(a) is not type(b):
        return False
    if type(a) in (tuple, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if type(a) is np.ndarray:
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if hasattr(a, "equals"):  # pandas Series / DataFrame
        return bool(a.equals(b))
    if isinstance(a, float) and np.isnan(a):
        return bool(np.isnan(b))
    return bool(a == b)


def learner_frame(error: BaseException) -> str:
    """Where a learner's code failed: the innermost frame outside this package and the libraries.

    Returns an empty string when every frame belongs to a library (the error came from a
    library called with bad arguments: its message is what the learner needs).
    """
    package = os.path.dirname(os.path.abspath(__file__))
    libraries = {os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not os.path.abspath(frame.filename).startswith(package)
        and not any(os.path.abspath(frame.filename).startswith(lib) for lib in libraries)
    ]
    if not frames:
        return ""
    frame = frames[-1]
    where = "your function" if frame.name in ("<module>", "<lambda>") else f"{frame.name}()"
    return f"{where}, line {frame.lineno}: {(frame.line or '').strip()}"


class LocalRunner:
    """Calls a learner's function (or reads an answer value) in this process, for visible checks.

    Parameters
    ----------
    target : callable or object
        The learner's function, or the value of an answer variable.
    """

    def __init__(self, target: Any):
        self.target = target
        self._folder: Path | None = None

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        if not callable(self.target):
            raise CheckFailed(
                f"{name}: not a function\n  expected: a function defined with def {name}(...)\n"
                f"  found:    {_short(self.target)}"
            )
        originals = copy.deepcopy((args, kwargs))
        try:
            result = self.target(*args, **kwargs)
        except NotImplementedError:
            raise NotImplementedYet(
                f"{name}: not implemented yet\n"
                "  hint:     Replace the line `raise NotImplementedError()` with your code."
            ) from None
        except Exception as error:  # noqa: BLE001 - any crash becomes feedback
            raise_crash(name, f"{type(error).__name__}: {error}", learner_frame(error))
        if not same_value(wire.to_plain(originals), wire.to_plain((args, kwargs))):
            raise_modified(name)
        return wire.to_plain(result)

    def value(self, name: str) -> Any:
        return wire.to_plain(self.target)

    def scratch_path(self, filename: str) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="medprep-check-"))
        return self._folder / filename


def raise_crash(name: str, error_text: str, where: str) -> None:
    """Raise the feedback for a learner function that raised an exception."""
    lines = [f"{name}: your function raised an error", f"  error:    {error_text[:500]}"]
    if where:
        lines.append(f"  in:       {where[:300]}")
    lines.append("  hint:     Call your function on the example in the task and read the full error there.")
    raise CheckFailed("\n".join(lines))


def raise_modified(name: str) -> None:
    """Raise the feedback for a learner function that changed its input in place."""
    raise CheckFailed(
        f"{name}: inputs must not be modified\n"
        "  expected: the input unchanged after the call\n"
        "  found:    the input was changed in place\n"
        "  hint:     Work on a copy (e.g. `image = image.copy()` or `df = df.copy()`) "
        "or use functions that return new objects."
    )


class Checker:
    """Runs the checks of one exercise and reports them.

    Parameters
    ----------
    function_name : str
        The exercise's name (the learner's function or answer variable); every message starts with it.
    runner : object, optional
        What :meth:`call`, :meth:`value` and :meth:`scratch_path` go through: a :class:`LocalRunner`
        in the learner's notebook, the grader's remote runner when grading.
    kind : str
        ``"visible"`` or ``"hidden"``: only used in the summary line.
    """

    def __init__(self, function_name: str, runner: Any = None, kind: str = "visible"):
        if not isinstance(function_name, str) or not function_name:
            raise TypeError("function_name must be a non-empty string")
        self.function_name = function_name
        self.runner = runner
        self.kind = kind
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
            wrapped = textwrap.fill(hint, width=88, subsequent_indent=" " * 12)
            lines.append(f"  hint:     {wrapped}")
        raise CheckFailed("\n".join(lines))

    def that(self, condition: bool, concept: str, expected: Any, found: Any, hint: str = "") -> None:
        """Pass when ``condition`` is true, otherwise fail with the given message."""
        if not bool(condition):
            self.fail(concept, expected, found, hint)
        self.passed += 1

    # -- the learner's answer -------------------------------------------------
    def _runner(self):
        if self.runner is None:
            raise TypeError("this Checker has no runner: pass runner=LocalRunner(function)")
        return self.runner

    def _plain(self, value: Any, what: str) -> Any:
        odd = wire.unsupported_part(value)
        if odd is not None:
            self.fail(
                f"type of the {what}",
                "plain Python or numpy/pandas values (float, int, str, bool, list, tuple, dict, ndarray, Series, "
                "DataFrame, Path)",
                f"a {odd.type_name}",
                "Return the value itself, e.g. float(x), a plain numpy array or pandas object, not an object of "
                "your own class or a subclass.",
            )
        return value

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """Call the learner's function on these arguments and return its result as plain data.

        A crash, ``NotImplementedError`` or an argument changed in place raise :class:`CheckFailed`
        with a message that says so.
        """
        return self._plain(self._runner().call(self.function_name, args, kwargs), "result")

    def value(self) -> Any:
        """The learner's answer variable, as plain data."""
        return self._plain(self._runner().value(self.function_name), "answer")

    def scratch_path(self, filename: str) -> Path:
        """A path in a folder where the learner's function may write a file (new for each checker)."""
        return self._runner().scratch_path(filename)

    # -- common checks --------------------------------------------------------
    def type_is(self, value: Any, expected_type: type | tuple, concept: str = "type of the result", hint: str = "") -> None:
        """Check ``isinstance(value, expected_type)``."""
        names = (
            " or ".join(t.__name__ for t in expected_type)
            if isinstance(expected_type, tuple)
            else expected_type.__name__
        )
        found = value.type_name if isinstance(value, wire.Unsupported) else type(value).__name__
        self.that(isinstance(value, expected_type), concept, names, found, hint)

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

    def done(self) -> None:
        """Print the summary line: how many checks passed."""
        noun = "check" if self.passed == 1 else "checks"
        if self.kind == "visible":
            print(
                f"{self.function_name}: {self.passed} visible {noun} passed. "
                "Hidden checks may still run when the notebook is graded."
            )
        else:
            print(f"{self.function_name}: {self.passed} {self.kind} {noun} passed.")


def check(name: str, answer: Any = _NOT_GIVEN) -> None:
    """Run the visible checks of exercise ``name`` on the learner's answer.

    Parameters
    ----------
    name : str
        The exercise's name, as in its task (``"label_rate_by"``).
    answer : callable or object, optional
        The learner's function or answer value. Omitted: the variable called ``name`` in the
        notebook (for answers stored in a variable, which may not exist yet).

    Raises
    ------
    CheckFailed
        With a message that says what was expected, what was found and a hint.

    Examples
    --------
    >>> check("no_such_exercise", print)
    Traceback (most recent call last):
    ...
    ValueError: name must be one of the course's exercises, got 'no_such_exercise'
    """
    from . import exercises

    exercise = exercises.get(name)
    if answer is _NOT_GIVEN:
        namespace = _notebook_namespace()
        if name not in namespace:
            raise CheckFailed(
                f"{name}: not answered yet\n"
                f"  expected: a variable called {name}\n"
                "  found:    no such variable\n"
                "  hint:     Run the answer cell above (replace `raise NotImplementedError()` with your answer)."
            )
        answer = namespace[name]
    checker = Checker(name, LocalRunner(answer))
    exercise.visible(checker)
    checker.done()


REPLY_MIME = "application/vnd.medprep.reply+json"


def respond_to_grader(namespace: dict, request: str) -> None:
    """Answer one request of the grader, in the learner's kernel: call a function or read a variable.

    The grader sends ``{"nonce", "name", "mode": "call"|"value", "args", "kwargs"}`` (arguments in
    the :mod:`~medprep_helpers.wire` format) and reads the reply from a display message of type
    ``REPLY_MIME``. Nothing here is trusted by the grader: it decodes the reply strictly and judges
    the plain values in its own process.
    """
    import json

    message = json.loads(request)
    reply = {"nonce": message["nonce"]}
    name = message["name"]
    try:
        if name not in namespace:
            reply["status"] = "missing"
        elif message["mode"] == "value":
            reply.update(status="ok", result=wire.encode(namespace[name]))
        elif not callable(namespace[name]):
            reply.update(status="not_callable", found=_short(namespace[name]))
        else:
            args, kwargs = wire.decode(message["args"]), wire.decode(message["kwargs"])
            try:
                result = namespace[name](*args, **kwargs)
            except NotImplementedError:
                reply["status"] = "not_implemented"
            except BaseException as error:  # noqa: BLE001 - SystemExit too: any crash is feedback
                reply.update(status="error", error=f"{type(error).__name__}: {error}"[:500],
                             where=learner_frame(error))
            else:
                reply.update(status="ok", result=wire.encode(result), inputs_after=wire.encode([list(args), kwargs]))
    except Exception as error:  # noqa: BLE001 - report, never raise into the kernel's reply
        reply.update(status="responder_error", error=f"{type(error).__name__}: {error}"[:500])
    from IPython.display import display

    display({REPLY_MIME: reply}, raw=True)


def _notebook_namespace() -> dict:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        shell = None
    return shell.user_ns if shell is not None else vars(sys.modules["__main__"])


def _show_message_only(shell, etype, value, tb, tb_offset=None):
    """IPython handler for CheckFailed: the message alone, no frames of the checking layer."""
    red, reset = "\x1b[1;31m", "\x1b[0m"
    title = "Not implemented yet" if isinstance(value, NotImplementedYet) else "Check failed"
    shown = [f"{red}{title}{reset}\n{value}"]
    shell._showtraceback(etype, value, shown)  # IPython leaves showing it to the handler
    return shown


def _install_display() -> None:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        return
    if shell is not None:
        shell.set_custom_exc((CheckFailed,), _show_message_only)


_install_display()
