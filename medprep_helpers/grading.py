"""Grading that survives broken submissions: nbgrader preprocessors for the course.

``nbgrader_config.py`` plugs these into ``nbgrader autograde``:

- :class:`SafeExecute` runs each submitted notebook like nbgrader's ``Execute``, but

  * gives the kernel its own fresh copy of the course data (``MEDPREP_DATA``), made from
    a private snapshot whose checksums were verified when grading started, so an answer
    that deletes or overwrites data files harms only its own copy; afterwards it checks
    the real data folder and logs an error naming every changed file;
  * when the kernel dies (``os._exit``, a crash, the out-of-memory killer) or does not go
    idle within ``Execute.iopub_timeout`` (4 s) after a cell was interrupted at the time
    limit (an answer that ignores interrupts), it stops there and marks that cell and every
    code cell below it with an error, so their tests score zero and the tests above keep
    their marks (nbgrader itself gives up on the whole submission in both cases);
  * stops storing a cell's output beyond ``max_cell_output_bytes`` while it runs, so an
    answer that prints in an endless loop cannot fill the grader's memory.

- :class:`CapOutputs` keeps the graded notebook and the feedback readable: images larger
  than ``max_image_bytes`` are replaced by a short note, texts longer than
  ``max_text_chars`` are cut (nbgrader's ``LimitOutput`` counts lines, not characters).
- :class:`OverwriteLockedCells` is nbgrader's ``OverwriteCells`` (restores edited test
  cells and, with ``add_missing_cells``, deleted ones) with a warning only for cells the
  learner really changed: nbgrader warns about every test cell with hidden tests, because
  it records their checksum before removing the hidden part.

This protects against accidents and careless code, not against a learner who sets out to
cheat: the kernel runs as the grading user. Grade untrusted work in a container.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor, OverwriteCells
from traitlets import Integer

from . import data

__all__ = [
    "pristine_data",
    "fresh_data_copy",
    "data_changes",
    "cap_outputs",
    "SafeExecute",
    "CapOutputs",
    "OverwriteLockedCells",
]

# One verified snapshot per real data folder and grading process: {real folder: (snapshot, manifest text)}.
_SNAPSHOTS: dict[Path, tuple[Path, str]] = {}
# Damage already reported, so that a damaged folder is reported once, by the submission that did it.
_REPORTED: dict[Path, tuple[str, ...]] = {}


def _manifest_text(folder: Path) -> str:
    manifest = folder / data.MANIFEST_NAME
    return manifest.read_text() if manifest.exists() else ""


def data_changes(folder: Path, manifest_text: str) -> list[str]:
    """What changed in a data folder since its manifest read ``manifest_text``.

    Parameters
    ----------
    folder : path-like
        A course data folder (with ``MANIFEST.sha256``).
    manifest_text : str
        The manifest as it was when the folder was known to be intact.

    Returns
    -------
    list of str
        One line per changed, missing or unexpected file; empty when nothing changed.

    Examples
    --------
    >>> folder = data.data_dir()
    >>> data_changes(folder, (folder / "MANIFEST.sha256").read_text())
    []
    """
    if not isinstance(manifest_text, str):
        raise TypeError(f"manifest_text must be the manifest's text (str), got {type(manifest_text).__name__}")
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder}: the whole data folder is missing"]
    problems = [] if _manifest_text(folder) == manifest_text else [f"{data.MANIFEST_NAME}: changed or missing"]
    return problems + data.verify_manifest(folder)


def pristine_data(source: str | os.PathLike | None = None) -> Path:
    """A private copy of the course data, checked against its manifest, made once per process.

    Parameters
    ----------
    source : path-like, optional
        The real data folder; default :func:`medprep_helpers.data.data_dir`.

    Returns
    -------
    Path
        The snapshot folder (in the temporary directory, removed when the process ends).
        A snapshot found damaged is rebuilt from ``source``.

    Raises
    ------
    RuntimeError
        When ``source`` itself fails its checksums: grading on damaged data would give
        wrong marks, so it must be restored first.

    Examples
    --------
    >>> snapshot = pristine_data()
    >>> data.verify_manifest(snapshot)
    []
    """
    source = Path(source).resolve() if source is not None else data.data_dir().resolve()
    cached = _SNAPSHOTS.get(source)
    if cached is not None and not data_changes(*cached):
        return cached[0]
    problems = data.verify_manifest(source)
    if problems:
        raise RuntimeError(
            f"the course data in {source} fails its checksums, so submissions cannot be graded on it: "
            + "; ".join(problems[:10])
            + ". Restore it with `git checkout -- data` or `python -m medprep_helpers.data --generate`."
        )
    if cached is not None:
        shutil.rmtree(cached[0].parent, ignore_errors=True)
    holder = Path(tempfile.mkdtemp(prefix="medprep-pristine-"))
    atexit.register(shutil.rmtree, holder, ignore_errors=True)
    snapshot = Path(shutil.copytree(source, holder / "data"))
    manifest_text = _manifest_text(source)
    if data_changes(snapshot, manifest_text):  # the source changed while it was being copied
        raise RuntimeError(f"the course data in {source} changed while it was being copied; grade again")
    _SNAPSHOTS[source] = (snapshot, manifest_text)
    return snapshot


def _real_data_folder() -> Path:
    """The data folder grading started from, even after an answer deleted it."""
    try:
        return data.data_dir().resolve()
    except FileNotFoundError:
        if len(_SNAPSHOTS) == 1:  # deleted by an earlier submission: keep grading on its snapshot
            return next(iter(_SNAPSHOTS))
        raise


def fresh_data_copy(destination: str | os.PathLike, source: str | os.PathLike | None = None) -> Path:
    """Copy the verified course data to ``destination`` (which must not exist yet).

    Examples
    --------
    >>> import tempfile
    >>> copy = fresh_data_copy(Path(tempfile.mkdtemp()) / "data")
    >>> data.verify_manifest(copy)
    []
    """
    destination = Path(destination)
    if destination.exists():
        raise ValueError(f"destination must be a new folder, but {destination} exists")
    return Path(shutil.copytree(pristine_data(source), destination))


# --------------------------------------------------------------------------- outputs


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _cut(text: str, limit: int, what: str) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{what} cut at {limit:,} of {len(text):,} characters by the grader] ...\n"


_PLAIN_TEXTS = ("text/plain", "text/markdown", "text/latex")


def cap_outputs(notebook, max_image_bytes: int = 1_000_000, max_text_chars: int = 20_000):
    """A copy of ``notebook`` whose outputs are small enough to read in the feedback.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        An executed notebook; it is not modified.
    max_image_bytes : int
        Images and other rich outputs (HTML, SVG, JSON) larger than this are replaced by a note.
    max_text_chars : int
        Text outputs, error messages and traceback lines are cut to this length.

    Returns
    -------
    nbformat.NotebookNode

    Examples
    --------
    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("print('x' * 50)")
    >>> cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 50)]
    >>> capped = cap_outputs(nbformat.v4.new_notebook(cells=[cell]), max_text_chars=10)
    >>> capped.cells[0].outputs[0].text.splitlines()[0]
    'xxxxxxxxxx'
    """
    for name, value in (("max_image_bytes", max_image_bytes), ("max_text_chars", max_text_chars)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not hasattr(notebook, "cells"):
        raise TypeError(f"notebook must be an nbformat NotebookNode, got {type(notebook).__name__}")
    capped = copy.deepcopy(notebook)
    for cell in capped.cells:
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                output["text"] = _cut(_text(output["text"]), max_text_chars, "output")
            elif kind == "error":
                output["evalue"] = _cut(str(output.get("evalue", "")), max_text_chars, "error message")
                output["traceback"] = [_cut(line, max_text_chars, "traceback line") for line in output.get("traceback", [])]
            elif kind in ("display_data", "execute_result"):
                bundle, notes = output.get("data", {}), []
                for mime in list(bundle):
                    if mime in _PLAIN_TEXTS:
                        bundle[mime] = _cut(_text(bundle[mime]), max_text_chars, mime)
                        continue
                    # Images are stored base64-encoded (4 characters per 3 bytes); HTML, SVG, JSON as text.
                    stored = len(_text(bundle[mime]))
                    size = stored * 3 // 4 if mime.startswith("image/") and "svg" not in mime else stored
                    if size > max_image_bytes:
                        del bundle[mime]
                        notes.append(f"[{mime} output of {size / 1e6:.1f} MB removed by the grader: too large to show]")
                if notes:
                    old_text = [_text(bundle["text/plain"])] if "text/plain" in bundle else []
                    bundle["text/plain"] = "\n".join(notes + old_text)
    return capped


# --------------------------------------------------------------------------- preprocessors


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SafeExecute(Execute):
    """nbgrader's ``Execute`` on a fresh copy of the course data, surviving a dead or stuck kernel."""

    max_cell_output_bytes = Integer(
        5_000_000, help="Output of one cell kept while it runs; the rest is dropped (an endless print loop)."
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        source = _real_data_folder()
        workdir = Path(tempfile.mkdtemp(prefix="medprep-grading-"))
        self._stopped = None  # why the rest of the notebook is not run, once the kernel is gone
        self._output_bytes: dict[int, int] = {}
        try:
            self._kernel_data = fresh_data_copy(workdir / "data", source)
            return super().preprocess(nb, resources, km)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if source in _SNAPSHOTS:
                self._report_damage(source, resources)

    def _report_damage(self, source: Path, resources) -> None:
        problems = tuple(data_changes(source, _SNAPSHOTS[source][1]))
        if problems and _REPORTED.get(source) != problems:
            where = (resources or {}).get("nbgrader", {})
            self.log.error(
                "The course data in %s was changed while grading %s/%s: %s. The other submissions are graded on "
                "a verified copy; restore the folder with `git checkout -- data` or "
                "`python -m medprep_helpers.data --generate`.",
                source, where.get("student", "?"), where.get("notebook", "?"), "; ".join(problems),
            )
        _REPORTED[source] = problems

    def start_new_kernel(self, **kwargs):
        # The kernel (and only the kernel) sees this submission's own copy of the data.
        kwargs.setdefault("env", {**os.environ, "MEDPREP_DATA": str(self._kernel_data)})
        return super().start_new_kernel(**kwargs)

    def preprocess_cell(self, cell, resources, index):
        if self._stopped is not None:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [_error("NotRun", f"this cell was not run: {self._stopped}")]
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stop(cell, index, "DeadKernelError", "the kernel died while running this cell")
            return cell, resources
        except CellTimeoutError:  # interrupted at the time limit, but never went idle: it ignores interrupts
            self._stop(cell, index, "UnresponsiveKernel", "the kernel did not stop when this cell was interrupted")
            return cell, resources
        return cell, resources

    def _stop(self, cell, index: int, ename: str, what: str) -> None:
        self._stopped = f"{what} (cell {index}); the cells below it were not run and their tests score zero"
        self.log.error("Stopped at cell %d: %s", index, what)
        cell.outputs.append(_error(ename, self._stopped))
        self.shutdown_kernel = "immediate"

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(_text(content.get("text", ""))) + sum(len(_text(v)) for v in content.get("data", {}).values())
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        if used + size <= self.max_cell_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        if used <= self.max_cell_output_bytes:  # the first output over the limit leaves a note
            note = NotebookNode(
                output_type="stream", name="stdout",
                text=f"\n... [more output dropped by the grader: over {self.max_cell_output_bytes:,} bytes] ...\n",
            )
            outs.append(note)
        return None


class CapOutputs(NbGraderPreprocessor):
    """Replace huge images by a note and cut huge texts, so the feedback stays readable."""

    max_image_bytes = Integer(1_000_000, help="Images larger than this are replaced by a note.").tag(config=True)
    max_text_chars = Integer(20_000, help="Texts longer than this are cut.").tag(config=True)

    def preprocess(self, nb, resources):
        return cap_outputs(nb, self.max_image_bytes, self.max_text_chars), resources


class OverwriteLockedCells(OverwriteCells):
    """nbgrader's ``OverwriteCells``, warning only about locked cells the learner really edited."""

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        for cell in nb.cells:  # nbgrader puts deleted cells back without the id nbformat 4.5 requires
            if "id" not in cell and nb.nbformat_minor >= 5:
                cell["id"] = f"restored-{cell.metadata.get('nbgrader', {}).get('grade_id', 'cell')}"
        return nb, resources

    def preprocess_cell(self, cell, resources, cell_index):
        self._submitted_source = cell.source
        return super().preprocess_cell(cell, resources, cell_index)

    def report_change(self, name, attr, old, new):
        if attr == "checksum":
            source_cell = self.gradebook.find_source_cell(name, self.notebook_id, self.assignment_id)
            released = NotebookNode(
                cell_type=source_cell.cell_type, source=source_cell.source,
                metadata=NotebookNode(nbgrader=NotebookNode(grade=True, grade_id=name, points=0)),
            )
            released, _ = ClearHiddenTests(parent=self).preprocess_cell(released, {}, 0)
            if released.source.strip() == self._submitted_source.strip():
                return  # as released: only the hidden tests differ, which the learner never saw
            self.log.warning("Locked cell %s was edited in the submission; the original is graded instead.", name)
            return
        super().report_change(name, attr, old, new)
