"""Helpers for the medprep course: preparing medical images for machine learning.

One module per concern:

- :mod:`medprep_helpers.data`: where the course data lives, loading it, checksums
- :mod:`medprep_helpers.phantom`: the synthetic chest-radiograph and cohort generator
- :mod:`medprep_helpers.display`: figure grids for radiographs
- :mod:`medprep_helpers.augment`: augmentations that move images and masks together
- :mod:`medprep_helpers.radiomics`: IBSI-compliant intensity, histogram and GLCM features
- :mod:`medprep_helpers.harmonize`: ComBat harmonization of derived features
- :mod:`medprep_helpers.checks`: feedback for the exercises' test cells
- :mod:`medprep_helpers.check`: the environment check (``python -m medprep_helpers.check``)
"""

__version__ = "0.1.0"
