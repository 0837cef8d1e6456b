"""medprep_grader: the pieces that make grading trustworthy, one at a time.

The whole-course behaviour (sample and hostile submissions through nbgrader) is in
test_grading_safety.py; here each piece runs on a tiny data folder, a tiny course or a notebook
of a few cells.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from grading import ROOT, course_data
from medprep_grader import integrity, secret
from medprep_grader.preprocessors import RestoreFromRelease, SandboxedExecute, SanitizeOutputs
from medprep_grader.sandbox import Sandbox, sandbox_problem
from medprep_helpers import data, wire

needs_sandbox = pytest.mark.skipif(sandbox_problem() is not None, reason=f"no sandbox here: {sandbox_problem()}")


@pytest.fixture
def small_data(tmp_path):
    """A data folder of two files with its manifest, used as the course data."""
    folder = tmp_path / "real" / "data"
    (folder / "examples").mkdir(parents=True)
    (folder / "examples" / "a.png").write_bytes(b"first image")
    (folder / "metadata.csv").write_text("subject_id,site\ns1,clinic\n")
    data.write_manifest(folder)
    integrity._SNAPSHOTS.clear()
    with course_data(folder):
        yield folder
    integrity._SNAPSHOTS.clear()


# --------------------------------------------------------------------------- the wire format


def test_plain_values_round_trip_as_fresh_objects():
    series = pd.Series([0.25, 0.5], index=["a", "b"], name="rate")
    frame = pd.DataFrame({"x": [1, 2], "site": ["p", "q"]}, index=[10, 20])
    value = {"f": 1.5, "nan": float("nan"), "n": np.int64(3), "t": (True, None, "s"), "a": np.eye(2, dtype=np.uint16),
             "s": series, "df": frame, "p": Path("/tmp/x.png")}
    back = wire.decode(wire.encode(value))
    assert back["f"] == 1.5 and np.isnan(back["nan"]) and back["n"] == 3 and type(back["n"]) is np.int64
    assert back["t"] == (True, None, "s") and back["p"] == Path("/tmp/x.png")
    assert back["a"].dtype == np.uint16 and np.array_equal(back["a"], np.eye(2))
    assert back["s"].equals(series) and back["s"].name == "rate"
    assert list(back["df"]["site"]) == ["p", "q"] and list(back["df"].index) == [10, 20]


def test_subclasses_and_foreign_types_become_unsupported():
    class AlwaysEqual(float):
        def __eq__(self, other):
            return True

    class Sneaky(np.ndarray):
        pass

    class SneakySeries(pd.Series):
        pass

    for value in [AlwaysEqual(1.0), np.zeros(3).view(Sneaky), SneakySeries([1.0]), object(), np.array(["a"], dtype=object),
                  {1 + 2j: 1}]:
        decoded = wire.decode(wire.encode(value))
        assert isinstance(decoded, wire.Unsupported), value
    assert isinstance(wire.decode(wire.encode([1, AlwaysEqual(2.0)]))[1], wire.Unsupported)


@pytest.mark.parametrize("text", [
    '{"t": "ndarray", "dtype": "O", "shape": [1], "b64": "AA=="}',
    '{"t": "ndarray", "dtype": "<f8", "shape": [2], "b64": "AAAAAAAAAAA="}',
    '{"t": "pickle", "v": "gASVAAAAAAAAAAA="}',
    '{"t": "dict", "v": [[{"t": "list", "v": []}, 1]]}',
    '{"t": "series", "index": {"values": [1]}, "values": {"t": "ndarray", "dtype": "<f8", "shape": [2], "b64": "AAAAAAAAAAAAAAAAAAAAAA=="}}',
    "[" * 100_000,
    "not json",
])
def test_malformed_text_is_refused(text):
    with pytest.raises(wire.WireError):
        wire.decode(text)


def test_oversized_text_is_refused():
    with pytest.raises(wire.WireError, match="too large"):
        wire.decode(" " * (wire.MAX_BYTES + 1))


# --------------------------------------------------------------------------- the course secret


def test_secret_from_the_environment_and_draws_that_depend_on_it(monkeypatch):
    monkeypatch.setenv(secret.SECRET_ENV, "a" * 20)
    assert secret.course_secret() == "a" * 20
    first = secret.rng_for("label_rate_by").integers(1 << 30, size=4)
    assert np.array_equal(first, secret.rng_for("label_rate_by").integers(1 << 30, size=4))
    assert not np.array_equal(first, secret.rng_for("label_rate_by", "b" * 20).integers(1 << 30, size=4))
    assert not np.array_equal(first, secret.rng_for("cramers_v").integers(1 << 30, size=4))
    monkeypatch.setenv(secret.SECRET_ENV, "short")
    with pytest.raises(ValueError, match="at least 16 characters"):
        secret.course_secret()


def test_secret_file_is_made_once_and_private(monkeypatch, tmp_path):
    monkeypatch.delenv(secret.SECRET_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no grading secret"):
        secret.course_secret(create=False)
    made = secret.course_secret()
    assert secret.course_secret() == made and len(made) >= 32
    assert stat.S_IMODE(os.stat(secret.secret_file()).st_mode) == 0o600
    assert secret.secret_file().is_relative_to(tmp_path)


# --------------------------------------------------------------------------- data protection


def test_data_changes_names_every_changed_file(small_data):
    manifest = (small_data / "MANIFEST.sha256").read_text()
    assert integrity.data_changes(small_data, manifest) == []
    (small_data / "metadata.csv").write_text("changed")
    (small_data / "examples" / "a.png").unlink()
    problems = " ".join(integrity.data_changes(small_data, manifest))
    assert "metadata.csv" in problems and "a.png" in problems


def test_a_rewritten_manifest_is_noticed(small_data):
    manifest = (small_data / "MANIFEST.sha256").read_text()
    (small_data / "metadata.csv").write_text("poisoned")
    data.write_manifest(small_data)  # a data file rewritten together with its manifest line
    assert any("MANIFEST" in p for p in integrity.data_changes(small_data, manifest))


def test_snapshot_survives_damage_and_a_damaged_source_is_refused(small_data, tmp_path):
    copy = integrity.fresh_data_copy(tmp_path / "copy")
    assert data.verify_manifest(copy) == []
    (small_data / "metadata.csv").write_text("changed")
    again = integrity.fresh_data_copy(tmp_path / "again")  # from the snapshot taken before the damage
    assert data.verify_manifest(again) == []
    integrity._SNAPSHOTS.clear()  # a new grading process
    with pytest.raises(RuntimeError, match="fails its checksums"):
        integrity.pristine_data(small_data)


def test_code_fingerprint_notices_a_changed_file():
    integrity._FINGERPRINT.clear()
    try:
        integrity.verify_unchanged()
        path = next(iter(integrity._FINGERPRINT))
        integrity._FINGERPRINT[path] = "0" * 64
        with pytest.raises(integrity.CourseChanged, match="course code changed"):
            integrity.verify_unchanged()
    finally:
        integrity._FINGERPRINT.clear()


# --------------------------------------------------------------------------- configuration


def test_course_config_wires_the_trustworthy_preprocessors():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    run = config.Autograde.autograde_preprocessors
    assert run[0] == "medprep_grader.preprocessors.SandboxedExecute" and not any(p.endswith(".Execute") for p in run)
    assert run.index("nbgrader.preprocessors.LimitOutput") < run.index("medprep_grader.preprocessors.SanitizeOutputs")
    assert run.index("medprep_grader.preprocessors.SanitizeOutputs") < run.index("nbgrader.preprocessors.SaveAutoGrades")
    sanitize = config.Autograde.sanitize_preprocessors
    assert "medprep_grader.preprocessors.RestoreFromRelease" in sanitize
    assert not any("OverwriteCells" in p or "OverwriteKernelspec" in p for p in sanitize)
    assert config.HTMLExporter.sanitize_html is True
    from traitlets.utils.importstring import import_item

    for name in run + sanitize:
        assert callable(import_item(name)), name


def test_nbgrader_stock_lists_are_what_the_config_replaces():
    """The config copies nbgrader's preprocessor lists, swapping ours in; fail loudly if nbgrader changes them."""
    from nbgrader.converters import Autograde

    stock = [p.__module__.split(".")[0] + "." + p.__name__ for p in Autograde.autograde_preprocessors.default()]
    assert stock == [
        "nbgrader.Execute", "nbgrader.IgnorePattern", "nbconvert.ClearMetadataPreprocessor", "nbgrader.LimitOutput",
        "nbgrader.SaveAutoGrades", "nbgrader.AssignLatePenalties", "nbgrader.CheckCellMetadata",
    ]
    sanitize = [p.__name__ for p in Autograde.sanitize_preprocessors.default()]
    assert sanitize == ["ClearOutput", "DeduplicateIds", "OverwriteKernelspec", "OverwriteCells", "CheckCellMetadata"]


# --------------------------------------------------------------------------- restoring locked cells


def _nbgrader_cell(kind, source, grade_id, **flags):
    cell = new_code_cell(source) if kind == "code" else new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, "grade": False, "solution": False,
                                 "locked": False, "task": False, **flags}
    return cell


@pytest.fixture
def tiny_course(tmp_path):
    """A course folder with one released lesson: intro, answer, check cell."""
    released = new_notebook(cells=[
        _nbgrader_cell("markdown", "# Lesson", "intro", locked=True),
        _nbgrader_cell("code", "def f(x):\n    raise NotImplementedError()", "f_answer", solution=True),
        _nbgrader_cell("code", 'check("f", f)', "f_checks", grade=True, locked=True, points=2),
    ])
    released.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path / "course" / "notebooks" / "lesson"
    folder.mkdir(parents=True)
    nbformat.write(released, folder / "lesson.ipynb")
    config = Config()
    config.CourseDirectory.root = str(tmp_path / "course")
    config.CourseDirectory.release_directory = "notebooks"
    return released, config


def test_only_answer_sources_come_from_the_submission(tiny_course):
    released, config = tiny_course
    submitted = nbformat.from_dict(json.loads(nbformat.writes(released)))
    answer, checks = submitted.cells[1], submitted.cells[2]
    answer.source = "def f(x):\n    return 2 * x"
    answer.metadata["tags"] = ["raises-exception"]
    checks.source = 'print("f: all checks passed")'
    checks.metadata["tags"] = ["skip-execution", "raises-exception"]
    checks.metadata["nbgrader"].update(solution=True, grade=False, points=100)
    learner_cell = new_code_cell("helper = 1")
    learner_cell.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "points": 50, "schema_version": 3}
    submitted.cells.insert(2, learner_cell)
    submitted.metadata["kernelspec"]["name"] = "attacker"
    restored, _ = RestoreFromRelease(config=config).preprocess(
        submitted, {"nbgrader": {"assignment": "lesson", "notebook": "lesson"}}
    )
    sources = [c.source for c in restored.cells]
    assert sources == ["# Lesson", "def f(x):\n    return 2 * x", "helper = 1", 'check("f", f)']
    assert restored.cells[1].metadata == released.cells[1].metadata
    assert restored.cells[3].metadata == released.cells[2].metadata
    assert restored.cells[2].metadata == {"medprep_learner_cell": True}  # nothing of the learner's metadata
    assert restored.metadata["kernelspec"]["name"] == "python3"


def test_a_deleted_check_cell_comes_back(tiny_course):
    released, config = tiny_course
    submitted = nbformat.from_dict(json.loads(nbformat.writes(released)))
    del submitted.cells[2]
    restored, _ = RestoreFromRelease(config=config).preprocess(
        submitted, {"nbgrader": {"assignment": "lesson", "notebook": "lesson"}}
    )
    assert [c.metadata["nbgrader"]["grade_id"] for c in restored.cells] == ["intro", "f_answer", "f_checks"]


# --------------------------------------------------------------------------- sanitizing outputs


def _png(size=100):
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * size).decode()


def test_only_inert_outputs_survive_capped_per_cell():
    cell = new_code_cell("x")
    cell.outputs = [
        new_output("display_data", data={"text/html": "<script>alert(1)</script>", "text/plain": "table"}),
        new_output("display_data", data={"application/javascript": "alert(1)"}),
        new_output("display_data", data={"image/svg+xml": "<svg><script>alert(1)</script></svg>"}),
        new_output("display_data", data={"image/png": _png()}, metadata={"image/png": {"alt": "a plot of x"}}),
        new_output("display_data", data={"image/png": base64.b64encode(b"<html>not a png").decode()}),
        *[new_output("stream", name="stdout", text="y" * 5_000) for _ in range(10)],
    ]
    notebook = new_notebook(cells=[cell, new_markdown_cell("<img src=x onerror=alert(1)> [a](javascript:alert(1))")])
    cleaned, _ = SanitizeOutputs(max_cell_text_chars=12_000).preprocess(notebook, {})
    outputs_text = json.dumps(cleaned.cells[0].outputs)
    assert "<script" not in outputs_text and "alert(1)" not in outputs_text
    kept = cleaned.cells[0].outputs
    kinds = [sorted(o.get("data", {})) for o in kept if o.output_type == "display_data"]
    assert kinds == [["text/plain"], ["image/png"]]
    assert kept[1].metadata["image/png"]["alt"] == "a plot of x"
    assert sum(len(o.get("text", "")) for o in kept if o.output_type == "stream") < 12_500
    assert "removed outputs" in kept[-1].text
    markdown = cleaned.cells[1].source
    assert "<img" not in markdown and "javascript:" not in markdown  # tags escaped to inert text, links disarmed


# --------------------------------------------------------------------------- the sandbox


@pytest.mark.parametrize("course_is_the_clone", [True, False])
def test_the_sandbox_never_mounts_the_course_folder_or_the_clone(tmp_path, course_is_the_clone):
    course = ROOT if course_is_the_clone else tmp_path / "course"  # grading a course folder apart from the clone
    box = Sandbox(tmp_path, course, tmp_path, env={"PYTHONPATH": f"{ROOT}:{ROOT / 'tests' / 'lazy_imports'}"})
    folders = box.readonly_folders()
    for private in (ROOT, course):
        assert not any(private.resolve().is_relative_to(f) for f in folders), f"{private} is visible: {folders}"
    assert not any((f / "solutions").exists() for f in folders)
    assert any(Path(f).name == "medprep_helpers" for f in folders)


@needs_sandbox
def test_a_sandboxed_process_sees_only_what_it_may(tmp_path):
    import subprocess
    import sys

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    box = Sandbox(scratch, ROOT, scratch, env={"PATH": "/usr/bin:/bin", "HOME": str(scratch)})
    box.prepare()
    probe = (
        "import os, socket, pathlib\n"
        f"root = pathlib.Path({str(ROOT)!r})\n"
        "print('solutions', (root / 'solutions').exists())\n"
        "print('readme', (root / 'README.md').exists())\n"
        "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=1); print('net open')\n"
        "except OSError: print('net closed')\n"
        f"open({str(scratch / 'ok.txt')!r}, 'w').write('x'); print('scratch writable')\n"
        "import medprep_helpers; print('helpers', medprep_helpers.__name__)\n"
    )
    run = subprocess.run(box.command([sys.executable, "-c", probe]), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:5] == ["solutions False", "readme False", "net closed", "scratch writable",
                                          "helpers medprep_helpers"]


# --------------------------------------------------------------------------- executing and judging tiny notebooks


def _execute(tiny_course, cells, caplog, **options):
    released, config = tiny_course
    notebook = new_notebook(cells=[new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = released.metadata["kernelspec"]
    executor = SandboxedExecute(config=config, timeout=options.pop("timeout", 20), **options)
    folder = Path(config.CourseDirectory.root)
    with caplog.at_level(logging.WARNING):
        executor.preprocess(notebook, {"metadata": {"path": str(folder)},
                                       "nbgrader": {"student": "s1", "assignment": "lesson", "notebook": "lesson"}})
    return notebook


@pytest.mark.slow
@needs_sandbox
def test_a_dead_kernel_costs_only_the_cell_that_killed_it(tiny_course, caplog):
    notebook = _execute(tiny_course, ["x = 41\nprint('before')", "y = 1\nimport os\nos._exit(1)",
                                      "print('after', x + 1)", "print('y' in dir())"], caplog)
    before, dead, after, last = notebook.cells
    assert before.outputs[0].text == "before\n"
    assert [o.ename for o in dead.outputs if o.output_type == "error"] == ["DeadKernelError"]
    assert after.outputs[0].text == "after 42\n", "the fresh kernel did not re-run the cells above"
    assert last.outputs[0].text == "False\n", "the cell that killed the kernel was run again"


@pytest.mark.slow
@needs_sandbox
def test_a_kernel_that_ignores_interrupts_is_replaced(tiny_course, caplog):
    stuck = "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass"
    notebook = _execute(tiny_course, ["print('before')", stuck, "print('after')"], caplog, timeout=3)
    before, looping, after = notebook.cells
    assert before.outputs[0].text == "before\n"
    assert "UnresponsiveKernel" in [o.ename for o in looping.outputs if o.output_type == "error"]
    assert after.outputs[0].text == "after\n", "grading did not go on with a fresh kernel"


@pytest.mark.slow
@needs_sandbox
def test_an_interrupted_loop_lets_the_rest_run_within_the_submission_budget(tiny_course, caplog):
    loop = "while True:\n    pass"
    notebook = _execute(tiny_course, [loop, "print('after')", *[loop] * 6, "print('late')"],
                        caplog, timeout=3, submission_timeout=15)
    first, after, late = notebook.cells[0], notebook.cells[1], notebook.cells[-1]
    assert "CellTimeoutError" in [o.ename for o in first.outputs if o.output_type == "error"]
    assert after.outputs[0].text == "after\n"
    assert [o.ename for o in late.outputs] == ["NotRun"] and "time budget" in late.outputs[0].evalue


@pytest.mark.slow
@needs_sandbox
def test_an_endless_print_loop_cannot_fill_the_graders_memory(tiny_course, caplog):
    notebook = _execute(tiny_course, ["while True:\n    print('x' * 10_000)", "print('after')"], caplog, timeout=4,
                        max_cell_output_bytes=200_000)
    flood, after = notebook.cells
    streams = "".join(o.text for o in flood.outputs if o.output_type == "stream")
    assert len(streams) < 200_000 + 1_000 and "more output dropped by the grader" in streams
    assert after.outputs[0].text == "after\n"
    nbformat.validate(notebook)


@pytest.mark.slow
@needs_sandbox
def test_check_cells_are_judged_by_the_grader_not_the_kernel(tiny_course, caplog):
    released, config = tiny_course
    answer = ("def label_rate_by(meta, column, label='cardiomegaly'):\n"
              "    return meta[label].astype(float).groupby(meta[column]).mean().sort_index()")
    forged = "import medprep_helpers.checks as c\nc.Checker.that = lambda *a, **k: None\nmost_associated = 'sex'"
    cells = [answer, 'check("label_rate_by", label_rate_by)', forged, 'check("most_associated")']
    notebook = new_notebook(cells=[new_code_cell(s) for s in cells])
    for cell, name in ((notebook.cells[1], "label_rate_by"), (notebook.cells[3], "most_associated")):
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": f"{name}_checks", "points": 1, "schema_version": 3,
                                     "locked": True, "solution": False, "task": False}
    notebook.metadata["kernelspec"] = released.metadata["kernelspec"]
    SandboxedExecute(config=config).preprocess(notebook, {"metadata": {"path": config.CourseDirectory.root},
                                                          "nbgrader": {"student": "s", "assignment": "lesson"}})
    passed, failed = notebook.cells[1].outputs, notebook.cells[3].outputs
    assert passed[0].output_type == "stream" and "all" in passed[0].text and "hidden" in passed[0].text
    assert failed[0].output_type == "error" and "the strongest association" in failed[0].evalue


def test_answers_that_call_a_helper_computing_the_answer_are_reported(monkeypatch, caplog):
    from medprep_grader import hidden

    check = hidden.HiddenCheck("label_rate_by", lambda check, rng: None, ("rate_table",))
    monkeypatch.setitem(hidden._REGISTRY, "label_rate_by", check)
    answer = new_code_cell("from medprep_helpers import stats\nlabel_rate_by = lambda m, c: stats.rate_table(m, c)")
    answer.metadata["nbgrader"] = {"grade_id": "label_rate_by_answer", "solution": True, "grade": False, "locked": False}
    checks = new_code_cell('check("label_rate_by", label_rate_by)')
    checks.metadata["nbgrader"] = {"grade_id": "label_rate_by_checks", "grade": True, "locked": True, "points": 1}
    teaching = new_code_cell("table = stats.rate_table(cohort, 'site')")  # the lesson's own use of the helper
    executor = SandboxedExecute()
    executor._who = "ada/01_know_your_data"
    with caplog.at_level(logging.WARNING):
        executor._report_helper_answers(new_notebook(cells=[teaching, checks]))
    assert "calls rate_table" not in caplog.text, "a teaching cell was reported as the learner's answer"
    with caplog.at_level(logging.WARNING):
        executor._report_helper_answers(new_notebook(cells=[teaching, answer, checks]))
    assert "ada/01_know_your_data: the answer to label_rate_by calls rate_table" in caplog.text


def test_grading_refuses_to_run_without_the_sandbox(tiny_course, monkeypatch):
    import medprep_grader.preprocessors as preprocessors

    monkeypatch.setattr(preprocessors, "sandbox_problem", lambda: "bwrap: command not found")
    released, config = tiny_course
    notebook = new_notebook(cells=[new_code_cell("print('hi')")])
    with pytest.raises(preprocessors.SandboxUnavailable, match="cannot grade s1/lesson in a sandbox: bwrap"):
        SandboxedExecute(config=config).preprocess(notebook, {"metadata": {"path": config.CourseDirectory.root},
                                                              "nbgrader": {"student": "s1", "assignment": "lesson"}})


@pytest.mark.slow
def test_the_unsafe_flag_grades_without_the_sandbox_and_says_so(tiny_course, caplog, monkeypatch):
    import medprep_grader.preprocessors as preprocessors

    monkeypatch.setattr(preprocessors, "sandbox_problem", lambda: "bwrap: command not found")
    notebook = _execute(tiny_course, ["import os\nprint(os.environ['MEDPREP_DATA'])"], caplog, unsafe_no_sandbox=True)
    assert "UNSAFE: grading s1/lesson WITHOUT a sandbox" in caplog.text
    assert notebook.cells[0].outputs[0].text.strip().endswith("data"), "the kernel did not get its own data copy"
