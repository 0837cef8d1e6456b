"""medprep_helpers.grading: the pieces that keep autograding safe, one at a time.

The whole-course behaviour (real submissions through nbgrader) is in test_grading_safety.py;
here each piece runs on a tiny data folder or a notebook of a few cells.
"""

from __future__ import annotations

import base64
import logging

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from traitlets.config.loader import PyFileConfigLoader

from grading import ROOT, course_data
from medprep_helpers import data, grading


@pytest.fixture
def small_data(tmp_path):
    """A data folder of two files with its manifest, used as the course data."""
    folder = tmp_path / "real" / "data"
    (folder / "examples").mkdir(parents=True)
    (folder / "examples" / "a.png").write_bytes(b"first image")
    (folder / "metadata.csv").write_text("subject_id,site\ns1,clinic\n")
    data.write_manifest(folder)
    with course_data(folder):
        yield folder


# --------------------------------------------------------------------------- data protection


def test_data_changes_names_every_changed_file(small_data):
    manifest = (small_data / "MANIFEST.sha256").read_text()
    assert grading.data_changes(small_data, manifest) == []
    (small_data / "examples" / "a.png").write_bytes(b"overwritten")
    (small_data / "metadata.csv").unlink()
    (small_data / "junk.txt").write_text("x")
    problems = "\n".join(grading.data_changes(small_data, manifest))
    assert "examples/a.png" in problems and "metadata.csv" in problems and "junk.txt" in problems


def test_data_changes_notices_a_rewritten_manifest_and_a_missing_folder(small_data, tmp_path):
    manifest = (small_data / "MANIFEST.sha256").read_text()
    (small_data / "examples" / "a.png").write_bytes(b"forged")
    data.write_manifest(small_data)  # the files now agree with a new manifest...
    assert any("MANIFEST" in p for p in grading.data_changes(small_data, manifest))  # ...but not with the old one
    assert grading.data_changes(tmp_path / "nowhere", manifest) == [f"{tmp_path / 'nowhere'}: the whole data folder is missing"]
    with pytest.raises(TypeError, match="manifest_text"):
        grading.data_changes(small_data, None)


def test_fresh_copies_come_from_a_snapshot_that_survives_damage(small_data, tmp_path):
    first = grading.fresh_data_copy(tmp_path / "one", small_data)
    assert data.verify_manifest(first) == []
    snapshot = grading.pristine_data(small_data)
    (snapshot / "examples" / "a.png").write_bytes(b"damaged snapshot")  # an answer that found the snapshot
    (small_data / "metadata.csv").write_text("damaged too")  # ...after the real folder was damaged as well
    with pytest.raises(RuntimeError, match="metadata.csv"):
        grading.fresh_data_copy(tmp_path / "two", small_data)  # no intact source left: refuse to grade
    (small_data / "metadata.csv").write_text("subject_id,site\ns1,clinic\n")
    second = grading.fresh_data_copy(tmp_path / "three", small_data)  # rebuilt from the restored source
    assert data.verify_manifest(second) == []
    with pytest.raises(ValueError, match="destination"):
        grading.fresh_data_copy(second, small_data)


def test_a_damaged_source_is_refused_before_grading(small_data, tmp_path):
    (small_data / "examples" / "a.png").unlink()
    with pytest.raises(RuntimeError, match="examples/a.png: missing"):
        grading.pristine_data(small_data)


# --------------------------------------------------------------------------- outputs


def _notebook(*outputs):
    cell = new_code_cell("pass")
    cell.outputs = list(outputs)
    return new_notebook(cells=[cell])


def test_cap_outputs_cuts_long_texts_and_keeps_short_ones():
    notebook = _notebook(
        new_output("stream", name="stdout", text="y" * 100),
        new_output("stream", name="stdout", text="z" * 30),
        new_output("error", ename="ValueError", evalue="v" * 50, traceback=["t" * 50, "short"]),
        new_output("execute_result", data={"text/plain": "p" * 50}, execution_count=1),
    )
    capped = grading.cap_outputs(notebook, max_text_chars=40)
    stream, short, error, result = capped.cells[0].outputs
    assert stream.text.startswith("y" * 40) and "cut at 40 of 100 characters" in stream.text
    assert short.text == "z" * 30
    assert error.evalue.startswith("v" * 40) and "cut" in error.evalue
    assert error.traceback[0].startswith("t" * 40) and error.traceback[1] == "short"
    assert result.data["text/plain"].startswith("p" * 40) and "cut" in result.data["text/plain"]
    assert notebook.cells[0].outputs[0].text == "y" * 100, "the input notebook was modified"


def test_cap_outputs_replaces_big_images_by_a_note():
    big = base64.b64encode(b"\x89PNG" + bytes(2_000_000)).decode()
    small = base64.b64encode(b"\x89PNG" + bytes(1000)).decode()
    notebook = _notebook(
        new_output("display_data", data={"image/png": big, "text/plain": "<Figure size 1000x1000>"}),
        new_output("display_data", data={"image/png": small, "text/plain": "<Figure size 100x100>"}),
        new_output("display_data", data={"text/html": "<p>" + "h" * 3_000_000 + "</p>"}),
    )
    huge, kept, html = grading.cap_outputs(notebook, max_image_bytes=1_000_000).cells[0].outputs
    assert "image/png" not in huge.data
    assert huge.data["text/plain"].startswith("[image/png output of 2.0 MB removed by the grader")
    assert huge.data["text/plain"].endswith("<Figure size 1000x1000>")
    assert kept.data["image/png"] == small
    assert "text/html" not in html.data and "removed by the grader" in html.data["text/plain"]


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_cap_outputs_rejects_bad_limits(bad):
    with pytest.raises(ValueError, match="max_image_bytes"):
        grading.cap_outputs(_notebook(), max_image_bytes=bad)
    with pytest.raises(ValueError, match="max_text_chars"):
        grading.cap_outputs(_notebook(), max_text_chars=bad)
    with pytest.raises(TypeError, match="notebook"):
        grading.cap_outputs({"cells": []})


# --------------------------------------------------------------------------- the course configuration


def test_course_config_wires_the_safe_preprocessors():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    run = config.Autograde.autograde_preprocessors
    assert "medprep_helpers.grading.SafeExecute" in run and not any(p.endswith(".Execute") for p in run)
    assert run.index("medprep_helpers.grading.SafeExecute") == 0
    assert run.index("nbgrader.preprocessors.LimitOutput") < run.index("medprep_helpers.grading.CapOutputs")
    assert run.index("medprep_helpers.grading.CapOutputs") < run.index("nbgrader.preprocessors.SaveAutoGrades")
    assert "medprep_helpers.grading.OverwriteLockedCells" in config.Autograde.sanitize_preprocessors
    assert config.OverwriteCells.add_missing_cells is True
    assert config.Execute.timeout == 30 and config.Execute.interrupt_on_timeout is True
    # Every preprocessor named in the config can be imported (nbgrader imports them by name).
    from traitlets.utils.importstring import import_item

    for name in run + config.Autograde.sanitize_preprocessors:
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


# --------------------------------------------------------------------------- SafeExecute on tiny notebooks


def _execute(cells, small_data, caplog, **options):
    notebook = new_notebook(cells=[new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    executor = grading.SafeExecute(timeout=options.pop("timeout", 20), **options)
    with caplog.at_level(logging.ERROR):
        executor.preprocess(notebook, {"metadata": {"path": str(small_data.parent)}, "nbgrader": {"student": "s1"}})
    return notebook


@pytest.mark.slow
def test_kernel_sees_its_own_copy_and_damage_to_the_real_data_is_reported(small_data, caplog):
    notebook = _execute(
        [
            "import os, shutil\nfrom medprep_helpers import data\nprint(data.data_dir())\nshutil.rmtree(data.data_dir())",
            # An answer that bypasses data_dir() and writes into the real folder: detected, reported.
            f"open({str(small_data / 'metadata.csv')!r}, 'w').write('oops')",
        ],
        small_data, caplog,
    )
    seen = notebook.cells[0].outputs[0].text.strip()
    assert seen != str(small_data) and seen.endswith("data"), "the kernel was not given its own copy"
    assert (small_data / "examples" / "a.png").exists(), "the deletion reached the real data"
    assert "metadata.csv: checksum mismatch" in caplog.text and "s1" in caplog.text


@pytest.mark.slow
def test_a_dead_kernel_zeroes_only_what_comes_after(small_data, caplog):
    notebook = _execute(["print('before')", "import os\nos._exit(1)", "print('after')", "1 + 1"], small_data, caplog)
    before, dead, after, last = notebook.cells
    assert before.outputs[0].text == "before\n"
    assert [o.ename for o in dead.outputs if o.output_type == "error"] == ["DeadKernelError"]
    assert [o.ename for o in after.outputs] == ["NotRun"] and [o.ename for o in last.outputs] == ["NotRun"]


@pytest.mark.slow
def test_a_kernel_stuck_after_the_interrupt_stops_the_notebook(small_data, caplog):
    stuck = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)"
    notebook = _execute(["print('before')", stuck, "print('after')"], small_data, caplog, timeout=3)
    before, looping, after = notebook.cells
    assert before.outputs[0].text == "before\n"
    assert "UnresponsiveKernel" in [o.ename for o in looping.outputs if o.output_type == "error"]
    assert [o.ename for o in after.outputs] == ["NotRun"]


@pytest.mark.slow
def test_an_interrupted_loop_lets_the_rest_run(small_data, caplog):
    notebook = _execute(["while True:\n    pass", "print('after')"], small_data, caplog, timeout=3)
    looping, after = notebook.cells
    assert "CellTimeoutError" in [o.ename for o in looping.outputs if o.output_type == "error"]
    assert after.outputs[0].text == "after\n"


@pytest.mark.slow
def test_an_endless_print_loop_cannot_fill_the_graders_memory(small_data, caplog):
    notebook = _execute(
        ["while True:\n    print('x' * 10_000)", "print('after')"], small_data, caplog, timeout=4, max_cell_output_bytes=200_000
    )
    flood, after = notebook.cells
    streams = "".join(o.text for o in flood.outputs if o.output_type == "stream")
    assert len(streams) < 200_000 + 1_000 and "more output dropped by the grader" in streams
    assert after.outputs[0].text == "after\n"
    nbformat.validate(notebook)
