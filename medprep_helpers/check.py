"""Environment check: run ``medprep check`` (or ``python -m medprep_helpers.check``) before a workshop.

It checks, one line each, that the installed packages satisfy the course's
requirements, that the course data matches its checksums, that the real
DICOM radiograph loads, that a figure renders, that a Jupyter kernel is
there, and which course version is installed (its student notebooks must
carry that version's stamp). Each line says OK or FAIL, and a FAIL says
what to do. The exit status is non-zero on any FAIL.

(The exercises' feedback layer is :mod:`medprep_helpers.checks`, plural.)
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Callable

__all__ = ["Result", "run_checks", "main"]



def install_hint() -> str:
    """How to repair the installation: the editable install in a clone, else the learner package."""
    from medprep_helpers import __version__
    from medprep_helpers.data import checkout_root

    if checkout_root() is not None:
        return 'reinstall the course: python -m pip install -e ".[dev]" in the repository'
    return (f"reinstall the course package: python -m pip install --force-reinstall "
            f"medprep-{__version__}-py3-none-any.whl (the file or index your instructor named)")


@dataclass
class Result:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        status = "OK  " if self.ok else "FAIL"
        text = f"{status} {self.name}: {self.detail}"
        if not self.ok and self.fix:
            text += f"\n     -> {self.fix}"
        return text


def check_python() -> Result:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return Result("python", ok, version, "use Python 3.11 or newer")


def check_packages() -> list[Result]:
    """Every requirement of the installed ``medprep`` distribution, satisfied?"""
    from packaging.requirements import Requirement

    try:
        requirements = metadata.requires("medprep") or []
    except metadata.PackageNotFoundError:
        return [Result("medprep", False, "the course package is not installed", install_hint())]
    extras = metadata.metadata("medprep").get_all("Provides-Extra") or []
    results = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None:
            # The extras' packages (instructor, dev) are checked only when installed: a learner has none.
            if not any(requirement.marker.evaluate({"extra": extra}) for extra in extras):
                continue
            optional = True
        else:
            optional = False
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            if optional:
                continue
            results.append(Result(requirement.name, False, "not installed", install_hint()))
            continue
        ok = requirement.specifier.contains(installed, prereleases=True)
        wanted = str(requirement.specifier) or "any version"
        results.append(Result(requirement.name, ok, f"{installed} (needs {wanted})", install_hint()))
    return results


def check_data() -> Result:
    from medprep_helpers.data import checkout_root, data_dir, verify_manifest

    try:
        problems = verify_manifest()
    except FileNotFoundError as error:
        return Result("course data", False, str(error), install_hint())
    if problems:
        shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} in all)" if len(problems) > 5 else "")
        if os.environ.get("MEDPREP_DATA"):
            fix = f"MEDPREP_DATA names {data_dir()}: copy the course data there again, or unset MEDPREP_DATA"
        elif checkout_root() is not None:
            fix = "restore data/ with `git checkout -- data` (or regenerate: python -m medprep_helpers.data --generate)"
        else:
            fix = install_hint()
        return Result("course data", False, shown, fix)
    count = sum(1 for line in (data_dir() / "MANIFEST.sha256").read_text().splitlines() if line.strip())
    return Result("course data", True, f"{count} files match their SHA-256 checksums")


def check_dicom() -> Result:
    from medprep_helpers.data import load_real_radiograph

    try:
        image, dataset = load_real_radiograph(max_size=256)
    except Exception as error:  # noqa: BLE001 - report any failure as FAIL
        return Result("DICOM radiograph", False, f"{type(error).__name__}: {error}", install_hint())
    return Result(
        "DICOM radiograph",
        True,
        f"RG1_UNCR.dcm loads ({dataset.Rows} x {dataset.Columns}, {dataset.PhotometricInterpretation})",
    )


def check_figure() -> Result:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        import numpy as np

        fig, ax = plt.subplots(figsize=(2, 2))
        ax.imshow(np.linspace(0, 1, 64).reshape(8, 8), cmap="gray")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
    except Exception as error:  # noqa: BLE001
        return Result("figure", False, f"{type(error).__name__}: {error}", install_hint())
    return Result("figure", True, f"matplotlib {matplotlib.__version__} renders a PNG ({buffer.tell()} bytes)")


def check_kernel() -> Result:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        names = KernelSpecManager().find_kernel_specs()
    except Exception as error:  # noqa: BLE001
        return Result("jupyter kernel", False, f"{type(error).__name__}: {error}", install_hint())
    ok = "python3" in names
    return Result("jupyter kernel", ok, "python3 kernel found" if ok else "no python3 kernel", install_hint())


def check_course_version() -> Result:
    """The installed course version, and whether every student notebook carries its stamp."""
    from medprep_helpers import __version__
    from medprep_helpers.cli import course_stamp, read_stamp
    from medprep_helpers.data import lessons, notebooks_dir

    try:
        found = {lesson: read_stamp(notebooks_dir() / lesson / f"{lesson}.ipynb") for lesson in lessons()}
    except Exception as error:  # noqa: BLE001 - missing or unreadable notebooks: report, do not crash
        return Result("course", False, f"{__version__}: {type(error).__name__}: {error}", install_hint())
    wrong = sorted(lesson for lesson, stamp in found.items() if stamp != course_stamp(lesson))
    if not found or wrong:
        detail = f"{__version__}, but " + (f"the notebooks of {', '.join(wrong)} carry another stamp" if wrong
                                           else f"no lesson notebooks in {notebooks_dir()}")
        return Result("course", False, detail, install_hint())
    return Result("course", True, f"medprep {__version__}, {len(found)} lessons stamped {__version__}")


CHECKS: list[Callable[[], Result | list[Result]]] = [
    check_python,
    check_packages,
    check_data,
    check_dicom,
    check_figure,
    check_kernel,
    check_course_version,
]


def run_checks() -> list[Result]:
    """Run every check and return the results (nothing printed)."""
    results: list[Result] = []
    for check in CHECKS:
        outcome = check()
        results.extend(outcome if isinstance(outcome, list) else [outcome])
    return results


def main() -> int:
    results = run_checks()
    for result in results:
        print(result.line())
    failed = sum(not r.ok for r in results)
    print()
    print("All checks OK: you are ready for the course." if not failed else f"{failed} check(s) FAILED: see the hints above.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
