"""pyproject.toml and environment.yml must list the same packages and bounds."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENT = re.compile(r"^\s*-\s+([A-Za-z0-9_.\-]+)\s*((?:[<>=!~]=?|==)\s*[^\s#]+)?\s*(?:#.*)?$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    entries = project["dependencies"] + project["optional-dependencies"]["dev"]
    found = {}
    for entry in entries:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", entry)
        found[_normalise(match.group(1))] = match.group(2).replace(" ", "")
    return found


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
