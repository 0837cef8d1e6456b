"""Helpers for the medprep course: preparing medical images for machine learning.

One module per concern:

- :mod:`medprep_helpers.data`: where the course data lives, loading it, checksums
- :mod:`medprep_helpers.phantom`: the synthetic chest-radiograph and cohort generator
- :mod:`medprep_helpers.display`: figure grids for radiographs
- :mod:`medprep_helpers.augment`: augmentations that move images and masks together
- :mod:`medprep_helpers.radiomics`: IBSI-compliant intensity, histogram and GLCM features
- :mod:`medprep_helpers.harmonize`: ComBat harmonization of derived features
- :mod:`medprep_helpers.checks`: feedback for the exercises' test cells
- :mod:`medprep_helpers.check`: the environment check (``medprep check``, ``python -m medprep_helpers.check``)
- :mod:`medprep_helpers.cli`: the learner's ``medprep`` command (``start``, ``check``, ``submit``)
"""

from importlib import metadata as _metadata

# The single source of the version is pyproject.toml; the notebooks' stamp and `medprep check` read it here.
try:
    __version__ = _metadata.version("medprep")
except _metadata.PackageNotFoundError:  # imported from a folder without installing (no version known)
    __version__ = "unknown"
