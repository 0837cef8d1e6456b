"""The course code and data the grader relies on, checked from outside every submission.

- :func:`pristine_data` / :func:`fresh_data_copy`: each submission's kernel gets its own fresh
  copy of the course data, made from a private snapshot verified against ``MANIFEST.sha256``
  when grading started, so an answer that deletes or overwrites data files harms only its copy.
- :func:`code_fingerprint`: SHA-256 of every file of ``medprep_helpers`` and ``medprep_grader``,
  taken when grading starts and compared before every submission (:func:`verify_unchanged`), so
  grading stops rather than judge with code that changed under it. Kept in the grader's memory,
  out of reach of any submission (the sandbox also mounts the code read-only).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from medprep_helpers import data

__all__ = ["pristine_data", "fresh_data_copy", "data_changes", "data_damage", "code_fingerprint", "verify_unchanged",
           "CourseChanged"]

# One verified snapshot per real data folder and grading process: {real folder: (snapshot, manifest text)}.
_SNAPSHOTS: dict[Path, tuple[Path, str]] = {}


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


class CourseChanged(RuntimeError):
    """The course code or data changed while grading: grades would no longer be trustworthy."""


def code_fingerprint() -> dict[str, str]:
    """SHA-256 of every file of the helper and grader packages that grading runs, by path.

    Examples
    --------
    >>> any(name.endswith("checks.py") for name in code_fingerprint())
    True
    """
    import medprep_helpers

    import medprep_grader

    digests = {}
    for package in (medprep_helpers, medprep_grader):
        root = Path(package.__file__).resolve().parent
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.relative_to(root).as_posix() not in _TOOLS:
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


# Command-line tools around grading that the judging itself never runs (they start nbgrader, which re-checks).
_TOOLS = {"__main__.py", "parallel.py", "release.py"}


_FINGERPRINT: dict[str, str] = {}


def verify_unchanged() -> None:
    """Raise :class:`CourseChanged` when the code or data differ from the start of grading."""
    if not _FINGERPRINT:
        _FINGERPRINT.update(code_fingerprint())
        pristine_data()
        return
    now = code_fingerprint()
    changed = sorted(set(now.items()) ^ set(_FINGERPRINT.items()))
    if changed:
        names = sorted({path for path, _ in changed})
        raise CourseChanged(
            "the course code changed while grading (" + ", ".join(names[:5]) + "): grading stopped. "
            "Restore it (git checkout / reinstall) and grade again."
        )
    problems = data_damage()
    if problems:
        raise CourseChanged(f"the course data changed while grading ({'; '.join(problems[:5])}): grading stopped. "
                            "Restore it with `git checkout -- data` and grade again.")


def data_damage() -> list[str]:
    """What changed in the real course data folder since grading took its verified snapshot (empty: nothing)."""
    try:
        source = data.data_dir().resolve()
    except FileNotFoundError as error:
        return [f"the data folder is missing ({error})"]
    return data_changes(*_SNAPSHOTS[source]) if source in _SNAPSHOTS else []
