"""pyproject.toml and environment.yml must list the same packages and bounds."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENT = re.compile(r"^\s*-\s+([A-Za-z0-9_.\-]+)\s*((?:[<>=!~]=?|==)\s*[^\s#]+)?\s*(?:#.*)?$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _parse(entries: list[str]) -> dict[str, str]:
    """``{normalised name: bounds}``, leaving out the project's own extras (``medprep[instructor]``)."""
    found = {}
    for entry in entries:
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", entry)
        if _normalise(match.group(1)) != _project()["name"]:
            found[_normalise(match.group(1))] = match.group(3).replace(" ", "")
    return found


def pyproject_requirements() -> dict[str, str]:
    """Every package of the core dependencies and of every extra (environment.yml installs them all)."""
    project = _project()
    return _parse(project["dependencies"] + sum(project["optional-dependencies"].values(), []))


def environment_requirements() -> dict[str, str]:
    found = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = REQUIREMENT.match(line)
        if match and match.group(1) not in {"pip", "python", "conda-forge"} and not line.strip().startswith("- -e"):
            found[_normalise(match.group(1))] = (match.group(2) or "").replace(" ", "")
    return found


def test_same_packages_and_bounds():
    pyproject, environment = pyproject_requirements(), environment_requirements()
    missing = sorted(set(pyproject) - set(environment))
    extra = sorted(set(environment) - set(pyproject))
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"
    assert not extra, f"in environment.yml but not in pyproject.toml: {extra}"
    differ = {n: (pyproject[n], environment[n]) for n in pyproject if pyproject[n] != environment[n]}
    assert not differ, f"version bounds differ (pyproject, environment.yml): {differ}"


def test_environment_installs_the_course_itself():
    text = (ROOT / "environment.yml").read_text()
    assert "- -e ." in text, "environment.yml must pip-install the course package (- -e .)"
    assert "python>=3.11" in text


def test_learner_install_leaves_out_the_instructor_and_test_tools():
    """The learner wheel installs the core dependencies only: no grading or test tooling in them."""
    project = _project()
    core = _parse(project["dependencies"])
    tooling = _parse(project["optional-dependencies"]["instructor"]) | _parse(project["optional-dependencies"]["dev"])
    assert "nbgrader" in tooling and "pytest" in tooling
    assert not set(core) & set(tooling), f"instructor/test tools among the learner's dependencies: {set(core) & set(tooling)}"
    assert "medprep[instructor]" in project["optional-dependencies"]["dev"], "dev must include the instructor extra"
