"""``python -m medprep_helpers`` runs the ``medprep`` command (for where the script is not on the PATH)."""

import sys

from medprep_helpers.cli import main

sys.exit(main())
