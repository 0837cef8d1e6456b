"""A lazy stand-in for ``rfc3987_syntax`` in the processes the test session starts.

``jsonschema`` imports ``rfc3987_syntax.is_valid_syntax`` when it is imported (for the "iri"
formats), and ``rfc3987_syntax`` builds a Lark grammar when *it* is imported: 2-3 s of CPU in
every process that imports ``nbformat`` (nbgrader, nbval, nbconvert). ``NBFORMAT_VALIDATOR``
does not help: nbformat imports ``jsonschema`` whatever validator it uses. Nothing here
validates IRIs, so this stand-in loads the real package only when something does.
tests/conftest.py puts this folder first on ``PYTHONPATH`` for the session's subprocesses.
"""

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

_SHIMS = Path(__file__).resolve().parents[1]


def _real():
    """Import the installed package in place of this stand-in, and return it."""
    elsewhere = [p for p in sys.path if Path(p or ".").resolve() != _SHIMS]
    spec = importlib.machinery.PathFinder.find_spec(__name__, elsewhere)
    if spec is None:
        raise ImportError("rfc3987_syntax is not installed")
    module = importlib.util.module_from_spec(spec)
    sys.modules[__name__] = module  # its own submodules import through the package name
    spec.loader.exec_module(module)
    return module


def is_valid_syntax(term, value):
    return _real().is_valid_syntax(term, value)


def __getattr__(name):
    return getattr(_real(), name)
