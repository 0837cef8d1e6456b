"""Parallel autograding (``python -m medprep_grader autograde``, medprep_grader/parallel.py).

A class is made from the sample submissions of tests/make_submissions.py (correct, blank and
partial, each copied under several student names) in a temporary copy of the course. The
slow tests grade it for real: nbgrader's own sequential loop on SQLite against the command on
a throwaway PostgreSQL server (tests/pg.py) with two Dask workers; a worker killed in the middle
of a submission; a whole run killed and resumed. The fast tests give bad input and check that
nothing is graded.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grading import SUBMISSIONS, autograde_class, copy_course, nbgrader_api, submit
from pg import postgres_bin, throwaway_postgres

from medprep_grader import parallel
from medprep_grader.__main__ import main

#: The lesson graded by these tests: one lesson keeps CI time down.
LESSON = "02_augment"
KINDS = ("correct", "blank", "partial")
SECRET = {"MEDPREP_GRADING_SECRET": "parallel-grading-tests-secret"}


# --------------------------------------------------------------------------- helpers


def _samples(folder: Path) -> dict[str, Path]:
    """The samples of LESSON as make_submissions.py builds them now: ``{kind: notebook}``."""
    import make_submissions

    files, _ = make_submissions.build()
    notebooks = {}
    for path, text in files.items():
        kind = path.relative_to(SUBMISSIONS).parts[0]
        if path.suffix == ".ipynb" and path.parent.name == LESSON and kind in KINDS:
            copy = folder / "samples" / path.relative_to(SUBMISSIONS)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(text)
            notebooks[kind] = copy
    return notebooks


def make_class(folder: Path, students: int, db_url: str | None = None) -> tuple[Path, dict[str, str]]:
    """A course copy in ``folder`` with ``students`` submissions of LESSON; returns it and ``{student: kind}``.

    The lesson is recorded (``generate_assignment``) in the gradebook at ``db_url`` (default: SQLite).
    """
    notebooks = _samples(folder)
    course = copy_course(folder / "course", with_data=True)
    kinds = {f"{KINDS[i % len(KINDS)]}_{i:02d}": KINDS[i % len(KINDS)] for i in range(students)}
    submit(course, LESSON, {student: notebooks[kind] for student, kind in kinds.items()})
    overrides = {"CourseDirectory": {"db_url": db_url}} if db_url else {}
    result = nbgrader_api(course, overrides).generate_assignment(LESSON, force=True)
    assert result["success"], result.get("log", "") + str(result.get("error"))
    return course, kinds


def command(course: Path, *args: str, popen: bool = False):
    """Run ``python -m medprep_grader autograde LESSON ...`` in ``course`` (its data in MEDPREP_DATA)."""
    env = {**os.environ, **SECRET, "MEDPREP_DATA": str(course / "data")}
    argv = [sys.executable, "-m", "medprep_grader", "autograde", LESSON, *args]
    if popen:  # its own process group, so that a test can kill the run with every process it started
        return subprocess.Popen(argv, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
    return subprocess.run(argv, cwd=course, env=env, capture_output=True, text=True, timeout=600)


def gradebook_grades(db_url: str) -> dict[str, dict[str, tuple]]:
    """``{student: {grade cell: (auto, manual, score, max, needs manual grade)}}`` for LESSON."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, "medprep") as gradebook:
        return {
            submission.student.id: {
                grade.name: (grade.auto_score, grade.manual_score, grade.score, grade.max_score, grade.needs_manual_grade)
                for grade in gradebook.find_submission_notebook(LESSON, LESSON, submission.student.id).grades
            }
            for submission in gradebook.find_assignment(LESSON).submissions
        }


# A kernel sends what a cell prints as one or several stream messages, depending on timing, and
# nbclient keeps each as an output: the feedback then shows the same text in consecutive blocks.
_STREAM_BREAK = re.compile(
    r'</pre>\n</div>\n</div>\n<div class="output_area">\n<div class="prompt"></div>\n'
    r'<div class="output_subarea output_stream output_std(out|err) output_text">\n<pre>'
)


def feedback_and_export(course: Path, db_url: str) -> tuple[dict[str, str], list[dict]]:
    """``nbgrader generate_feedback`` and ``nbgrader export`` on ``course``: feedback pages and CSV rows."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    api = nbgrader_api(course, {"CourseDirectory": {"db_url": db_url}})
    result = api.generate_feedback(LESSON)
    assert result["success"], result.get("log", "") + str(result.get("error"))
    pages = {p.parents[1].name: _STREAM_BREAK.sub("", p.read_text()) for p in (course / "feedback").glob(f"*/{LESSON}/{LESSON}.html")}
    with Gradebook(db_url, "medprep") as gradebook:
        CsvExportPlugin(to=str(course / "grades.csv")).export(gradebook)
    with open(course / "grades.csv", newline="") as handle:
        return pages, sorted(csv.DictReader(handle), key=lambda row: row["student_id"])


def sqlite_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def assert_graded_alike(grades: dict, kinds: dict[str, str]) -> None:
    """Every student is graded, with the same grades as every student who handed in the same sample.

    (Which marks each sample deserves is test_instructor_workflow's business; here, a submission
    lost, half graded or graded on a dead kernel would differ from its copies.)
    """
    assert set(grades) == set(kinds), f"graded {sorted(grades)}, the class is {sorted(kinds)}"
    for student, kind in kinds.items():
        first = next(s for s, k in kinds.items() if k == kind)
        assert grades[student] == grades[first], f"{student} and {first} handed in the same notebook"
    total = {kind: sum(g[2] or 0 for g in grades[next(s for s, k in kinds.items() if k == kind)].values()) for kind in KINDS}
    assert total["correct"] > total["partial"] > total["blank"], f"scores by sample: {total}"


def states(course: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (course / parallel.STATE_FOLDER / LESSON).glob("*.json")}


def summary_counts(output: str) -> tuple[int, int, int]:
    match = re.search(r"(\d+) graded, (\d+) failed, (\d+) skipped", output)
    assert match, f"no summary in the output:\n{output[-3000:]}"
    return tuple(int(n) for n in match.groups())


@pytest.fixture(scope="session")
def postgres():
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (initdb, pg_ctl); Debian: apt-get install postgresql (.ci/run does)")
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def sandbox():
    """Grading refuses to run without its sandbox (README: install bubblewrap): skip, saying why."""
    from medprep_grader.sandbox import sandbox_problem

    if sandbox_problem():
        pytest.skip(f"no grading sandbox on this machine: {sandbox_problem()}")


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    for name, value in SECRET.items():
        monkeypatch.setenv(name, value)


# --------------------------------------------------------------------------- slow: real grading


@pytest.mark.slow
def test_parallel_on_postgresql_matches_nbgrader_on_sqlite(tmp_path, postgres, sandbox):
    """24 submissions: the same grades, feedback pages and export rows as nbgrader's sequential loop."""
    sequential, kinds = make_class(tmp_path / "sequential", 24)
    autograde_class(sequential, LESSON, list(kinds), processes=1)  # nbgrader's own loop, one process

    db_url = postgres.create_database("parallel_grading")
    parallel_course, _ = make_class(tmp_path / "parallel", 24, db_url)
    run = command(parallel_course, "--workers", "2", "--db-url", db_url)
    assert run.returncode == 0, run.stdout + run.stderr[-5000:]
    assert summary_counts(run.stdout) == (24, 0, 0), run.stdout

    grades = gradebook_grades(db_url)
    assert grades == gradebook_grades(sqlite_url(sequential))
    assert_graded_alike(grades, kinds)
    pages, rows = feedback_and_export(parallel_course, db_url)
    sequential_pages, sequential_rows = feedback_and_export(sequential, sqlite_url(sequential))
    assert rows == sequential_rows and len(rows) == 24
    assert set(pages) == set(kinds)
    for student in kinds:
        assert pages[student] == sequential_pages[student], f"{student}: the feedback differs"

    again = command(parallel_course, "--workers", "2", "--db-url", db_url)  # resumable: nothing new to grade
    assert again.returncode == 0 and summary_counts(again.stdout) == (0, 0, 24), again.stdout + again.stderr[-3000:]


def _wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}:\n{process.stdout.read()[-5000:]}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"timed out waiting for {what}")


def _started_for(course: Path, seconds: float):
    """A submission whose grading started at least ``seconds`` ago and has not ended: ``(student, record)``."""
    now = time.time()
    for student, record in states(course).items():
        if record["state"] == "started" and now - record["started"] >= seconds:
            return student, record
    return None


@pytest.mark.slow
def test_worker_killed_mid_submission_is_regraded(tmp_path, sandbox):
    """SIGKILL the worker grading a submission: Dask's nanny replaces it, the submission is graded again."""
    course, kinds = make_class(tmp_path, 6)
    process = command(course, "--workers", "2", popen=True)
    student, record = _wait_for(lambda: _started_for(course, 1.0), "a submission in the middle of grading", process)
    os.kill(int(record["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    output = process.communicate(timeout=600)[0]
    assert process.returncode == 0, output[-5000:]
    assert summary_counts(output) == (6, 0, 0), output[-3000:]
    after = states(course)
    assert after[student]["state"] == "finished" and after[student]["worker"] != record["worker"], after[student]
    assert_graded_alike(gradebook_grades(sqlite_url(course)), kinds)

    # A resubmission is graded again, a broken one is reported by name; the others are left alone.
    changed, broken = sorted(kinds)[:2]
    notebook = course / "submitted" / changed / LESSON / f"{LESSON}.ipynb"
    notebook.write_text(json.dumps(json.loads(notebook.read_text()), indent=2))
    (course / "submitted" / broken / LESSON / f"{LESSON}.ipynb").write_text("{ not a notebook")
    rerun = command(course, "--workers", "2")
    assert rerun.returncode == parallel.EXIT_FAILED, rerun.stdout + rerun.stderr[-3000:]
    assert "2 to grade (2 changed since last graded)" in rerun.stdout, rerun.stdout
    assert summary_counts(rerun.stdout) == (1, 1, len(kinds) - 2), rerun.stdout
    assert f"{broken}/{LESSON}: FAILED - " in rerun.stdout and "NotJSONError" in rerun.stdout, rerun.stdout
    assert states(course)[broken]["state"] == "failed"


@pytest.mark.slow
def test_interrupted_run_resumes_where_it_stopped(tmp_path, sandbox):
    """Kill the whole run (its process group): the rerun grades only what was not finished, on SQLite with 2 workers."""
    course, kinds = make_class(tmp_path, 6)
    process = command(course, "--workers", "2", popen=True)

    def finished_and_started():
        found = states(course)
        done = [s for s, r in found.items() if r["state"] == "finished"]
        busy = [s for s, r in found.items() if r["state"] == "started"]
        return (done, busy) if done and busy else None

    _wait_for(finished_and_started, "one submission graded and another one started", process)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    before = states(course)
    done = sorted(s for s, r in before.items() if r["state"] == "finished")
    unfinished = [s for s, r in before.items() if r["state"] == "started"]
    assert done and unfinished, before
    graded_before = gradebook_grades(sqlite_url(course))

    rerun = command(course, "--workers", "2")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-5000:]
    assert summary_counts(rerun.stdout) == (len(kinds) - len(done), 0, len(done)), rerun.stdout
    assert f"{len(unfinished)} unfinished" in rerun.stdout, rerun.stdout
    after = states(course)
    for student in done:  # not graded again, grades intact
        assert after[student] == before[student], student
    grades = gradebook_grades(sqlite_url(course))
    assert all(grades[s] == graded_before[s] for s in done)
    assert_graded_alike(grades, kinds)


@pytest.mark.slow
def test_an_existing_dask_cluster_grades_through_its_scheduler(tmp_path, monkeypatch, sandbox):
    """--scheduler: the workers of a cluster started beforehand (here on this machine) grade the class."""
    from distributed import LocalCluster

    course, kinds = make_class(tmp_path, 3)
    monkeypatch.setenv("MEDPREP_DATA", str(course / "data"))  # the workers' environment, as on a real cluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run = command(course, "--scheduler", cluster.scheduler_address)
    assert run.returncode == 0, run.stdout + run.stderr[-5000:]
    assert f"engine: Dask scheduler {cluster.scheduler_address}, 1 worker process\n" in run.stdout, run.stdout
    assert summary_counts(run.stdout) == (3, 0, 0), run.stdout
    assert_graded_alike(gradebook_grades(sqlite_url(course)), kinds)


# --------------------------------------------------------------------------- fast: bad input, nothing graded


@pytest.fixture(scope="module")
def small_course(tmp_path_factory):
    return make_class(tmp_path_factory.mktemp("bad-input"), 2)[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _refused(course: Path, capsys, *args: str) -> str:
    """Run the command in-process with ``args``: it must refuse with exit code 2, before any grading."""
    code = main(["autograde", *args, "--course", str(course)])
    err = capsys.readouterr().err
    assert code == parallel.EXIT_BAD_INPUT, err
    assert not (course / "autograded").exists(), "graded despite bad input"
    assert not list((course / parallel.STATE_FOLDER).glob("*/*.json")), "grading started despite bad input"
    return err


def test_unknown_lesson_is_refused(small_course, capsys):
    err = _refused(small_course, capsys, "02_augmnet")
    assert "LESSON: unknown lesson '02_augmnet'" in err and LESSON in err, err


def test_unreachable_scheduler_is_refused(small_course, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    err = _refused(small_course, capsys, LESSON, "--scheduler", address)
    assert f"--scheduler {address}: no Dask scheduler answered" in err, err
    assert time.monotonic() - start < 30


def test_database_that_refuses_the_connection_is_refused(small_course, capsys):
    url = f"postgresql+psycopg://grader@127.0.0.1:{_free_port()}/gradebook"
    err = _refused(small_course, capsys, LESSON, "--db-url", url)
    assert f"--db-url {url}: the gradebook database" in err and "refused the connection" in err, err


def test_a_second_run_waits_for_the_first(small_course, capsys):
    """Two instructors at once: the second run stops with a message naming the first, grading nothing."""
    with parallel.course_lock(small_course):
        err = _refused(small_course, capsys, LESSON)
    assert "another grading run holds the course lock" in err and f"pid {os.getpid()}" in err, err


def test_no_submission_for_the_student_pattern_is_refused(small_course, capsys):
    err = _refused(small_course, capsys, LESSON, "--student", "nobody_*")
    assert "--student: no submission matches" in err, err
