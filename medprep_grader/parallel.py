"""Autograde every submission of a lesson in parallel, on Dask, through nbgrader's own API.

``python -m medprep_grader autograde LESSON|all`` grades each collected submission
(``submitted/<student>/<lesson>/``) as one task, with the preprocessors that the course's
``nbgrader_config.py`` wires (the sandbox and the out-of-process judge), and writes the
grades into nbgrader's gradebook (``CourseDirectory.db_url``), where formgrader,
``nbgrader generate_feedback`` and ``nbgrader export`` find them as after ``nbgrader autograde``.

- **Engine**: a Dask ``LocalCluster`` on this machine's cores by default (one single-threaded
  worker process per core); ``--scheduler ADDRESS`` uses an existing Dask cluster whose workers
  see the course folder at the same path (a shared file system) and run in the course's
  environment.
- **How a worker grades**: in its own process, with one ``NbGraderAPI`` per worker process. A
  subprocess ``nbgrader autograde LESSON --student S`` per task costs about 4 s more per
  submission (measured on 02_augment, sandbox included: 7.1 s against 3.0 s in process;
  interpreter start, imports, configuration, the grader's code fingerprint and a new verified
  data snapshot every time), more than doubling the cost, and buys no robustness: a
  submission runs in its own kernel (in the sandbox), never in the worker, so a crashing answer
  kills only its kernel; a worker that dies anyway (killed, out of memory) is replaced by Dask's
  nanny and its task rescheduled, up to Dask's ``distributed.scheduler.allowed-failures`` times,
  after which the submission is reported as failed.
- **Gradebook**: SQLite (nbgrader's default ``gradebook.db``) for a workshop: several workers
  on one machine write to it in turn, each waiting for SQLite's write lock (a busy timeout of
  :data:`SQLITE_BUSY_SECONDS` instead of Python's 5 s, after which nbgrader would fail the
  submission with "database is locked"). PostgreSQL (``postgresql+psycopg://...``) for a large
  class and for a cluster: concurrent transactions, no shared-file locking.
- **Nothing lost**: before grading, each task records ``started`` (worker, time) in a small
  state file, ``.medprep_grading/<lesson>/<student>.json`` in the course folder, and
  ``finished`` or ``failed`` after; nbgrader's log of the submission goes beside it. A rerun
  grades only what is new, changed (content hash of the submission folder, or of the lesson's
  source notebooks and ``nbgrader_config.py``), failed, unfinished (``started`` without an end:
  an interrupted run) or missing from the gradebook; ``--force`` grades everything again.
  Failures are reported by name and make the exit code 1.
- **One run at a time**: the command holds an exclusive lock on
  ``.medprep_grading/lock`` (``flock``, released by the kernel when the process ends, so it is
  never stale) for its whole run; a second instructor gets a message naming the holder. A
  lock on the course folder rather than PostgreSQL's row locks, because a run also rewrites
  ``autograded/`` and the state files, which the database cannot protect.

Bad input (unknown lesson, unreachable scheduler, a database that refuses the connection, a
course folder without ``nbgrader_config.py``) is reported, naming the argument, before any
grading starts (exit code 2).

Examples
--------
>>> from medprep_grader.parallel import with_busy_timeout
>>> with_busy_timeout("sqlite:////course/gradebook.db")
'sqlite:////course/gradebook.db?timeout=600'
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import getpass
import glob
import hashlib
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "GradingInputError",
    "Submission",
    "Summary",
    "autograde",
    "find_submissions",
    "folder_hash",
    "grade_submission",
    "add_arguments",
    "run",
    "with_busy_timeout",
    "course_lock",
    "read_state",
]

HELP = "autograde every submission of a lesson (or all) in parallel on Dask"

#: Folder of the course that holds the lock, the state files and the per-submission logs.
STATE_FOLDER = ".medprep_grading"
#: How long a worker waits for SQLite's write lock before nbgrader gives up ("database is locked").
SQLITE_BUSY_SECONDS = 600
#: How long to wait for a scheduler, a database or the first worker before calling it unreachable.
CONNECT_SECONDS = 5
#: Exit codes: grading failures, and bad input found before any grading.
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


class GradingInputError(Exception):
    """Bad input found before any grading: the message names the argument to fix."""


@dataclass(frozen=True)
class Submission:
    """One submission to grade: ``submitted/<student>/<lesson>/``."""

    lesson: str
    student: str
    folder: Path


@dataclass
class Summary:
    """What a run did: students by outcome, per ``(lesson, student)``."""

    graded: list[tuple[str, str]] = field(default_factory=list)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    grading_seconds: list[float] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else 0

    def text(self) -> str:
        lines = [f"{name}/{lesson}: FAILED - {why}" for (lesson, name), why in sorted(self.failed.items())]
        graded = len(self.graded)
        rate = f", {graded / self.seconds * 60:.1f} submissions/min" if graded and self.seconds else ""
        lines.append(
            f"{graded} graded, {len(self.failed)} failed, {len(self.skipped)} skipped (unchanged since they were "
            f"graded) in {self.seconds:.0f} s{rate}"
        )
        if self.failed:
            lines.append(
                f"The logs of the failed submissions are in {STATE_FOLDER}/<lesson>/<student>.log; "
                "run the command again to retry them."
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- configuration


def with_busy_timeout(db_url: str, seconds: int = SQLITE_BUSY_SECONDS) -> str:
    """``db_url`` with SQLite's busy timeout set, so that concurrent writers wait for each other.

    Other databases are returned unchanged; a timeout already in the URL is kept.

    Examples
    --------
    >>> with_busy_timeout("postgresql+psycopg://grader@/gradebook?host=/run/postgresql")
    'postgresql+psycopg://grader@/gradebook?host=/run/postgresql'
    """
    if not db_url.startswith("sqlite") or re.search(r"[?&]timeout=", db_url):
        return db_url
    return f"{db_url}{'&' if '?' in db_url else '?'}timeout={seconds}"


def _course_config(root: Path, db_url: str | None):
    """The course's nbgrader configuration, loaded as ``nbgrader`` loads it, with ``root`` and ``db_url`` set."""
    from nbgrader.apps.baseapp import NbGrader

    # nbgrader reads the Jupyter config folders, then nbgrader_config.py in the current folder and in
    # the course root: load from the course root, so a stray config where the command started is ignored.
    with _working_directory(root):
        app = NbGrader()
        app.initialize([], root=str(root))
    config = app.config
    config.CourseDirectory.root = str(root)
    if db_url:
        config.CourseDirectory.db_url = db_url
    return config


@contextlib.contextmanager
def _working_directory(folder: Path):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _coursedir(config):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=config)


def _shown(db_url: str) -> str:
    """``db_url`` without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def _check_database(db_url: str, origin: str) -> None:
    """Connect once to ``db_url``; raise :class:`GradingInputError` naming ``origin`` when that fails."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    try:
        url = make_url(db_url)
    except ArgumentError:
        raise GradingInputError(f"{origin}: {db_url!r} is not a database URL (e.g. postgresql+psycopg://user@host/db)") from None
    if url.get_backend_name() == "sqlite":
        folder = Path(url.database or "").parent
        if url.database and not folder.is_dir():
            raise GradingInputError(f"{origin}: the folder of the SQLite gradebook does not exist: {folder}")
    connect_args = {"connect_timeout": CONNECT_SECONDS} if url.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(url, connect_args=connect_args)
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        hint = " (PostgreSQL: write postgresql+psycopg://..., the psycopg 3 driver)" if url.get_backend_name() == "postgresql" else ""
        raise GradingInputError(f"{origin}: no driver for {_shown(db_url)}: {error}{hint}") from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise GradingInputError(f"{origin}: the gradebook database {_shown(db_url)} refused the connection: {reason}") from None
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- what to grade


def _lessons(coursedir, gradebook_lessons: set[str], lesson: str) -> list[str]:
    """The lessons that ``lesson`` ("all" or a name) means; :class:`GradingInputError` when unknown."""
    source = Path(coursedir.root) / coursedir.source_directory
    known = sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if source.is_dir() else []
    if lesson == "all":
        if not known:
            raise GradingInputError(f"LESSON: there is no lesson in {source} (nbgrader's source_directory)")
        wanted = known
    elif lesson not in known:
        raise GradingInputError(f"LESSON: unknown lesson {lesson!r}; the lessons are: {', '.join(known) or 'none'}")
    else:
        wanted = [lesson]
    missing = [name for name in wanted if name not in gradebook_lessons]
    if missing:
        raise GradingInputError(
            f"LESSON: {', '.join(missing)} not in the gradebook {_shown(coursedir.db_url)}; record "
            f"{'them' if len(missing) > 1 else 'it'} first with `nbgrader generate_assignment {' '.join(missing)} --force`"
            " (with the same db_url)"
        )
    return wanted


def find_submissions(coursedir, lessons: list[str], student: str = "*") -> list[Submission]:
    """The collected submissions of ``lessons`` whose student id matches the glob ``student``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> find_submissions(SimpleNamespace(root="/nowhere", submitted_directory="submitted",
    ...     format_path=lambda step, s, a, escape=False: f"/nowhere/{step}/{s}/{a}"), ["02_augment"])
    []
    """
    found = []
    for lesson in lessons:
        # as nbgrader's converters read the student id back from a path
        pattern = coursedir.format_path(coursedir.submitted_directory, "(?P<student>[^/]+)", lesson, escape=True)
        for folder in sorted(glob.glob(coursedir.format_path(coursedir.submitted_directory, student, lesson))):
            match = re.fullmatch(pattern, folder)
            if match and os.path.isdir(folder):
                found.append(Submission(lesson, match.group("student"), Path(folder)))
    return found


def folder_hash(*folders: Path, files: tuple[Path, ...] = ()) -> str:
    """SHA-256 over the relative names and contents of every file below ``folders``, and of ``files``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.ipynb").write_text("{}")
    >>> folder_hash(folder) == folder_hash(folder)
    True
    """
    digest = hashlib.sha256()
    paths = [(str(p.relative_to(folder)), p) for folder in folders for p in sorted(Path(folder).rglob("*")) if p.is_file()]
    for name, path in paths + [(Path(f).name, Path(f)) for f in files]:
        if ".ipynb_checkpoints" in Path(name).parts:
            continue
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _setup_hash(coursedir, lesson: str) -> str:
    """What the grading of ``lesson`` depends on besides the submission: its source notebooks and the config."""
    root = Path(coursedir.root)
    return folder_hash(root / coursedir.source_directory / lesson, files=(root / "nbgrader_config.py",))


def _state_path(root: Path, lesson: str, student: str, suffix: str = ".json") -> Path:
    return Path(root) / STATE_FOLDER / lesson / f"{student}{suffix}"


def read_state(root: Path, lesson: str, student: str) -> dict:
    """The state file of a submission (``{}`` when it was never graded by this command).

    Examples
    --------
    >>> read_state(Path("/nowhere"), "02_augment", "ada")
    {}
    """
    try:
        return json.loads(_state_path(root, lesson, student).read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # a torn write cannot happen (rename), a hand edit can
        return {}


def _write_state(root: Path, lesson: str, student: str, record: dict) -> None:
    path = _state_path(root, lesson, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(record, indent=1))
    partial.replace(path)  # all or nothing, also on a shared file system


def _why_grade(submission: Submission, state: dict, setup: str, in_gradebook: bool, autograded: Path, force: bool):
    """Why ``submission`` must be graded, or None when its grades are current."""
    if force:
        return "--force"
    if not state:
        return "new"
    if state.get("state") == "started":
        return "unfinished (interrupted)"
    if state.get("state") == "failed":
        return "failed last time"
    if state.get("submission") != folder_hash(submission.folder):
        return "changed since last graded"
    if state.get("setup") != setup:
        return "lesson or nbgrader_config.py changed"
    if not in_gradebook:
        return "missing from the gradebook"
    if not autograded.is_dir():
        return "autograded copy missing"
    return None


# --------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def course_lock(root: Path):
    """Hold the course's grading lock, or raise :class:`GradingInputError` naming who holds it.

    Examples
    --------
    >>> import tempfile
    >>> with course_lock(Path(tempfile.mkdtemp())):
    ...     pass
    """
    path = Path(root) / STATE_FOLDER / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise GradingInputError(
                f"another grading run holds the course lock {path} ({holder}): wait for it to finish. "
                "The lock ends with its process, so it is never left behind by a crash."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"user {getpass.getuser()}, pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock


# --------------------------------------------------------------------------- the worker side

# One grading at a time per worker process: nbgrader changes the working folder and its course
# directory while it converts, so two threads of one process must not grade at once.
_PROCESS_LOCK = threading.Lock()
_APIS: dict[tuple[str, str], object] = {}


def _api(root: str, db_url: str):
    """One ``NbGraderAPI`` per worker process and gradebook, logging only into the per-submission log."""
    key = (root, db_url)
    if key not in _APIS:
        from nbgrader.apps import NbGraderAPI

        log = logging.getLogger(f"medprep_grader.nbgrader.{len(_APIS)}")
        log.setLevel(logging.INFO)
        log.propagate = False  # the log goes to <student>.log, not to the console under the progress bar
        log.addHandler(logging.NullHandler())  # else Python prints its warnings anyway ("last resort")
        _APIS[key] = NbGraderAPI(config=_course_config(Path(root), db_url), log=log)
    return _APIS[key]


def grade_submission(root: str, lesson: str, student: str, db_url: str, setup: str) -> dict:
    """Autograde one submission with nbgrader (a Dask task); record its state before and after.

    Returns ``{"lesson", "student", "ok", "seconds", "error"}``; never raises for a submission
    that fails to grade (that is a result), only when the course folder itself is unusable.
    """
    with _PROCESS_LOCK:
        root_path = Path(root)
        api = _api(root, db_url)
        folder = Path(api.coursedir.format_path(api.coursedir.submitted_directory, student, lesson))
        record = {
            "state": "started",
            "submission": folder_hash(folder),  # the bytes about to be graded, even if resubmitted meanwhile
            "setup": setup,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "started": time.time(),
        }
        _write_state(root_path, lesson, student, record)
        start = time.perf_counter()
        result = api.autograde(lesson, student, force=True, create=True)
        seconds = time.perf_counter() - start
        log = (result.get("log") or "") + (result.get("error") or "")
        _state_path(root_path, lesson, student, ".log").write_text(log)
        error = None if result["success"] else _first_error(log)
        record.update(state="finished" if result["success"] else "failed", seconds=seconds, error=error, ended=time.time())
        _write_state(root_path, lesson, student, record)
        return {"lesson": lesson, "student": student, "ok": bool(result["success"]), "seconds": seconds, "error": error}


def _first_error(log: str) -> str:
    """The most telling line of a failed submission's log: the exception nbgrader caught, else its first error.

    nbgrader logs ``[ERROR] Traceback ...`` followed by the indented traceback, whose last line
    names the exception.

    Examples
    --------
    >>> _first_error("[ERROR] There was an error\\n[ERROR] Traceback (most recent call last):\\n"
    ...              "      File x.py, line 1\\n    nbformat.reader.NotJSONError: not JSON\\n\\n[WARNING] Removing")
    'nbformat.reader.NotJSONError: not JSON'
    """
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("[ERROR] Traceback"):
            block = []
            for following in lines[index + 1:]:
                if following.startswith("["):
                    break
                block.append(following.strip())
            shown = [text for text in block if text]
            if shown:
                return shown[-1][:300]
    errors = [line[len("[ERROR] "):] for line in lines if line.startswith("[ERROR]") and "Please see the" not in line]
    return (errors[0] if errors else lines[-1] if lines else "nbgrader failed without a log")[:300]


def _worker_check(root: str) -> dict:
    """Run on every worker of an existing cluster: can it grade this course?"""
    problems = []
    if not (Path(root) / "nbgrader_config.py").is_file():
        problems.append(f"does not see the course folder {root} (a shared file system at the same path)")
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        problems.append("cannot import nbgrader (start it in the course's environment)")
    return {"host": socket.gethostname(), "problems": problems}


# --------------------------------------------------------------------------- the client side


def _connect(scheduler: str | None, workers: int, pending: int):
    """A Dask client: on ``scheduler``, or on a new LocalCluster of ``workers`` single-threaded processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_SECONDS}s")
        except (OSError, TimeoutError) as error:
            raise GradingInputError(f"--scheduler {scheduler}: no Dask scheduler answered within {CONNECT_SECONDS} s ({error})") from None
        return client, None
    # processes: nbgrader is not thread-safe (see _PROCESS_LOCK); no memory limit: a submission's memory
    # is in its kernel (limited by the sandbox), not in the worker; no dashboard: nothing to serve.
    cluster = LocalCluster(
        n_workers=min(workers, max(pending, 1)), threads_per_worker=1, processes=True,
        memory_limit=0, dashboard_address=None, silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def _check_workers(client, root: Path, db_url: str) -> None:
    """Every worker of an existing cluster must see the course; SQLite needs them all on this machine."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_SECONDS * 2)
    except TimeoutError:
        raise GradingInputError(f"--scheduler: the Dask scheduler has no workers (start `dask worker {client.scheduler.address} --nthreads 1` in the course folder)") from None
    try:
        reports = client.run(_worker_check, str(root))
    except Exception as error:  # e.g. a worker that cannot import medprep_grader to unpickle the check
        raise GradingInputError(
            f"--scheduler: the workers cannot run the grader ({type(error).__name__}: {error}); start them in the "
            "course's environment, where `python -c 'import medprep_grader'` works"
        ) from None
    problems = [f"worker {address} {problem}" for address, report in reports.items() for problem in report["problems"]]
    if problems:
        raise GradingInputError("--scheduler: " + "; ".join(problems))
    hosts = {report["host"] for report in reports.values()}
    if db_url.startswith("sqlite") and hosts - {socket.gethostname()}:
        raise GradingInputError(
            f"--db-url: workers on other machines ({', '.join(sorted(hosts))}) cannot share a SQLite gradebook safely "
            "(file locks over a network file system lose writes): use PostgreSQL, --db-url postgresql+psycopg://..."
        )


def _prepare_gradebook(db_url: str, course_id: str, students: set[str]) -> None:
    """Create the course and every student row once, before the workers start.

    nbgrader's autograde creates them on the fly ("find, else insert"): two workers grading two
    lessons of one student at once would both insert the student, and one submission would fail.
    """
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gradebook:
        known = {student.id for student in gradebook.students}
        for student in sorted(students - known):
            gradebook.add_student(student)


def autograde(
    root: str | os.PathLike,
    lesson: str,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    db_url: str | None = None,
    student: str = "*",
    force: bool = False,
    progress: bool | None = None,
    out=None,
) -> Summary:
    """Autograde the submissions of ``lesson`` ("all": every lesson) in the course folder ``root``.

    Parameters
    ----------
    root : path-like
        The nbgrader course folder (with ``nbgrader_config.py``).
    lesson : str
        A lesson (nbgrader assignment) name, or ``"all"``.
    scheduler : str, optional
        Address of an existing Dask scheduler; default: a LocalCluster on this machine.
    workers : int, optional
        Worker processes of the LocalCluster; default: the number of cores.
    db_url : str, optional
        The gradebook; default: ``CourseDirectory.db_url`` of the course config (SQLite ``gradebook.db``).
    student : str
        Glob of the student ids to grade.
    force : bool
        Grade every submission again, even unchanged ones.
    progress : bool, optional
        Show a progress bar; default: when the error stream is a terminal.
    out : file, optional
        Where the plan and the failures are printed; default ``sys.stdout``.

    Returns
    -------
    Summary

    Raises
    ------
    GradingInputError
        Bad input, found before any grading.

    Examples
    --------
    >>> autograde("/nowhere", "02_augment")
    Traceback (most recent call last):
    ...
    medprep_grader.parallel.GradingInputError: --course: /nowhere has no nbgrader_config.py (run the command in the course folder)
    """
    out = out or sys.stdout
    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise GradingInputError(f"--course: {root} has no nbgrader_config.py (run the command in the course folder)")
    if workers is not None and workers < 1:
        raise GradingInputError(f"--workers: must be at least 1, got {workers}")
    # Everything below reads or writes the gradebook, the state files or autograded/: one run at a time.
    with course_lock(root):
        config = _course_config(root, db_url)
        coursedir = _coursedir(config)
        origin = f"--db-url {_shown(db_url)}" if db_url else f"CourseDirectory.db_url ({_shown(coursedir.db_url)})"
        _check_database(coursedir.db_url, origin)
        db_url = with_busy_timeout(coursedir.db_url)

        from nbgrader.api import Gradebook

        with Gradebook(db_url, coursedir.course_id) as gradebook:
            recorded = {a.name: {s.student.id for s in a.submissions} for a in gradebook.assignments}
        lessons = _lessons(coursedir, set(recorded), lesson)
        submissions = find_submissions(coursedir, lessons, student)
        if not submissions:
            where = coursedir.format_path(coursedir.submitted_directory, student, lesson if lesson != "all" else "*")
            raise GradingInputError(f"{'--student' if student != '*' else 'LESSON'}: no submission matches {where}")

        client = _connect(scheduler, 0, 0)[0] if scheduler else None
        try:
            if client is not None:  # reachable and able to grade, before anything is graded
                _check_workers(client, root, db_url)
            return _run(root, coursedir, db_url, submissions, recorded, client, scheduler, workers, force, progress, out)
        finally:
            if client is not None:
                client.close()


def _run(root, coursedir, db_url, submissions, recorded, client, scheduler, workers, force, progress, out) -> Summary:
    from tqdm import tqdm

    summary = Summary()
    start = time.perf_counter()
    setups = {lesson: _setup_hash(coursedir, lesson) for lesson in {s.lesson for s in submissions}}
    todo = []
    for submission in submissions:
        autograded = Path(coursedir.format_path(coursedir.autograded_directory, submission.student, submission.lesson))
        why = _why_grade(
            submission, read_state(root, submission.lesson, submission.student), setups[submission.lesson],
            submission.student in recorded.get(submission.lesson, set()), autograded, force,
        )
        if why is None:
            summary.skipped.append((submission.lesson, submission.student))
        else:
            todo.append(submission)
            summary.reasons[why] = summary.reasons.get(why, 0) + 1
    lessons = ", ".join(sorted(setups))
    reasons = "; ".join(f"{count} {why}" for why, count in sorted(summary.reasons.items()))
    print(f"{lessons}: {len(todo)} to grade ({reasons or 'nothing new'}), {len(summary.skipped)} unchanged; "
          f"gradebook {_shown(db_url)}", file=out, flush=True)
    if not todo:
        summary.seconds = time.perf_counter() - start
        return summary

    _prepare_gradebook(db_url, coursedir.course_id, {s.student for s in todo})
    cluster = None
    if client is None:
        client, cluster = _connect(None, workers or os.cpu_count() or 1, len(todo))
    engine = f"Dask scheduler {scheduler}" if scheduler else "LocalCluster"
    count = len(client.scheduler_info()["workers"])
    print(f"engine: {engine}, {count} worker process{'es' if count != 1 else ''}", file=out, flush=True)
    from distributed import as_completed

    futures = {
        client.submit(grade_submission, str(root), s.lesson, s.student, db_url, setups[s.lesson],
                      key=f"autograde-{s.lesson}-{s.student}-{time.time_ns()}", pure=False): s
        for s in todo
    }
    try:
        with tqdm(total=len(futures), unit="submission", disable=(not sys.stderr.isatty()) if progress is None else not progress) as bar:
            for future in as_completed(futures):
                s = futures[future]
                key = (s.lesson, s.student)
                try:
                    result = future.result()
                except Exception as error:  # the task never returned: its worker died too often (KilledWorker)
                    why = f"{type(error).__name__}: {str(error)[:300]}"
                    summary.failed[key] = why
                    state = read_state(root, s.lesson, s.student)
                    _write_state(root, s.lesson, s.student, {**state, "state": "failed", "error": why, "ended": time.time()})
                else:
                    if result["ok"]:
                        summary.graded.append(key)
                        summary.grading_seconds.append(result["seconds"])
                    else:
                        summary.failed[key] = result["error"]
                bar.update()
                bar.set_postfix(failed=len(summary.failed))
    except KeyboardInterrupt:
        print("interrupted: the submissions being graded are marked unfinished and graded by the next run", file=out)
        raise
    finally:
        client.cancel(list(futures))
        if cluster is not None:
            client.close()
            cluster.close()
    summary.seconds = time.perf_counter() - start
    return summary


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``autograde`` subcommand's arguments (``python -m medprep_grader autograde -h``)."""
    parser.add_argument("lesson", metavar="LESSON", help="the lesson (nbgrader assignment) to grade, or 'all'")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (tcp://host:8786) whose "
                        "workers see the course folder; default: a LocalCluster on this machine")
    parser.add_argument("--workers", metavar="N", type=int, default=None,
                        help="worker processes of the LocalCluster (default: the number of cores)")
    parser.add_argument("--db-url", metavar="URL", default=None, help="the gradebook, e.g. "
                        "postgresql+psycopg://grader@dbhost/medprep (default: CourseDirectory.db_url of nbgrader_config.py, "
                        "else gradebook.db)")
    parser.add_argument("--student", metavar="PATTERN", default="*", help="only students whose id matches this glob")
    parser.add_argument("--force", action="store_true", help="grade every submission again, even unchanged ones")
    parser.add_argument("--course", metavar="PATH", default=".", help="the course folder (default: the current folder)")


def run(args: argparse.Namespace) -> int:
    """Run ``autograde`` from parsed arguments; returns the exit code."""
    try:
        summary = autograde(args.course, args.lesson, scheduler=args.scheduler, workers=args.workers,
                            db_url=args.db_url, student=args.student, force=args.force)
    except GradingInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # Ctrl-C: the message above says what happens next; no traceback
        return 130
    print(summary.text())
    return summary.exit_code
