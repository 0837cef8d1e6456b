"""The feedback layer: failures explain themselves, passes say 'visible'."""

import numpy as np
import pandas as pd
import pytest

from medprep_helpers.checks import CheckFailed, Checker, LocalRunner, NotImplementedYet, check


def test_failure_message_has_expected_found_and_hint():
    check = Checker("f")
    with pytest.raises(CheckFailed) as error:
        check.close(3.0, 2.0, "value on the toy input", hint="Divide by the group size.")
    message = str(error.value)
    assert message.startswith("f: value on the toy input")
    assert "expected: 2\n" in message and "found:    3\n" in message and "hint:     Divide" in message


def test_passes_are_counted_and_reported_as_visible(capsys):
    check = Checker("f")
    check.that(True, "c", 1, 1)
    check.close([1.0, 2.0], [1.0, 2.0 + 1e-12], "c")
    check.done()
    assert "f: 2 visible checks passed. Hidden checks may still run" in capsys.readouterr().out


def test_not_implemented_is_both_a_check_failure_and_not_implemented():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(NotImplementedYet) as error:
        Checker("stub", LocalRunner(stub)).call(1)
    assert isinstance(error.value, NotImplementedError) and isinstance(error.value, CheckFailed)
    assert "raise NotImplementedError()" in str(error.value)


def test_crash_becomes_feedback_naming_the_error():
    with pytest.raises(CheckFailed, match="ZeroDivisionError"):
        Checker("f", LocalRunner(lambda x: 1 / x)).call(0)


@pytest.mark.parametrize(
    "value, change",
    [
        (np.arange(4.0), lambda a: a.__setitem__(0, 9)),
        (pd.DataFrame({"a": [1, 2]}), lambda df: df.__setitem__("b", 1)),
        ([1, 2], lambda lst: lst.append(3)),
    ],
)
def test_in_place_modification_is_named(value, change):
    def modifies(x):
        change(x)
        return 0

    with pytest.raises(CheckFailed, match="inputs must not be modified"):
        Checker("f", LocalRunner(modifies)).call(value)


def test_shape_type_and_close_shape_mismatch():
    check = Checker("f")
    with pytest.raises(CheckFailed, match="expected: \\(2, 2\\)"):
        check.shape_is(np.zeros((2, 3)), (2, 2))
    with pytest.raises(CheckFailed, match="Series"):
        check.type_is([1], pd.Series)
    with pytest.raises(CheckFailed, match="shape"):
        check.close([1, 2], [1, 2, 3], "length")
    with pytest.raises(CheckFailed, match="numeric"):
        check.close("abc", 1.0, "numbers")


def test_checker_needs_a_name():
    with pytest.raises(TypeError):
        Checker("")


def test_a_crash_names_the_learners_own_line():
    def divide(x):
        ratio = x / 0
        return ratio

    with pytest.raises(CheckFailed) as error:
        Checker("divide", LocalRunner(divide)).call(1)
    message = str(error.value)
    assert "ZeroDivisionError" in message and "divide(), line" in message and "ratio = x / 0" in message
    assert "checks.py" not in message


def test_results_the_grader_would_reject_are_reported_as_types():
    class AlwaysEqual(float):
        def __eq__(self, other):
            return True

    with pytest.raises(CheckFailed, match="type of the result") as error:
        Checker("f", LocalRunner(lambda: AlwaysEqual(1.0))).call()
    assert "AlwaysEqual" in str(error.value)


def test_check_names_an_unknown_exercise_and_a_missing_answer():
    with pytest.raises(ValueError, match="name must be one of the course's exercises"):
        check("no_such_exercise", print)
    with pytest.raises(CheckFailed, match="not answered yet"):
        check("most_associated")


def test_ipython_shows_a_failed_check_alone():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    import medprep_helpers.checks as checks_module

    shell = InteractiveShell.instance()
    checks_module._install_display()
    with capture_output() as captured:
        shell.run_cell("from medprep_helpers.checks import check\ncheck('label_rate_by', lambda m, c, label='x': 1 / 0)")
    shown = captured.stdout + captured.stderr
    assert "Check failed" in shown and "ZeroDivisionError" in shown
    assert "Traceback" not in shown and "checks.py" not in shown
