"""Where the course data lives, how to load it, and how to check it.

The course uses two kinds of data, both available offline:

- **Real DICOM files that ship inside installed packages**: the PA chest
  radiograph ``RG1_UNCR.dcm`` from the ``pydicom-data`` wheel, and the small
  ``CT_small.dcm`` and ``MR_small.dcm`` files inside pydicom itself.
- **Synthetic data made by our own generator** (:mod:`medprep_helpers.phantom`),
  committed under ``data/`` and verified by ``data/MANIFEST.sha256``.

Notebooks find everything through this module, never through relative
paths, so they run unchanged from ``notebooks/``, ``solutions/``,
nbgrader's ``submitted/`` and ``autograded/`` folders, and a learner's
``medprep start`` folder.

Where the course files come from (:func:`data_dir`, :func:`notebooks_dir`):
the repository's ``data/`` and ``notebooks/`` in a clone (the editable
install of instructors and authors), else the copies that the learner
wheel carries inside this package (``medprep_helpers/course/``), found
through :mod:`importlib.resources`.

Regenerate the committed data (the only command that writes into ``data/``)::

    python -m medprep_helpers.data --generate
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "EXAMPLE_NAMES",
    "MASK_BITS",
    "checkout_root",
    "data_dir",
    "notebooks_dir",
    "lessons",
    "verify_manifest",
    "write_manifest",
    "read_png",
    "read_image",
    "decode_masks",
    "load_example",
    "load_cohort",
    "load_cohort_image",
    "load_cohort_masks",
    "dicom_path",
    "load_dicom",
    "dicom_to_display",
    "load_real_radiograph",
    "load_ultrasound",
]

#: The lesson's three example images, in the order the lesson shows them.
EXAMPLE_NAMES = ("normal_rotated", "cardiomegaly", "normal_2")

#: Bits of the uint8 mask PNGs: one PNG holds every mask of an image.
MASK_BITS = {"thorax": 1, "lungs": 2, "heart": 4, "text": 8}

MANIFEST_NAME = "MANIFEST.sha256"

# The DICOM files the course uses, and the installed package that ships each.
_DICOM_FILES = {
    "RG1_UNCR.dcm": "pydicom-data (PA chest radiograph, CR)",
    "CT_small.dcm": "pydicom (small CT slice)",
    "MR_small.dcm": "pydicom (small MR slice)",
    "US1_UNCR.dcm": "pydicom-data (RGB ultrasound with text burned into the pixels)",
}


def checkout_root() -> Path | None:
    """The repository folder when this package runs from a clone (editable install), else ``None``.

    A clone has ``pyproject.toml`` beside the package; an installed wheel
    sits in ``site-packages``, which has none.

    Examples
    --------
    >>> root = checkout_root()
    >>> root is None or (root / "pyproject.toml").is_file()
    True
    """
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def _course_folder(name: str) -> Path:
    """``data`` or ``notebooks``: the clone's top-level folder, else the copy inside the installed package."""
    root = checkout_root()
    if root is not None:
        return root / name
    packaged = resources.files(__package__).joinpath("course", name)
    if not isinstance(packaged, Path):  # e.g. a zipped install: the helpers need real files
        raise FileNotFoundError(
            f"the course's {name} is inside {packaged}, not in a folder: install the medprep wheel with pip."
        )
    return packaged


def data_dir() -> Path:
    """The folder that holds the course data.

    ``MEDPREP_DATA`` overrides it (instructors grade every notebook on a
    fresh copy this way); otherwise it is the repository's ``data/`` in a
    clone, or the data installed with the learner package.

    Examples
    --------
    >>> (data_dir() / "MANIFEST.sha256").exists()
    True
    """
    override = os.environ.get("MEDPREP_DATA")
    folder = Path(override) if override else _course_folder("data")
    if not folder.is_dir():
        where = "MEDPREP_DATA names" if override else "the course package should hold"
        raise FileNotFoundError(
            f"course data folder not found: {folder} ({where} it). Reinstall the course package "
            "(instructors: `pip install -e .` in the repository), or set MEDPREP_DATA to the data folder."
        )
    return folder


def notebooks_dir() -> Path:
    """The folder of the student notebooks, ``<lesson>/<lesson>.ipynb``.

    The repository's ``notebooks/`` in a clone, else the copies installed
    with the learner package (what ``medprep start`` copies for a learner).

    Examples
    --------
    >>> (notebooks_dir() / "01_know_your_data" / "01_know_your_data.ipynb").is_file()
    True
    """
    folder = _course_folder("notebooks")
    if not folder.is_dir():
        raise FileNotFoundError(f"student notebooks not found: {folder}. Reinstall the course package.")
    return folder


def lessons() -> list[str]:
    """The lessons, in course order: each has ``<lesson>/<lesson>.ipynb`` in :func:`notebooks_dir`.

    Examples
    --------
    >>> lessons()[0]
    '01_know_your_data'
    """
    return sorted(p.parent.name for p in notebooks_dir().glob("*/*.ipynb") if p.stem == p.parent.name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _data_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME and not p.name.startswith(".")
    )


def write_manifest(folder: Path | None = None) -> Path:
    """Write ``MANIFEST.sha256`` (``sha256sum`` format) for every data file."""
    folder = Path(folder) if folder is not None else data_dir()
    lines = [f"{_sha256(p)}  {p.relative_to(folder).as_posix()}" for p in _data_files(folder)]
    manifest = folder / MANIFEST_NAME
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def verify_manifest(folder: Path | None = None) -> list[str]:
    """Compare the data files with their checksums.

    Returns
    -------
    list of str
        One line per problem (a changed, missing or unlisted file, named);
        empty when every checksum holds.

    Examples
    --------
    >>> verify_manifest()
    []
    """
    folder = Path(folder) if folder is not None else data_dir()
    manifest = folder / MANIFEST_NAME
    if not manifest.exists():
        return [f"{manifest}: manifest missing; run `python -m medprep_helpers.data --generate`"]
    expected = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            expected[name.strip()] = digest
    problems = []
    for name, digest in expected.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif _sha256(path) != digest:
            problems.append(f"{name}: checksum mismatch (the file was changed)")
    for path in _data_files(folder):
        name = path.relative_to(folder).as_posix()
        if name not in expected:
            problems.append(f"{name}: not in the manifest (unexpected file)")
    return problems


def read_png(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG exactly as stored (8 or 16 bit, grey, RGB or RGBA).

    Pillow is used instead of ``skimage.io.imread`` because it keeps 16-bit
    greyscale PNGs as ``uint16`` without any conversion.
    """
    from PIL import Image

    with Image.open(path) as img:
        array = np.array(img)
    if array.dtype == np.int32:  # Pillow's "I" mode for 16-bit greyscale
        array = array.astype(np.uint16)
    return array


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file of any lossless or lossy format back into an array.

    ``.npy`` files are read with numpy, everything else (PNG, TIFF, JPEG...)
    with imageio, which keeps 16-bit data as ``uint16``. Used to check that
    a "lossless" save really gives back the same array.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path does not exist: {path}")
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    import imageio.v3 as iio

    return np.asarray(iio.imread(path))


def decode_masks(packed: np.ndarray) -> dict[str, np.ndarray]:
    """Unpack a bit-packed mask PNG into boolean masks.

    Parameters
    ----------
    packed : ndarray of uint8
        Bit 1 = thorax, 2 = lungs, 4 = heart, 8 = burned-in text and markers.

    Examples
    --------
    >>> masks = decode_masks(np.array([[0, 1], [3, 5]], dtype=np.uint8))
    >>> masks["thorax"].tolist(), masks["heart"].tolist()
    ([[False, True], [True, True]], [[False, False], [False, True]])
    """
    packed = np.asarray(packed)
    if packed.ndim != 2 or packed.dtype != np.uint8:
        raise ValueError(f"packed must be a 2-D uint8 array, got shape {packed.shape} and dtype {packed.dtype}")
    return {name: (packed & bit) > 0 for name, bit in MASK_BITS.items()}


def load_example(name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Load one of the lesson's three example radiographs and its masks.

    The image is returned exactly as stored: ``normal_rotated`` is 8-bit
    grey, ``cardiomegaly`` is RGBA (as screenshot exports often are) and
    ``normal_2`` is 16-bit grey. Part of the lesson is handling that.

    Examples
    --------
    >>> image, masks = load_example("cardiomegaly")
    >>> image.ndim, sorted(masks)
    (3, ['heart', 'lungs', 'text', 'thorax'])
    """
    if name not in EXAMPLE_NAMES:
        raise ValueError(f"name must be one of {EXAMPLE_NAMES}, got {name!r}")
    folder = data_dir() / "examples"
    return read_png(folder / f"{name}.png"), decode_masks(read_png(folder / f"{name}_masks.png"))


@lru_cache(maxsize=1)
def _cohort_metadata() -> pd.DataFrame:
    return pd.read_csv(data_dir() / "cohort" / "metadata.csv")


def load_cohort() -> pd.DataFrame:
    """The synthetic cohort's metadata, one row per subject (a fresh copy).

    Examples
    --------
    >>> meta = load_cohort()
    >>> {"subject_id", "site", "age", "sex", "cardiomegaly"} <= set(meta.columns)
    True
    """
    return _cohort_metadata().copy()


@lru_cache(maxsize=1)
def _files_by_subject() -> dict[str, tuple[str, str]]:
    meta = _cohort_metadata()
    return dict(zip(meta["subject_id"], zip(meta["image_file"], meta["mask_file"])))


def _subject_files(subject_id: str) -> tuple[str, str]:
    files = _files_by_subject()
    if subject_id not in files:
        raise ValueError(f"subject_id {subject_id!r} is not in the cohort (e.g. {next(iter(files))!r})")
    return files[subject_id]


def load_cohort_image(subject_id: str) -> np.ndarray:
    """Load one cohort radiograph (2-D uint8) by its subject id."""
    return read_png(data_dir() / "cohort" / _subject_files(subject_id)[0])


def load_cohort_masks(subject_id: str) -> dict[str, np.ndarray]:
    """Load one cohort subject's masks: ``thorax``, ``lungs``, ``heart``, ``text``."""
    return decode_masks(read_png(data_dir() / "cohort" / _subject_files(subject_id)[1]))


def dicom_path(name: str = "RG1_UNCR.dcm") -> Path:
    """Path of a DICOM file shipped inside an installed package.

    ``pydicom.data.get_testdata_file`` looks in pydicom's own test files
    and in the ``pydicom-data`` package; it would try to download a file it
    cannot find, so we only ask for the files known to be installed.
    """
    if name not in _DICOM_FILES:
        raise ValueError(f"name must be one of {sorted(_DICOM_FILES)}, got {name!r}")
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"{name} not found: it ships in {_DICOM_FILES[name]}; reinstall the course.")
    return Path(path)


def dicom_to_display(dataset, pixels: np.ndarray | None = None) -> np.ndarray:
    """Turn a DICOM dataset's pixels into a display-ready float image in [0, 1].

    Applies, in order, the modality LUT (rescale slope and intercept), the
    VOI LUT or window (WindowCenter/WindowWidth), and for ``MONOCHROME1``
    the inversion that makes low values bright, so that lungs look dark on a
    radiograph with ``cmap="gray"``. ``pixels`` replaces the dataset's own
    pixel array (e.g. a downsampled copy); the header still drives the LUTs.
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    pixels = dataset.pixel_array if pixels is None else pixels
    values = apply_modality_lut(pixels, dataset)
    if "WindowCenter" in dataset or "VOILUTSequence" in dataset:
        values = apply_voi_lut(values, dataset)
    values = np.asarray(values, dtype=np.float64)
    low, high = values.min(), values.max()
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    if dataset.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        scaled = 1.0 - scaled
    return scaled


def load_dicom(name: str = "RG1_UNCR.dcm"):
    """Read one of the shipped DICOM files with pydicom; returns the dataset."""
    import pydicom

    return pydicom.dcmread(dicom_path(name))


def load_real_radiograph(max_size: int | None = None) -> tuple[np.ndarray, object]:
    """The real PA chest radiograph, ready to display, and its DICOM dataset.

    Parameters
    ----------
    max_size : int, optional
        Downscale by an integer factor (block means, so no aliasing) until
        the longer side is at most this many pixels; handy for quick
        figures. ``None`` keeps 1955 x 1841.

    Returns
    -------
    image : ndarray of float64 in [0, 1]
        Windowed and inverted (the file is MONOCHROME1): lungs are dark.
    dataset : pydicom.Dataset
        The full header, for the metadata part of the lessons.

    Examples
    --------
    >>> image, ds = load_real_radiograph(max_size=256)
    >>> ds.PhotometricInterpretation, max(image.shape) <= 256
    ('MONOCHROME1', True)
    """
    if max_size is not None and (not isinstance(max_size, (int, np.integer)) or max_size < 8):
        raise ValueError(f"max_size must be an integer >= 8 or None, got {max_size!r}")
    dataset = load_dicom("RG1_UNCR.dcm")
    pixels = dataset.pixel_array
    if max_size is not None and max(pixels.shape) > max_size:
        # Block means (what skimage.transform.downscale_local_mean computes, in
        # one numpy reshape) are ~10x faster than an anti-aliased resize, and
        # the window and inversion applied afterwards are (piecewise) linear.
        factor = -(-max(pixels.shape) // max_size)
        rows, cols = (n // factor for n in pixels.shape)  # whole blocks only: no zero padding at the edge
        blocks = pixels[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
        pixels = blocks.mean(axis=(1, 3))
    return dicom_to_display(dataset, pixels), dataset


def load_ultrasound() -> tuple[np.ndarray, object]:
    """A real ultrasound image with text burned into its pixels, and its DICOM dataset.

    ``US1_UNCR.dcm`` from ``pydicom-data``: a 480 x 640 colour (RGB) power-Doppler image of a
    lymph node, with the institution's name, the time and the scanner's settings drawn into
    the pixels by the machine, as ultrasound screens do.

    Returns
    -------
    image : ndarray of uint8, shape (480, 640, 3)
        The pixels as stored (RGB; ready for ``imshow``).
    dataset : pydicom.Dataset
        The header (it names the same institution as the pixels).

    Examples
    --------
    >>> image, ds = load_ultrasound()
    >>> image.shape, image.dtype.name, ds.Modality
    ((480, 640, 3), 'uint8', 'US')
    """
    dataset = load_dicom("US1_UNCR.dcm")
    return np.asarray(dataset.pixel_array), dataset


def _generate() -> None:
    from medprep_helpers.phantom import write_course_data

    if checkout_root() is None:
        raise SystemExit("--generate writes the repository's data/: run it in a clone of the course repository.")
    folder = checkout_root() / "data"
    folder.mkdir(exist_ok=True)
    written = write_course_data(folder)
    manifest = write_manifest(folder)
    size = sum(p.stat().st_size for p in _data_files(folder))
    print(f"wrote {len(written)} files ({size / 1e6:.1f} MB) and {manifest}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m medprep_helpers.data",
        description="Regenerate or verify the course data in data/.",
    )
    parser.add_argument("--generate", action="store_true", help="regenerate data/ and its manifest")
    parser.add_argument("--verify", action="store_true", help="verify data/ against its manifest")
    args = parser.parse_args(argv)
    if args.generate:
        _generate()
    if args.verify or not args.generate:
        problems = verify_manifest()
        for line in problems:
            print(f"FAIL {line}")
        print("data OK" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
