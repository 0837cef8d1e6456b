"""The course secret from which hidden test inputs are drawn at grading time.

A learner who has read every published hidden test still cannot hard-code answers, because
the inputs depend on a secret only the instructor holds: ``MEDPREP_GRADING_SECRET`` in the
grader's environment, or else the file ``~/.config/medprep/grading-secret`` (created with a
random value and mode 0600 the first time grading runs). Neither is inside the course folder
nor visible in the sandbox that runs submissions. Keep the file for the whole term (regrading
then gives the same grades) and use a new one for a new class.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import numpy as np

__all__ = ["SECRET_ENV", "secret_file", "course_secret", "rng_for"]

SECRET_ENV = "MEDPREP_GRADING_SECRET"
MIN_LENGTH = 16


def secret_file() -> Path:
    """Where the secret is kept when the environment variable is not set."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "medprep" / "grading-secret"


def course_secret(create: bool = True) -> str:
    """The course secret: the environment variable, else the file (made on first use when ``create``).

    Raises
    ------
    ValueError
        When the secret is shorter than 16 characters (too easy to guess).
    FileNotFoundError
        When there is no secret and ``create`` is False.
    """
    value = os.environ.get(SECRET_ENV)
    if value is None:
        path = secret_file()
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"no grading secret: set {SECRET_ENV} or create {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        value = path.read_text().strip()
    if len(value) < MIN_LENGTH:
        raise ValueError(f"{SECRET_ENV} (or {secret_file()}) must hold at least {MIN_LENGTH} characters")
    return value


def rng_for(exercise: str, secret: str | None = None) -> np.random.Generator:
    """A random generator for one exercise's hidden cases, seeded from the secret and the exercise name.

    Examples
    --------
    >>> a = rng_for("label_rate_by", "x" * 16).integers(1000)
    >>> b = rng_for("label_rate_by", "x" * 16).integers(1000)
    >>> bool(a == b)
    True
    """
    secret = course_secret() if secret is None else secret
    digest = hashlib.sha256(f"{secret}\0{exercise}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))
