"""Benchmark: the learner package. Build time, wheel and sdist size, and a learner's install.

The install is timed the way the README tells learners: ``pip install medprep-<version>-py3-none-any.whl``
into a fresh virtual environment, with pip's cache warm (a first, untimed install into another
fresh venv warms it). Reported with it: whether nbgrader or the test tools came along (the goal
is that neither does), how many distributions the venv holds, its size on disk, and the time of
the learner's first ``medprep check``.

Run from the repository root::

    python -m bench.bench_package               # one timed install
    python -m bench.bench_package --repeats 3   # median of three
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR_TOOLS = ("nbgrader", "pytest", "pytest-xdist", "nbval", "neurocombat", "build")


def _env(venv: Path | None = None) -> dict[str, str]:
    # A learner's shell: nothing of a test session or of the repository's venv.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "MEDPREP_DATA", "VIRTUAL_ENV"}}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    run = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if run.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    return run


def build(folder: Path) -> tuple[float, Path, Path]:
    """Seconds of ``python -m build``, the wheel, the sdist."""
    start = time.perf_counter()
    _run([sys.executable, "-m", "build", "--outdir", str(folder), str(ROOT)], env=_env())
    seconds = time.perf_counter() - start
    return seconds, next(folder.glob("*.whl")), next(folder.glob("*.tar.gz"))


def install(wheel: Path, venv: Path) -> float:
    """Seconds of the learner's ``pip install <wheel>`` into a fresh venv at ``venv``."""
    _run([sys.executable, "-m", "venv", str(venv)], env=_env())
    start = time.perf_counter()
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", wheel.name], cwd=wheel.parent, env=_env(venv))
    return time.perf_counter() - start


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def table(repeats: int) -> str:
    with tempfile.TemporaryDirectory(prefix="medprep-bench-package-") as tmp:
        tmp = Path(tmp)
        build_seconds, wheel, sdist = build(tmp / "dist")
        install(wheel, tmp / "warm-up")  # fills pip's cache; not timed
        seconds = [install(wheel, tmp / f"venv{i}") for i in range(repeats)]
        venv = tmp / f"venv{repeats - 1}"
        listed = _run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"], env=_env()).stdout
        installed = {p["name"].lower() for p in json.loads(listed)}
        start = time.perf_counter()
        check = subprocess.run([str(venv / "bin" / "medprep"), "check"], capture_output=True, text=True,
                               cwd=tmp, env=_env(venv))
        check_seconds = time.perf_counter() - start
        venv_mb = _size(venv) / 1e6
        came_along = [name for name in INSTRUCTOR_TOOLS if name in installed]
        rows = [
            ("`python -m build` (wheel + sdist)", f"{build_seconds:.1f} s"),
            (f"wheel `{wheel.name}`", f"{wheel.stat().st_size / 1e6:.1f} MB"),
            (f"sdist `{sdist.name}`", f"{sdist.stat().st_size / 1e6:.1f} MB"),
            (f"learner install, fresh venv, warm cache (median of {repeats})", f"{statistics.median(seconds):.0f} s"),
            ("distributions in the learner's venv", f"{len(installed)}"),
            ("learner's venv on disk", f"{venv_mb:.0f} MB"),
            ("nbgrader or test tools installed (goal: none)", ", ".join(came_along) or "none"),
            ("first `medprep check`", f"{check_seconds:.1f} s ({'OK' if check.returncode == 0 else 'FAILED'})"),
        ]
    return "\n".join(["| what | measured |", "| --- | --- |", *(f"| {a} | {b} |" for a, b in rows)])


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="timed installs (each into a fresh venv)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    return table(args.repeats)


if __name__ == "__main__":
    print(main())
