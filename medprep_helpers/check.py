"""Environment check: run ``python -m medprep_helpers.check`` before a workshop.

It checks, one line each, that the installed packages satisfy the course's
requirements, that the course data matches its checksums, that the real
DICOM radiograph loads, and that a figure renders. Each line says OK or
FAIL, and a FAIL says what to do. The exit status is non-zero on any FAIL.

(The exercises' feedback layer is :mod:`medprep_helpers.checks`, plural.)
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Callable

__all__ = ["Result", "run_checks", "main"]

INSTALL_HINT = 'reinstall the course: python -m pip install -e ".[dev]"'


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
        return [Result("medprep", False, "the course package is not installed", INSTALL_HINT)]
    results = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None:
            # Optional extras ([dev]) are checked only when installed.
            if not requirement.marker.evaluate({"extra": "dev"}):
                continue
            optional = True
        else:
            optional = False
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            if optional:
                continue
            results.append(Result(requirement.name, False, "not installed", INSTALL_HINT))
            continue
        ok = requirement.specifier.contains(installed, prereleases=True)
        wanted = str(requirement.specifier) or "any version"
        results.append(Result(requirement.name, ok, f"{installed} (needs {wanted})", INSTALL_HINT))
    return results


def check_data() -> Result:
    from medprep_helpers.data import data_dir, verify_manifest

    try:
        problems = verify_manifest()
    except FileNotFoundError as error:
        return Result("course data", False, str(error), INSTALL_HINT)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} in all)" if len(problems) > 5 else "")
        return Result(
            "course data",
            False,
            shown,
            "restore data/ with `git checkout -- data` (or regenerate: python -m medprep_helpers.data --generate)",
        )
    count = sum(1 for line in (data_dir() / "MANIFEST.sha256").read_text().splitlines() if line.strip())
    return Result("course data", True, f"{count} files match their SHA-256 checksums")


def check_dicom() -> Result:
    from medprep_helpers.data import load_real_radiograph

    try:
        image, dataset = load_real_radiograph(max_size=256)
    except Exception as error:  # noqa: BLE001 - report any failure as FAIL
        return Result("DICOM radiograph", False, f"{type(error).__name__}: {error}", INSTALL_HINT)
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
        return Result("figure", False, f"{type(error).__name__}: {error}", INSTALL_HINT)
    return Result("figure", True, f"matplotlib {matplotlib.__version__} renders a PNG ({buffer.tell()} bytes)")


def check_kernel() -> Result:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        names = KernelSpecManager().find_kernel_specs()
    except Exception as error:  # noqa: BLE001
        return Result("jupyter kernel", False, f"{type(error).__name__}: {error}", INSTALL_HINT)
    ok = "python3" in names
    return Result("jupyter kernel", ok, "python3 kernel found" if ok else "no python3 kernel", INSTALL_HINT)


CHECKS: list[Callable[[], Result | list[Result]]] = [
    check_python,
    check_packages,
    check_data,
    check_dicom,
    check_figure,
    check_kernel,
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
