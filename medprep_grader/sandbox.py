"""The sandbox a learner's kernel runs in while it is graded: bubblewrap plus resource limits.

Why bubblewrap: it is a small, audited, Debian-packaged tool (Flatpak's sandbox) that builds a
fresh mount namespace from an explicit list of folders, so the kernel sees the Python
installation and the course's helper package read-only, its own scratch folder writable, and
nothing else: not the course folder (solutions, gradebook, other students), not the
instructor's HOME. It also gives the kernel no network (a new, empty network namespace) and
its own PID namespace, and needs no daemon or root (unlike Docker). A dedicated unprivileged
user alone would still let the kernel read every world-readable file, including the course.

Limits come from ``prlimit`` (util-linux): address space, CPU seconds, processes, file size,
open files, no core dumps. When the grader runs as root (a container, a JupyterHub server),
the kernel additionally runs as an unprivileged uid (``setpriv``), because Linux never
enforces the process limit for root.

The kernel talks to the grader over ZeroMQ ``ipc`` sockets in the scratch folder: TCP on
localhost is not reachable from an empty network namespace.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SandboxUnavailable", "Limits", "Sandbox", "sandbox_problem"]

# Folders of a grading course folder that a kernel must never see, even as a sub-folder bound read-only.
_PRIVATE_PARTS = {"solutions", "submitted", "autograded", "feedback", "downloaded", "release", "exchange", "source"}


# Names whose presence marks a folder as a course folder or a clone of the repository: never mounted.
_COURSE_MARKERS = ("solutions", "nbgrader_config.py", "gradebook.db", "medprep_grader", "submitted", "autograded")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel (``prlimit`` options)."""

    address_space_bytes: int = 8 * 1024**3  # OpenBLAS and matplotlib reserve far more than they use
    cpu_seconds: int = 300
    processes: int = 512  # threads count too; shared by all kernels of the sandbox uid
    file_bytes: int = 512 * 1024**2
    open_files: int = 1024

    def prlimit_args(self) -> list[str]:
        return [
            "prlimit",
            f"--as={self.address_space_bytes}",
            f"--cpu={self.cpu_seconds}",
            f"--nproc={self.processes}",
            f"--fsize={self.file_bytes}",
            f"--nofile={self.open_files}",
            "--core=0",
            "--",
        ]


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


@dataclass
class Sandbox:
    """How to wrap a kernel command so that it runs in the sandbox.

    Parameters
    ----------
    scratch : Path
        The submission's scratch folder: the only writable place (HOME, notebook folder, data copy,
        sockets live inside it).
    course_root : Path
        The course folder; neither it nor any folder above it is bound into the sandbox.
    workdir : Path
        The kernel's working folder (inside ``scratch``).
    env : dict
        Environment of the kernel (nothing else of the grader's environment is passed).
    limits : Limits
    sandbox_uid : int
        The uid the kernel runs as when the grader is root.
    """

    scratch: Path
    course_root: Path
    workdir: Path
    env: dict = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    sandbox_uid: int = 65534
    readonly_extra: tuple = ()

    def readonly_folders(self) -> list[Path]:
        """Python, its packages and the course helpers: everything the kernel may read."""
        import medprep_helpers

        candidates = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                      Path(os.path.realpath(sys.executable)).parents[1], Path(medprep_helpers.__file__).parent]
        candidates += [Path(p) for p in site.getsitepackages()]
        candidates += [Path(p) for p in self.env.get("PYTHONPATH", "").split(os.pathsep) if p]
        course = self.course_root.resolve()
        package = Path(medprep_helpers.__file__).resolve().parent
        folders: list[Path] = []
        for candidate in candidates:
            folder = candidate.resolve()
            if not folder.is_dir() or _is_within(course, folder) or (folder != package and _is_within(package, folder)):
                continue  # never the course folder, the clone holding the helpers, or anything above them
            if any((folder / name).exists() for name in _COURSE_MARKERS):
                continue  # a folder that looks like a course or a clone of it (solutions, gradebook, grader)
            if _is_within(folder, course) and _PRIVATE_PARTS & set(folder.relative_to(course).parts):
                continue
            if any(str(folder).startswith(prefix) for prefix in ("/usr", "/etc")):
                continue  # already bound whole
            if not any(_is_within(folder, kept) for kept in folders):
                folders = [kept for kept in folders if not _is_within(kept, folder)] + [folder]
        return folders

    def command(self, kernel_argv: list[str]) -> list[str]:
        """The full command: limits, bubblewrap, (as root) an unprivileged uid, then the kernel."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed: install it with `sudo apt-get install bubblewrap` "
                "(Debian/Ubuntu) or `sudo dnf install bubblewrap`, or grade without a sandbox at your own "
                "risk with --SandboxedExecute.unsafe_no_sandbox=True"
            )
        as_root = os.geteuid() == 0
        args = [bwrap, "--die-with-parent", "--new-session",
                "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        if not as_root:
            args.append("--unshare-user")
        args += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        for name in ("bin", "lib", "lib32", "lib64", "sbin"):
            top = Path("/") / name
            if top.is_symlink():
                args += ["--symlink", os.readlink(top), str(top)]
            elif top.is_dir():
                args += ["--ro-bind", str(top), str(top)]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        binds = [(folder, "--ro-bind") for folder in self.readonly_folders()] + [(self.scratch.resolve(), "--bind")]
        binds += [(Path(folder).resolve(), "--ro-bind") for folder in self.readonly_extra]
        # bubblewrap makes missing parent folders private (0700): create them readable first.
        parents = sorted({p for folder, _ in binds for p in folder.parents if p != Path("/")}, key=lambda p: len(p.parts))
        for parent in parents:
            args += ["--perms", "0755", "--dir", str(parent)]
        for folder, how in binds:
            args += [how, str(folder), str(folder)]
        args += ["--chdir", str(self.workdir), "--clearenv"]
        for key, value in sorted(self.env.items()):
            args += ["--setenv", key, value]
        args.append("--")
        if as_root:
            args += ["setpriv", f"--reuid={self.sandbox_uid}", f"--regid={self.sandbox_uid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--"]
        return self.limits.prlimit_args() + args + list(kernel_argv)

    def prepare(self) -> None:
        """Hand the scratch folder to the sandbox uid (when grading as root)."""
        if os.geteuid() == 0:
            for path in [self.scratch, *self.scratch.rglob("*")]:
                os.lchown(path, self.sandbox_uid, self.sandbox_uid)


_PROBLEM: dict[str, str | None] = {}


def sandbox_problem() -> str | None:
    """Why a sandbox cannot be made on this machine, or None when it works (tried once per process)."""
    if "result" not in _PROBLEM:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="medprep-sandbox-check-") as scratch:
            box = Sandbox(Path(scratch), Path(scratch) / "course", Path(scratch), env={"PATH": "/usr/bin:/bin"})
            try:
                box.prepare()
                run = subprocess.run(box.command([sys.executable, "-c", "print('ok')"]),
                                     capture_output=True, text=True, timeout=60)
                ok = run.returncode == 0 and run.stdout.strip() == "ok"
                _PROBLEM["result"] = None if ok else f"a test sandbox failed: {run.stderr.strip()[-500:]}"
            except (SandboxUnavailable, OSError, subprocess.TimeoutExpired) as error:
                _PROBLEM["result"] = str(error)
    return _PROBLEM["result"]
