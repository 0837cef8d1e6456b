"""Visible checks of lesson 1, Know your data (the cases each task states)."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import exercise

LESSON = "01_know_your_data"


def judge_label_rates(check, found, index, rates, group_sizes=None, shares=None, where="toy table"):
    """The checks of a label_rate_by result; shared by the visible and the hidden cases.

    ``rates`` are the expected rates in index order; ``group_sizes`` (group size / n) and
    ``shares`` (each group's share of the positives) are the two typical wrong answers.
    """
    check.type_is(found, pd.Series, hint="Select the label column before aggregating, e.g. groupby(column)[label].mean().")
    check.that(set(found.index) >= set(index), f"every group appears ({where})", list(index), list(found.index),
               "A group without positive cases must still appear with rate 0. Did you filter the positive rows first?")
    check.that(list(found.index) == list(index), f"index sorted ascending ({where})", list(index), list(found.index),
               "Sort the result by its index (sort_index()), not by the rates.")
    try:
        values = found.to_numpy(dtype=float)
    except (TypeError, ValueError):
        check.fail(f"numeric rates ({where})", "numbers between 0 and 1", found.tolist(),
                   "Average a boolean or 0/1 label column.")
    check.that(np.all((values >= 0) & (values <= 1)), f"values are fractions ({where})", "values in [0, 1]", values,
               "Did you count positives instead of dividing by the number of rows in each group?")
    if shares is not None and not np.allclose(shares, rates) and np.allclose(values, shares):
        check.fail(f"rate within each group ({where})", "positives / rows, per group", values,
                   "You divided by the total number of positives: that is each group's share of the positive cases. "
                   "The contract asks for the rate inside each group (positives / rows of that group).")
    if group_sizes is not None and not np.allclose(group_sizes, rates) and np.allclose(values, group_sizes):
        check.fail(f"rate within each group ({where})", "positives / rows, per group", values,
                   "These are the group sizes as fractions of all rows (value_counts(normalize=True)), not label rates.")
    negatives = 1 - np.asarray(rates, dtype=float)
    if not np.allclose(negatives, rates) and np.allclose(values, negatives):
        check.fail(f"rate within each group ({where})", "positives / rows, per group", values,
                   "You computed the rate of *negative* labels.")
    check.close(values, rates, f"rate of positives within each group ({where})",
                hint="Use the `label` argument, not a hard-coded column name; 0/1 labels are positive when 1.")


@exercise("label_rate_by", LESSON)
def label_rate_by(check):
    toy = pd.DataFrame({"site": ["b", "a", "b", "a", "c", "b"],
                        "cardiomegaly": [True, False, False, False, True, True]})
    found = check.call(toy, "site")
    judge_label_rates(check, found, ["a", "b", "c"], [0, 2 / 3, 1],
                      group_sizes=[2 / 6, 3 / 6, 1 / 6], shares=[0, 2 / 3, 1 / 3])


# --------------------------------------------------------------------------- cramers_v

def judge_cramers_v(check, found, expected, mistakes=(), where="toy table"):
    """The checks of a cramers_v result; shared by the visible and the hidden cases.

    ``mistakes`` holds ``(value, concept, hint)`` for each typical wrong variant (the continuity
    correction, the bias correction, V squared, a wrong denominator) computed for the same table:
    a result equal to one of them (and not to ``expected``) fails with that variant's message.
    """
    check.that(type(found) in (float, int), f"a single number ({where})", "a float", type(found).__name__,
               "Return the number itself, e.g. float(v), not a table, array or tuple.")
    found = float(found)
    check.that(-1e-9 <= found <= 1 + 1e-9, f"V lies between 0 and 1 ({where})", "0 <= V <= 1", found,
               "Divide chi-squared by n * (min(rows, columns) - 1), then take the square root.")
    for value, concept, hint in mistakes:
        if not np.isclose(value, expected, rtol=1e-6, atol=1e-9) and np.isclose(found, value, rtol=1e-6, atol=1e-9):
            check.fail(f"{concept} ({where})", expected, found, hint)
    check.close(found, expected, f"Cramér's V ({where})", rtol=1e-6, atol=1e-9,
                hint="V = sqrt(chi2 / (n * (min(r, c) - 1))) with the plain chi-squared of the contingency table "
                     "of `column` against the `label` argument; n is the number of rows of `meta`.")


YATES = ("no continuity correction",
         "chi2_contingency applies Yates' continuity correction to 2 x 2 tables by default: pass correction=False.")
BIAS = ("no bias correction", "You applied Bergsma's bias correction; the task asks for the plain Cramér's V.")
SQUARED = ("square root", "You returned V squared (phi squared): take the square root.")
DENOMINATOR = ("denominator", "Divide by n * (min(r, c) - 1), with r and c the numbers of rows and columns of the "
                              "contingency table, not by the number of groups - 1 or by min(r, c).")


@exercise("cramers_v", LESSON)
def cramers_v(check):
    # 2 x 2: clinic 8 normal / 2 cardiomegaly, hospital 3 normal / 7 cardiomegaly (n = 20)
    toy = pd.DataFrame({"site": ["clinic"] * 10 + ["hospital"] * 10,
                        "cardiomegaly": [False] * 8 + [True] * 2 + [False] * 3 + [True] * 7})
    found = check.call(toy, "site")
    # expected values precomputed: plain V; V with Yates' correction, squared, bias-corrected (Bergsma),
    # divided by min(r, c) instead of min(r, c) - 1
    judge_cramers_v(check, found, 0.502518907629606, [
        (0.40201512610368484, *YATES), (0.25252525252525254, *SQUARED), (0.45934614145058883, *BIAS),
        (0.35533452725935076, *DENOMINATOR)],
        where="2 x 2 toy table, clinic vs hospital")
    # 3 sites x 2 labels with 0/1 labels: a 3 / 1, b 1 / 3, c 1 / 3 (negatives / positives); min(r, c) - 1 = 1
    toy3 = pd.DataFrame({"site": list("aaaabbbbcccc"), "cardiomegaly": [0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0]})
    found = check.call(toy3, "site")
    judge_cramers_v(check, found, 0.4780914437337574, [(0.3380617018914066, *DENOMINATOR)],
                    where="3 x 2 toy table, 0/1 labels")


@exercise("most_associated", LESSON, kind="value")
def most_associated(check):
    options = ["site", "sex", "view", "position"]
    answer = check.value()
    check.that(answer in options, "one of the options", options, answer,
               'Assign the column name as a string, e.g. most_associated = "sex".')


# --------------------------------------------------------------------------- save_lossless

_MAX_FILE_BYTES = 16_000_000  # the checks' images are small; a bigger file is not their image
_PNG, _JPEG, _TIFF = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", (b"II*\x00", b"MM\x00*")


def _read_written(check, path, image, where):
    """Read the file a learner's function wrote at ``path``, without trusting it.

    Only a regular file (no link) of reasonable size, whose first bytes say PNG or TIFF, is
    decoded, and only after Pillow has read its header and the size matches the image's.
    """
    from PIL import Image

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        check.fail(f"a file at the given path ({where})", str(path), "no file there",
                   "Write to the `path` argument itself, not to a file name or folder of your own. "
                   "(np.save adds .npy to the name; PNG or TIFF writers keep it.)")
    # neither the file nor the folder the checks made for it may be a link (the folders above it may,
    # e.g. /tmp -> /private/tmp on macOS)
    plain = stat.S_ISREG(info.st_mode) and stat.S_ISDIR(os.lstat(os.path.dirname(os.path.abspath(path))).st_mode)
    check.that(plain, f"a regular file at the given path ({where})", "a file", "a link or folder",
               "Write the image file itself at `path`.")
    check.that(info.st_size <= _MAX_FILE_BYTES, f"a file of reasonable size ({where})",
               f"at most {_MAX_FILE_BYTES:,} bytes", f"{info.st_size:,} bytes", "Write only the image.")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(_JPEG):
        check.fail(f"a lossless format ({where})", "PNG or TIFF", "JPEG",
                   "JPEG is lossy: it changes pixel values to save space, and it has no 16-bit grey. Use PNG or TIFF.")
    check.that(head.startswith(_PNG) or head[:4] in _TIFF, f"a PNG or TIFF file ({where})", "PNG or TIFF",
               "another kind of file",
               "Write an image file (skimage.io.imsave, imageio.v3.imwrite, PIL.Image.fromarray(image).save).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                check.that(picture.size == (image.shape[1], image.shape[0]), f"image size kept ({where})",
                           f"{image.shape[1]} x {image.shape[0]} pixels (width x height)",
                           f"{picture.size[0]} x {picture.size[1]}", "Save the array itself, without resizing.")
                back = np.array(picture)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        check.fail(f"a readable image file ({where})", "a PNG or TIFF that Pillow can read",
                   f"{type(error).__name__}: {str(error)[:200]}", "Write the file with an image library.")
    if back.dtype == np.int32 and image.dtype == np.uint16 and back.min() >= 0 and back.max() < 65536:
        back = back.astype(np.uint16)  # Pillow's "I" mode holds 16-bit grey in int32
    return back


def judge_saved(check, found, image, path, where):
    """The checks of one save_lossless call: the file at exactly ``path`` reads back as ``image``,
    and the function returned ``path`` as a Path."""
    if isinstance(found, (str, Path)) and Path(found).suffix.lower() in (".jpg", ".jpeg") and Path(found) != path:
        check.fail(f"a lossless format ({where})", f"the file written at {path}", f"a JPEG file, {found}",
                   "JPEG is lossy: it changes pixel values to save space, and it has no 16-bit grey. Keep the path "
                   "you are given and write PNG or TIFF there.")
    back = _read_written(check, path, image, where)
    if back.ndim == 3 and back.shape[2] == 4:
        check.fail(f"still one channel ({where})", "a 2-D array", f"shape {back.shape} (RGBA)",
                   "plt.imsave writes a colour-mapped RGBA picture, not your values: use skimage.io.imsave, "
                   "imageio.v3.imwrite or PIL.")
    check.that(back.ndim == 2, f"still one channel ({where})", "a 2-D array", f"shape {back.shape}",
               "Save the grey array itself, not a colour (RGB) picture of it.")
    if image.dtype == np.uint16 and back.dtype == np.uint8:
        check.fail(f"bit depth kept ({where})", "uint16", "uint8",
                   "The file holds 8-bit values: do not convert to 8 bits (img_as_ubyte, astype(np.uint8), "
                   "Pillow's 'L' mode); a 16-bit PNG or TIFF keeps all values.")
    check.that(back.dtype == image.dtype, f"bit depth kept ({where})", str(image.dtype), str(back.dtype),
               "Save the array with its own dtype, without converting it.")
    differ = float(np.mean(back != image))
    check.that(differ == 0, f"exact values ({where})", "identical pixels", f"{differ:.1%} of pixels differ",
               "Rescaling or a lossy format changes values: save the array itself, as it is, in PNG or TIFF.")
    check.that(found is not None, f"returns the path ({where})", "a pathlib.Path", found,
               "End your function with `return path` (the path of the file you wrote, as a Path).")
    check.type_is(found, Path, concept=f"type of the returned path ({where})",
                  hint="Return a pathlib.Path, also when `path` was given as a str: return Path(path).")
    # realpath on both sides: Path(path).resolve() is a fine answer where /tmp is a link (macOS)
    check.that(os.path.realpath(found) == os.path.realpath(path), f"returns the given path ({where})", str(path),
               str(found), "Return the path you were given (and wrote to), not another file.")


@exercise("save_lossless", LESSON)
def save_lossless(check):
    # a 64 x 80 uint16 ramp that uses the whole 16-bit range (0 .. 65535)
    ramp = (np.arange(64 * 80, dtype=np.uint32).reshape(64, 80) * 13 % 65536).astype(np.uint16)
    path = check.scratch_path("ramp16.png")
    found = check.call(ramp, path)
    judge_saved(check, found, ramp, path, where="64 x 80 uint16 ramp, Path ending in .png")


# --------------------------------------------------------------------------- remove_burned_in_text

def judge_text_removal(check, image, found, text, thorax, near, where, tolerance=0.0):
    """The checks of one remove_burned_in_text result; shared by the visible and the hidden cases.

    ``text`` and ``thorax`` are the ground-truth masks; pixels outside ``near`` (the text grown by
    a margin) may change in at most a ``tolerance`` fraction.
    """
    check.type_is(found, np.ndarray, concept=f"type of the result ({where})",
                  hint="Return a numpy array: work on image.copy().")
    check.that(found.shape == image.shape and found.dtype == image.dtype, f"same shape and dtype ({where})",
               f"{image.shape} {image.dtype}", f"{found.shape} {found.dtype}",
               "Return an array like the input: work on image.copy() and do not convert it to float.")
    from scipy import ndimage

    top = int(image.max())
    left = int(np.count_nonzero(found[text]))
    if left == int(text.sum()) and image.dtype == np.uint16:
        check.fail(f"all text pixels set to 0 ({where})", "0 text pixels left", "no text pixel was set to 0",
                   f"On this 16-bit image the text is at {top}, the image's maximum: neither 255 nor 65535 (the "
                   "dtype's maximum; 12-bit images stored as uint16 peak at 4095). Threshold at image.max().")
    check.that(left == 0, f"all text pixels set to 0 ({where})", "0 text pixels left",
               f"{left} of {int(text.sum())} text pixels are not 0",
               "Threshold at the image's own maximum (image.max()), then grow the mask by a pixel or two "
               "(binary_dilation) to catch darker edges.")
    changed = found != image
    in_thorax = changed & thorax
    hint = ("Only the text may change: a threshold below the maximum catches bright bone, and a contrast stretch "
            "or a conversion changes every pixel.")
    if image.dtype == np.uint16 and in_thorax.any() and np.all(image[in_thorax] >= 255) and (
            in_thorax.sum() > 0.5 * np.sum(thorax & (image >= 255))):
        hint = (f"You compared with 255: on a 16-bit image most of the anatomy is brighter than 255 (this one goes "
                f"up to {top}). Threshold at image.max().")
    elif in_thorax.any() and np.all(ndimage.distance_transform_cdt(~text, metric="chessboard")[in_thorax] <= 10):
        hint = ("Your mask grows into the thorax next to the text: grow it by one or two pixels only (the text "
                "keeps a gap of a few pixels from the thorax).")
    check.that(not in_thorax.any(), f"anatomy untouched ({where})", "no pixel inside the thorax changed",
               f"{int(in_thorax.sum())} thorax pixels changed", hint)
    elsewhere = float(np.mean(changed[~near]))
    check.that(elsewhere <= tolerance, f"nothing else erased ({where})",
               f"at most {tolerance:.0%} of the pixels away from the text changed",
               f"{elsewhere:.1%} changed",
               "Set only the text and marker pixels (and a pixel or two around them) to 0, not whole corners or "
               "regions: everything else stays as it was.")


def _toy_text_image():
    """A 20 x 24 uint16 toy radiograph (12 bits, maximum 4095) with text, a marker and bright bone."""
    image = np.full((20, 24), 180, dtype=np.uint16)   # dark air, below 255
    thorax = np.zeros(image.shape, bool)
    thorax[7:, 6:22] = True
    image[thorax] = 1500                              # soft tissue and lung
    image[11, 6:22] = image[15, 6:22] = 4000          # two ribs, just below the text's 4095
    text = np.zeros(image.shape, bool)
    text[1, 1:7] = text[3, 1:7] = True                # two strokes of "text"
    text[2, [1, 3, 5]] = True
    text[1:4, 20] = text[3, 20:23] = True             # an "L" marker
    image[text] = 4095
    return image, text, thorax


@exercise("remove_burned_in_text", LESSON)
def remove_burned_in_text(check):
    from scipy import ndimage

    from .. import data

    image, text, thorax = _toy_text_image()
    near = ndimage.binary_dilation(text, np.ones((3, 3), bool), iterations=3)
    judge_text_removal(check, image, check.call(image), text, thorax, near,
                       where="20 x 24 uint16 toy: text at 4095, ribs at 4000")
    image, masks = data.load_example("normal_rotated")
    near = ndimage.binary_dilation(masks["text"], np.ones((3, 3), bool), iterations=12)
    judge_text_removal(check, image, check.call(image), masks["text"], masks["thorax"], near,
                       where="8-bit example normal_rotated", tolerance=0.01)
