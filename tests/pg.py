"""A throwaway PostgreSQL server for the tests: ``initdb`` in a temporary folder, ``pg_ctl`` on a Unix socket there.

Debian's ``postgresql`` package (``.ci/run`` installs it when missing) puts its programs in
``/usr/lib/postgresql/<version>/bin``. The server listens on no TCP port (``listen_addresses=''``),
only on a socket in its own folder, so several test sessions never collide and nothing is
reachable from outside. PostgreSQL refuses to run as root: as root, the folder is handed to an
unprivileged user (``postgres``, else ``nobody``) and the programs run as that user (``runuser``).
The folder is made with ``tempfile.mkdtemp`` in the system's temporary folder rather than below
pytest's ``tmp_path``, because pytest's base folder (mode 0700, root's) is closed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (on PATH, else the newest Debian version), or None."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _unprivileged_user() -> str | None:
    """The user to run the server as, when we are root (None otherwise)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root, and there is neither a 'postgres' nor a 'nobody' user to run PostgreSQL as")


class Postgres:
    """A running throwaway server; ``url(db)`` gives the SQLAlchemy URL of a database on it."""

    user = "medprep"

    def __init__(self, bin_dir: Path, folder: Path, run_as: str | None):
        self.bin_dir, self.folder, self.run_as = bin_dir, folder, run_as
        self.data = folder / "data"

    def _run(self, *command: str) -> str:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        run = subprocess.run(prefix + [str(self.bin_dir / command[0]), *command[1:]], capture_output=True, text=True,
                             timeout=120)
        if run.returncode:
            log = self.folder / "server.log"
            raise RuntimeError(f"{command[0]} failed (exit {run.returncode}):\n{run.stdout}\n{run.stderr}\n"
                               + (log.read_text()[-3000:] if log.exists() else ""))
        return run.stdout

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
        # fsync off: a test database need not survive a power cut, and it saves seconds per test.
        options = f"-k {self.folder} -c listen_addresses='' -c fsync=off -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its URL (SQLAlchemy, psycopg 3 driver)."""
        import psycopg

        with psycopg.connect(host=str(self.folder), user=self.user, dbname="postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://{self.user}@/{name}?host={self.folder}"


@contextmanager
def throwaway_postgres():
    """Start a server in a new temporary folder; stop it and delete the folder afterwards.

    Raises
    ------
    FileNotFoundError
        When the PostgreSQL server programs are not installed (Debian: ``apt-get install postgresql``).
    """
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)")
    run_as = _unprivileged_user()
    folder = Path(tempfile.mkdtemp(prefix="medprep-pg-"))
    server = Postgres(bin_dir, folder, run_as)
    try:
        if run_as:
            os.chown(folder, pwd.getpwnam(run_as).pw_uid, pwd.getpwnam(run_as).pw_gid)
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
