"""Instructor commands of the medprep course: ``python -m medprep_grader COMMAND ...``.

Run them in the course folder (where ``nbgrader_config.py`` is)::

    python -m medprep_grader autograde 02_augment     # every submission of a lesson, on all cores
    python -m medprep_grader autograde all --db-url postgresql+psycopg://grader@dbhost/medprep --scheduler tcp://head:8786

This file only dispatches: each command is a module with ``HELP``, ``add_arguments(parser)``
and ``run(args) -> exit code``; add one by adding it to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys

from medprep_grader import parallel

#: ``{command name: module}``; a module imports its heavy dependencies (Dask, nbgrader) only when it runs.
COMMANDS = {"autograde": parallel}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns its exit code.

    Examples
    --------
    >>> main(["autograde", "02_augment", "--course", "/nowhere"])
    2
    """
    parser = argparse.ArgumentParser(prog="python -m medprep_grader",
                                     description="Instructor commands of the medprep course; run them in the course folder.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_arguments(commands.add_parser(name, help=module.HELP, description=module.HELP))
    args = parser.parse_args(argv)
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
