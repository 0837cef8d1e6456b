"""nbgrader preprocessors that make a grade depend only on what the learner's functions return.

``nbgrader_config.py`` plugs them into ``nbgrader autograde`` (so formgrader, feedback and export
work as usual):

1. :class:`RestoreFromRelease` (sanitize step) rebuilds the submission from the released
   notebook: every cell the learner could not edit comes back whole from the instructor's copy
   (source, metadata, tags, attachments; outputs cleared), the notebook's metadata too; only the
   answer cells' sources (and cells the learner added, stripped of all metadata) come from the
   submission.
2. :class:`SandboxedExecute` runs the notebook in a kernel inside a bubblewrap sandbox
   (:mod:`medprep_grader.sandbox`) on a fresh copy of the verified data, with a time limit per
   cell and a time budget per submission. Check cells are not run in the kernel: at each one,
   the grader calls the learner's function from outside (:mod:`medprep_grader.remote`) on the
   visible cases and on hidden cases drawn from the course secret, judges the plain values in
   its own process, and writes the verdict as the cell's only output (an error output fails
   the cell, which nbgrader scores as zero). Nothing the kernel reports about its own cells
   decides a mark.
3. :class:`SanitizeOutputs` keeps only inert outputs (text, PNG/JPEG images), caps each cell's
   outputs in total, and strips active content from learner-written markdown, so nothing a
   submission printed can run in the feedback HTML or in formgrader.
"""

from __future__ import annotations

import ast
import base64
import copy
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, Integer

from medprep_helpers import exercises
from medprep_helpers.checks import CheckFailed, Checker

from . import hidden
from .integrity import data_damage, fresh_data_copy, pristine_data, verify_unchanged
from .remote import RemoteRunner
from .sandbox import Limits, Sandbox, SandboxUnavailable, sandbox_problem
from .secret import course_secret, rng_for

__all__ = ["RestoreFromRelease", "SandboxedExecute", "SanitizeOutputs", "check_cell_exercise"]


LEARNER_CELL = "medprep_learner_cell"  # metadata key marking cells the learner added (set by the grader)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def check_cell_exercise(cell) -> str | None:
    """The exercise a graded check cell judges (grade id ``<name>_checks``), else None."""
    meta = _nbgrader(cell)
    grade_id = str(meta.get("grade_id", ""))
    if cell.get("cell_type") == "code" and meta.get("grade") and grade_id.endswith("_checks"):
        return grade_id[: -len("_checks")]
    return None


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


# --------------------------------------------------------------------------- 1. restore


class RestoreFromRelease(NbGraderPreprocessor):
    """Rebuild a submission from the released notebook; only answers come from the learner."""

    def _release_notebook(self, resources) -> NotebookNode:
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"])) / (
            info["notebook"] + ".ipynb"
        )
        if not path.exists():
            raise FileNotFoundError(f"the released notebook {path} is missing: run nbgrader generate_assignment first")
        return nbformat.read(path, as_version=4)

    def preprocess(self, nb, resources):
        template = self._release_notebook(resources)
        answers: dict[str, NotebookNode] = {}
        known = {_nbgrader(c).get("grade_id") for c in template.cells if _nbgrader(c).get("grade_id")}
        added: dict[int, list] = {}  # learner cells, by the index of the template cell they followed
        position = {_nbgrader(c).get("grade_id"): i for i, c in enumerate(template.cells) if _nbgrader(c).get("grade_id")}
        ids = {c.get("id"): i for i, c in enumerate(template.cells)}
        last = -1
        for cell in nb.cells:
            grade_id = _nbgrader(cell).get("grade_id")
            if grade_id in known:
                last = position[grade_id]
                if grade_id not in answers:
                    answers[grade_id] = cell
            elif cell.get("id") in ids and ids[cell.get("id")] > last:
                last = ids[cell["id"]]  # an unchanged teaching cell: keeps learner cells in place
            elif cell.get("cell_type") in ("code", "markdown") and cell.get("id") not in ids:
                added.setdefault(last, []).append(cell)
        cells = []
        for index in [-1, *range(len(template.cells))]:
            if index >= 0:
                original = copy.deepcopy(template.cells[index])
                meta = _nbgrader(original)
                mine = answers.get(meta.get("grade_id"))
                if meta.get("solution") and mine is not None and mine.get("cell_type") == original.cell_type:
                    original.source = str(mine.get("source", ""))
                    if original.cell_type == "markdown" and mine.get("attachments"):
                        original["attachments"] = copy.deepcopy(mine["attachments"])
                if original.cell_type == "code":
                    original.outputs, original.execution_count = [], None
                cells.append(original)
            for extra in added.get(index, []):
                kind = extra["cell_type"]
                maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
                cells.append(maker(source=str(extra.get("source", "")), metadata={LEARNER_CELL: True}))
        restored = copy.deepcopy(template)
        restored.cells = cells
        edited = [
            gid for gid, cell in answers.items()
            if not _nbgrader(template.cells[position[gid]]).get("solution")
            and str(cell.get("source", "")).strip() != str(template.cells[position[gid]].source).strip()
        ]
        student = resources["nbgrader"].get("student", "?")
        for grade_id in edited:
            self.log.warning("Locked cell %s was edited in the submission of %s; the released cell is graded instead.",
                             grade_id, student)
        for grade_id in sorted(known - set(answers)):
            if not _nbgrader(template.cells[position[grade_id]]).get("solution"):
                self.log.warning("Locked cell %s was deleted from the submission of %s; the released cell is put back.",
                                 grade_id, student)
        nbformat.validate(restored)
        return restored, resources


# --------------------------------------------------------------------------- 2. execute + judge


class _SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command runs inside :class:`~medprep_grader.sandbox.Sandbox`."""

    sandbox = AnyTrait(None, allow_none=True)

    async def _async_pre_start_kernel(self, **kw):
        # The kernel is in its own session and PID namespace: interrupt by message, not by signal.
        self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        if self.sandbox is None:
            return command
        self.sandbox.prepare()  # the connection file was just written: hand it to the sandbox uid
        return self.sandbox.command(command)


def _process_uid() -> int:
    """An unprivileged uid of this grading process's own (no account needed: files are only in its scratch)."""
    return 200_000 + os.getpid() % 800_000


_PASS_ENV = ("LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "PYTHONPATH", "MPLBACKEND", "TZ")


class SandboxedExecute(Execute):
    """Run a submission in a sandboxed kernel and judge its exercises from outside it."""

    submission_timeout = Float(120.0, help="Seconds one submission may use in all (cells and checks).").tag(config=True)
    call_timeout = Float(20.0, help="Seconds one call of a learner's function may take when judged.").tag(config=True)
    unsafe_no_sandbox = Bool(
        False, help="Run kernels WITHOUT the sandbox (only for trusted work on a machine without bubblewrap)."
    ).tag(config=True)
    sandbox_uid = Integer(
        -1, help="uid the kernel runs as when grading as root; -1: one unprivileged uid per grading process, so that "
                 "the process limit of one submission never starves a submission graded in parallel."
    ).tag(config=True)
    memory_limit = Integer(8 * 1024**3, help="Address-space limit of the kernel, in bytes.").tag(config=True)
    max_cell_output_bytes = Integer(
        5_000_000, help="Output of one cell kept while it runs; the rest is dropped (an endless print loop)."
    ).tag(config=True)

    # -- set up one submission ---------------------------------------------------------
    def _prepare_scratch(self, resources) -> None:
        scratch = Path(tempfile.mkdtemp(prefix="medprep-grade-"))
        self._scratch = scratch
        work = scratch / "work"
        source = Path((resources or {}).get("metadata", {}).get("path") or ".")
        shutil.copytree(source, work, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"),
                        dirs_exist_ok=True) if source.is_dir() else work.mkdir()
        home = scratch / "home"
        (home / ".ipython").mkdir(parents=True)
        (scratch / "checks").mkdir()
        (scratch / "ipc").mkdir()
        self._mpl_cache(home / ".config" / "matplotlib")
        if self.unsafe_no_sandbox:  # the kernel could damage the data: it gets its own copy
            self._kernel_data = fresh_data_copy(scratch / "data")
            readonly = ()
        else:  # the verified snapshot itself, mounted read-only: nothing to copy, nothing to damage
            self._kernel_data = pristine_data()
            readonly = (self._kernel_data,)
        env = {key: os.environ[key] for key in _PASS_ENV if key in os.environ}
        env.update(HOME=str(home), PATH=f"{Path(os.sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
                   MEDPREP_DATA=str(self._kernel_data), IPYTHONDIR=str(home / ".ipython"),
                   MPLCONFIGDIR=str(home / ".config" / "matplotlib"), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
                   JUPYTER_DATA_DIR=str(home / ".local" / "share" / "jupyter"), PYTHONNOUSERSITE="1",
                   JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
        env.setdefault("LANG", "C.UTF-8")
        # The kernel imports the very helper package the grader verified (only that folder is mounted).
        import medprep_helpers

        package_parent = str(Path(medprep_helpers.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
        limits = Limits(address_space_bytes=self.memory_limit, cpu_seconds=int(self.submission_timeout) + 60)
        course = Path(CourseDirectory(config=self.config).root).resolve()
        self._sandbox = Sandbox(scratch, course, work, env=env, limits=limits, readonly_extra=readonly,
                                sandbox_uid=self.sandbox_uid if self.sandbox_uid >= 0 else _process_uid())

    @staticmethod
    def _mpl_cache(folder: Path) -> None:
        """Seed the kernel's matplotlib folder with the grader's font cache (saves ~1 s per kernel)."""
        folder.mkdir(parents=True)
        try:
            import matplotlib

            for cache in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
                shutil.copy(cache, folder / cache.name)
        except Exception:  # noqa: BLE001 - only a speed-up
            pass

    def create_kernel_manager(self):
        self.kernel_manager_class = _SandboxedKernelManager
        manager = super().create_kernel_manager()
        manager.transport = "ipc"
        manager.ip = str(self._scratch / "ipc" / "kernel")
        manager.connection_file = str(self._scratch / "ipc" / "kernel.json")
        if not self.unsafe_no_sandbox:
            manager.sandbox = self._sandbox
        self.km = manager
        return manager

    def start_new_kernel(self, **kwargs):
        kwargs.setdefault("stdout", subprocess.DEVNULL)  # the kernel's banner; errors still go to stderr
        if self.unsafe_no_sandbox:  # no --clearenv: give the kernel its data copy and HOME at least
            kwargs.setdefault("env", {**os.environ, **self._sandbox.env})
            kwargs.setdefault("cwd", str(self._sandbox.workdir))
        return super().start_new_kernel(**kwargs)

    # -- the run ----------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        where = (resources or {}).get("nbgrader", {})
        self._who = f"{where.get('student', '?')}/{where.get('assignment', '?')}"
        verify_unchanged()
        if self.unsafe_no_sandbox:
            self.log.warning("UNSAFE: grading %s WITHOUT a sandbox (--SandboxedExecute.unsafe_no_sandbox=True): "
                             "the submission's code runs with your rights and can read and change the course.",
                             self._who)
        else:
            problem = sandbox_problem()
            if problem:
                raise SandboxUnavailable(f"cannot grade {self._who} in a sandbox: {problem}")
        self._secret = course_secret()
        self._prepare_scratch(resources)
        self._stopped = None
        self._lost: str | None = None  # why the kernel was lost in the cell just run
        self._fatal: set[int] = set()  # cells that killed or hung a kernel: never run again
        self._output_bytes: dict[int, int] = {}
        self._deadline = time.monotonic() + self.submission_timeout
        self._cell_timeout = self.timeout
        try:
            self._report_helper_answers(nb)
            from nbclient.client import NotebookClient

            NotebookClient.__init__(self, nb, km)
            self.shutdown_kernel = "immediate"  # nothing in the kernel needs a graceful end; saves seconds
            self.reset_execution_trackers()
            self._check_assign_resources(resources)
            with self.setup_kernel():
                self.kc.iopub_channel.socket.setsockopt(__import__("zmq").MAXMSGSIZE, 100_000_000)
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                for index, cell in enumerate(self.nb.cells):
                    name = check_cell_exercise(cell)
                    if name is not None:
                        cell.outputs = [self._judge(name)]
                    else:
                        self.preprocess_cell(cell, resources, index)
                    if self._lost is not None:  # a dead or stuck kernel: a fresh one, and the rest is graded
                        self._revive(index, resources)
            return self.nb, self.resources
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._report_damage()

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        remaining = self._deadline - time.monotonic()
        if self._stopped is None and remaining <= 1:
            self._stopped = "the time budget for this submission was used up"
            self.log.error("Grading %s: time budget of %.0f s used up at cell %d", self._who, self.submission_timeout, index)
        if self._stopped is not None:
            cell.outputs = [_error("NotRun", f"this cell was not run: {self._stopped}")]
            return cell, resources
        self.timeout = int(max(1, min(self._cell_timeout, remaining)))
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._lose(cell, index, "DeadKernelError", "the kernel died while running this cell")
        except CellTimeoutError:  # interrupted at the time limit, but never went idle: it ignores interrupts
            self._lose(cell, index, "UnresponsiveKernel", "the kernel did not stop when this cell was interrupted")
        return cell, resources

    def _lose(self, cell, index: int, ename: str, what: str) -> None:
        self._lost = f"{what} (cell {index})"
        self._fatal.add(index)
        self.log.error("Grading %s: %s; a fresh kernel re-runs the cells above it and grading goes on", self._who,
                       self._lost)
        cell.outputs.append(_error(ename, f"{self._lost}: this cell's work is lost; a fresh kernel re-ran the cells "
                                          "above it (without this one) and the rest of the notebook was graded"))

    def _revive(self, index: int, resources) -> None:
        """Replace a lost kernel by a fresh sandboxed one that re-runs cells 0..index-1, except fatal ones.

        The replay's outputs are discarded (the notebook keeps the first run's); it counts against the
        submission's time budget, so an answer that kills every kernel it gets cannot stretch grading.
        """
        what, self._lost = self._lost, None
        try:
            self._cleanup_kernel()
        except Exception:  # noqa: BLE001 - the old kernel is gone either way
            pass
        self.km = self.kc = None
        try:
            self.km = self.create_kernel_manager()
            self.start_new_kernel()
            self.start_new_kernel_client()
            self.kc.iopub_channel.socket.setsockopt(__import__("zmq").MAXMSGSIZE, 100_000_000)
        except Exception as error:  # noqa: BLE001
            self._stopped = f"{what}, and no fresh kernel could be started ({error})"
            return
        for earlier in range(index):
            cell = self.nb.cells[earlier]
            if earlier in self._fatal or cell.cell_type != "code" or check_cell_exercise(cell) is not None:
                continue
            self.preprocess_cell(copy.deepcopy(cell), resources, earlier)
            if self._lost is not None or self._stopped is not None:  # the replay itself failed: give up
                self._lost = None
                self._stopped = self._stopped or f"{what}, and re-running the cells above it failed"
                self.log.error("Grading %s: %s", self._who, self._stopped)
                return

    def _judge(self, name: str) -> NotebookNode:
        """Judge one exercise from outside the kernel; the verdict is the check cell's only output."""
        try:
            exercise = exercises.get(name)
        except ValueError:
            self.log.error("Grading %s: the course has no checks for exercise %s (check cell %s_checks): it scores zero; "
                           "add it to medprep_helpers.exercises", self._who, name, name)
            return _error("GraderError", f"{name}: this exercise has no checks in this version of the course")
        owner = self._sandbox.sandbox_uid if os.geteuid() == 0 and not self.unsafe_no_sandbox else None
        runner = RemoteRunner(self.kc, self.km.interrupt_kernel, self._scratch / "checks",
                              self.call_timeout, self._deadline, owner=owner)
        runner.gone = self._stopped
        visible = Checker(name, runner)
        hidden_check = hidden.get(name)
        try:
            exercise.visible(visible)
            count = visible.passed
            if hidden_check is not None:
                secret_checker = Checker(name, runner, kind="hidden")
                hidden_check.run(secret_checker, rng_for(name, self._secret))
                count += secret_checker.passed
        except CheckFailed as failure:
            return _error("CheckFailed", str(failure))
        except Exception as error:  # noqa: BLE001 - a result the checks could not digest scores zero
            self.log.warning("Grading %s: the checks of %s could not read the result: %r", self._who, name, error)
            return _error("CheckFailed", f"{name}: the result could not be checked ({type(error).__name__}: "
                          f"{str(error)[:300]}); compare it with the contract in the task")
        finally:
            if runner.gone and not self._stopped:
                if "time budget" in runner.gone:
                    self._stopped = runner.gone
                else:  # the learner's function killed or hung the kernel: a fresh one for the rest
                    self._lost = runner.gone
        text = f"{name}: all {count} checks passed ({visible.passed} visible, {count - visible.passed} hidden).\n"
        return NotebookNode(output_type="stream", name="stdout", text=text)

    def _report_helper_answers(self, nb) -> None:
        """Tell the instructor, by name, about answers that call a helper computing the exercise's answer."""
        # Only what the learner wrote: answer cells and cells they added (teaching cells may use the helpers).
        sources = [c.source for c in nb.cells if c.cell_type == "code"
                   and (_nbgrader(c).get("solution") or c.metadata.get(LEARNER_CELL))]
        names: set[str] = set()
        for source in sources:
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for cell in nb.cells:
            name = check_cell_exercise(cell)
            check = hidden.get(name) if name else None
            used = sorted(names & set(check.helpers_that_answer)) if check else []
            if used:
                self.log.warning("Grading %s: the answer to %s calls %s, a course helper that computes the answer; "
                                 "review it by hand.", self._who, name, ", ".join(used))

    def _report_damage(self) -> None:
        problems = data_damage()
        if problems:
            self.log.error("The course data changed while grading %s: %s", self._who, "; ".join(problems[:10]))

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in content.get("data", {}).values())
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        if used + size <= self.max_cell_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        if used <= self.max_cell_output_bytes:  # the first output over the limit leaves a note
            outs.append(NotebookNode(output_type="stream", name="stdout",
                                     text=f"\n... [more output dropped by the grader: over "
                                          f"{self.max_cell_output_bytes:,} bytes] ...\n"))
        return None


# --------------------------------------------------------------------------- 3. sanitize


_IMAGE_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


class SanitizeOutputs(NbGraderPreprocessor):
    """Only inert outputs, capped per cell; learner markdown without active content."""

    max_cell_text_chars = Integer(20_000, help="Characters of text kept per cell, over all its outputs.").tag(config=True)
    max_cell_image_bytes = Integer(1_000_000, help="Bytes of images kept per cell, over all its outputs.").tag(config=True)
    max_outputs = Integer(50, help="Outputs kept per cell.").tag(config=True)

    def preprocess(self, nb, resources):
        from nbconvert.preprocessors.sanitize import SanitizeHTML

        markdown_cleaner = SanitizeHTML()
        for cell in nb.cells:
            if cell.cell_type == "markdown" and not _nbgrader(cell).get("locked"):
                cell.source = markdown_cleaner.sanitize_html_tags(cell.source).replace("javascript:", "blocked:")
                cell.pop("attachments", None)
            if cell.cell_type == "raw":
                cell.source = ""
            if cell.cell_type == "code":
                cell.outputs = self._clean(cell.get("outputs", []))
        return nb, resources

    def _clean(self, outputs) -> list:
        text_left, image_left, kept = self.max_cell_text_chars, self.max_cell_image_bytes, []
        dropped = []

        def take_text(value: str) -> str:
            nonlocal text_left
            value = _text(value)
            piece = value[: max(0, text_left)]
            text_left -= len(piece)
            return piece if len(piece) == len(value) else piece + "\n... [output cut by the grader] ...\n"

        for output in outputs[: self.max_outputs]:
            kind = output.get("output_type")
            if kind == "stream":
                kept.append(NotebookNode(output_type="stream", name=str(output.get("name", "stdout")),
                                         text=take_text(output.get("text", ""))))
            elif kind == "error":
                kept.append(NotebookNode(output_type="error", ename=take_text(output.get("ename", ""))[:200],
                                         evalue=take_text(output.get("evalue", "")),
                                         traceback=[take_text(line) for line in output.get("traceback", [])][:200]))
            elif kind in ("display_data", "execute_result"):
                data, meta = {}, {}
                for mime, value in output.get("data", {}).items():
                    if mime == "text/plain":
                        data[mime] = take_text(value)
                    elif mime in _IMAGE_MAGIC:
                        raw = _text(value).replace("\n", "")
                        try:
                            decoded = base64.b64decode(raw, validate=True)
                        except ValueError:
                            continue
                        if decoded.startswith(_IMAGE_MAGIC[mime]) and len(decoded) <= image_left:
                            image_left -= len(decoded)
                            data[mime] = raw
                            alt = output.get("metadata", {}).get(mime, {})
                            if isinstance(alt, dict) and isinstance(alt.get("alt"), str):
                                meta[mime] = {"alt": alt["alt"][:500]}
                        else:
                            dropped.append(mime)
                    else:
                        dropped.append(mime)
                if data:
                    node = NotebookNode(output_type=kind, data=data, metadata=meta)
                    if kind == "execute_result":
                        node.execution_count = output.get("execution_count")
                    kept.append(node)
        if dropped or len(outputs) > self.max_outputs:
            kept.append(NotebookNode(output_type="stream", name="stdout",
                                     text="[the grader removed outputs that cannot be shown safely or were too large: "
                                          + ", ".join(sorted(set(dropped)) or ["too many outputs"]) + "]\n"))
        return kept
