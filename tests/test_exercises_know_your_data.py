"""Lesson 1's exercises: correct answers in several styles pass the visible and hidden checks for
several course secrets; each typical mistake fails with a message that names it; results of a
crafted type fail as such."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medprep_grader.secret import rng_for
from medprep_helpers.checks import CheckFailed, Checker, check
from exercise_testing import SECRETS, WireRunner, fails, grade  # noqa: F401 (shared by the exercise tests)


class AlwaysEqualFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class AlwaysEqualArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), bool)


class AlwaysEqualPath(type(Path())):
    def __eq__(self, other):
        return True

    __hash__ = Path.__hash__


class AlwaysEqualSeries(pd.Series):
    def equals(self, other):
        return True


# --------------------------------------------------------------------------- label_rate_by


def rates_groupby(meta, column, label="cardiomegaly"):
    return meta[label].astype(float).groupby(meta[column]).mean().sort_index()


def rates_crosstab(meta, column, label="cardiomegaly"):
    table = pd.crosstab(meta[column], meta[label].astype(bool))
    return (table.get(True, 0) / table.sum(axis=1)).astype(float).sort_index()


def rates_loop(meta, column, label="cardiomegaly"):
    out = {}
    for group in sorted(set(meta[column])):
        values = [bool(v) for g, v in zip(meta[column], meta[label]) if g == group]
        out[group] = sum(values) / len(values)
    return pd.Series(out, dtype=float)


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("answer", [rates_groupby, rates_crosstab, rates_loop])
def test_label_rate_by_correct_styles_pass(answer, secret):
    assert grade("label_rate_by", answer, secret) > 0


@pytest.mark.parametrize("answer, phrase", [
    (lambda meta, column, label="cardiomegaly": meta[column].value_counts(normalize=True).sort_index(),
     "group sizes"),
    (lambda meta, column, label="cardiomegaly": (1 - meta[label].astype(float)).groupby(meta[column]).mean(),
     "*negative*"),
    (lambda meta, column, label="cardiomegaly": meta["cardiomegaly"].astype(float).groupby(meta[column]).mean(),
     "raised an error"),
    (lambda meta, column, label="cardiomegaly": AlwaysEqualSeries(rates_groupby(meta, column, label)),
     "type of the result"),
])
def test_label_rate_by_mistakes_are_named(answer, phrase):
    fails("label_rate_by", answer, phrase)


# --------------------------------------------------------------------------- cramers_v


def v_chi2_contingency(meta, column, label="cardiomegaly"):
    from scipy.stats import chi2_contingency

    table = pd.crosstab(meta[column], meta[label])
    chi2 = chi2_contingency(table, correction=False)[0]
    return float(np.sqrt(chi2 / (table.to_numpy().sum() * (min(table.shape) - 1))))


def v_association(meta, column, label="cardiomegaly"):
    from scipy.stats.contingency import association

    return association(pd.crosstab(meta[column], meta[label]).to_numpy(), method="cramer", correction=False)


def v_numpy(meta, column, label="cardiomegaly"):
    rows, row_index = np.unique(meta[column].astype(str), return_inverse=True)
    cols, col_index = np.unique(meta[label].astype(str), return_inverse=True)
    observed = np.zeros((len(rows), len(cols)))
    np.add.at(observed, (row_index, col_index), 1)
    expected = observed.sum(1, keepdims=True) * observed.sum(0, keepdims=True) / observed.sum()
    chi2 = ((observed - expected) ** 2 / expected).sum()
    return np.sqrt(chi2 / (observed.sum() * (min(observed.shape) - 1))).item()


def v_loops(meta, column, label="cardiomegaly"):
    pairs = list(zip(meta[column], meta[label]))
    groups, labels, n = sorted(set(g for g, _ in pairs), key=str), sorted(set(l for _, l in pairs), key=str), len(pairs)
    chi2 = 0.0
    for g in groups:
        for l in labels:
            observed = sum(1 for p in pairs if p == (g, l))
            expected = sum(1 for p in pairs if p[0] == g) * sum(1 for p in pairs if p[1] == l) / n
            chi2 += (observed - expected) ** 2 / expected
    return (chi2 / (n * (min(len(groups), len(labels)) - 1))) ** 0.5


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("answer", [v_chi2_contingency, v_association, v_numpy, v_loops])
def test_cramers_v_correct_styles_pass(answer, secret):
    assert grade("cramers_v", answer, secret) >= 10


def v_yates(meta, column, label="cardiomegaly"):
    from scipy.stats import chi2_contingency

    table = pd.crosstab(meta[column], meta[label])
    return float(np.sqrt(chi2_contingency(table)[0] / (table.to_numpy().sum() * (min(table.shape) - 1))))


def v_bias_corrected(meta, column, label="cardiomegaly"):
    from scipy.stats import chi2_contingency

    table = pd.crosstab(meta[column], meta[label]).to_numpy()
    n, (r, c) = table.sum(), table.shape
    phi2 = max(0.0, chi2_contingency(table, correction=False)[0] / n - (r - 1) * (c - 1) / (n - 1))
    return float(np.sqrt(phi2 / min(r - (r - 1) ** 2 / (n - 1) - 1, c - (c - 1) ** 2 / (n - 1) - 1)))


def v_squared(meta, column, label="cardiomegaly"):
    return v_chi2_contingency(meta, column, label) ** 2


def v_groups_minus_one(meta, column, label="cardiomegaly"):
    from scipy.stats import chi2_contingency

    table = pd.crosstab(meta[column], meta[label])
    return float(np.sqrt(chi2_contingency(table, correction=False)[0] / (len(meta) * (table.shape[0] - 1))))


def v_min_without_minus_one(meta, column, label="cardiomegaly"):
    from scipy.stats import chi2_contingency

    table = pd.crosstab(meta[column], meta[label])
    return float(np.sqrt(chi2_contingency(table, correction=False)[0] / (len(meta) * min(table.shape))))


def v_hard_coded_label(meta, column, label="cardiomegaly"):
    return v_chi2_contingency(meta, column, "cardiomegaly")


@pytest.mark.parametrize("answer, phrase", [
    (v_yates, "no continuity correction"),
    (v_bias_corrected, "no bias correction"),
    (v_squared, "square root"),
    (v_groups_minus_one, "denominator"),
    (v_min_without_minus_one, "denominator"),
    (v_hard_coded_label, "KeyError: 'cardiomegaly'"),
    (lambda meta, column, label="cardiomegaly": AlwaysEqualFloat(v_chi2_contingency(meta, column, label)),
     "type of the result"),
    (lambda meta, column, label="cardiomegaly": pd.crosstab(meta[column], meta[label]), "a single number"),
])
def test_cramers_v_mistakes_are_named(answer, phrase):
    fails("cramers_v", answer, phrase)


# --------------------------------------------------------------------------- save_lossless


def save_imageio(image, path):
    import imageio.v3 as iio

    iio.imwrite(path, np.asarray(image), extension=".png")
    return Path(path)


def save_skimage(image, path):
    import skimage.io

    skimage.io.imsave(str(path), image, check_contrast=False)
    return Path(path)


def save_pillow(image, path):
    from PIL import Image

    path = Path(path)
    Image.fromarray(image).save(path)
    return path


def save_resolved(image, path):
    path = Path(path).resolve()
    save_pillow(image, path)
    return path


def save_tifffile(image, path):
    import tifffile

    tifffile.imwrite(path, image, compression="zlib")   # TIFF content, whatever the name says
    return Path(path)


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("answer", [save_imageio, save_skimage, save_pillow, save_tifffile, save_resolved])
def test_save_lossless_correct_styles_pass(answer, secret):
    assert grade("save_lossless", answer, secret) > 0


def save_fixed_file(image, path, _fixed=[]):
    """Issue 9's defect: ignores `path`, writes one fixed file elsewhere and returns that."""
    import tempfile

    if not _fixed:
        _fixed.append(Path(tempfile.mkdtemp()) / "backup.png")
    return save_pillow(image, _fixed[0])


def save_right_file_wrong_return(image, path):
    save_pillow(image, path)
    return Path(str(path) + ".bak")


def save_as_jpeg(image, path):
    from PIL import Image

    Image.fromarray((np.asarray(image) // 257).astype(np.uint8) if image.dtype == np.uint16 else image).save(
        path, format="JPEG")
    return Path(path)


def save_jpeg_suffix(image, path):
    import imageio.v3 as iio

    path = Path(path).with_suffix(".jpg")
    iio.imwrite(path, (np.asarray(image) // 257).astype(np.uint8))
    return path


def save_8bit(image, path):
    from skimage import img_as_ubyte

    return save_pillow(img_as_ubyte(image), path)


def save_plt_imsave(image, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(path, image, cmap="gray")
    return Path(path)


def save_rescaled(image, path):
    scaled = (image.astype(float) / image.max() * 65535).astype(np.uint16)
    return save_pillow(scaled, path)


def save_returns_given(image, path):
    save_pillow(image, path)
    return path


def save_np_save(image, path):
    np.save(path, image)
    return Path(path)


def save_symlink(image, path, _fixed=[]):
    """Writes elsewhere and leaves a link at `path`: the checks never follow a link."""
    target = save_fixed_file(image, path)
    Path(path).symlink_to(target)
    return Path(path)


@pytest.mark.parametrize("answer, phrase", [
    (save_fixed_file, "a file at the given path"),
    (save_right_file_wrong_return, "returns the given path"),
    (save_as_jpeg, "JPEG is lossy"),
    (save_jpeg_suffix, "JPEG is lossy"),
    (save_8bit, "do not convert to 8 bits"),
    (save_plt_imsave, "plt.imsave"),
    (save_rescaled, "exact values"),
    (save_np_save, "np.save adds .npy"),
    (save_symlink, "a regular file"),
    (lambda image, path: None, "a file at the given path"),
    (lambda image, path: AlwaysEqualPath(save_pillow(image, path)), "type of the result"),
])
def test_save_lossless_mistakes_are_named(answer, phrase):
    fails("save_lossless", answer, phrase)


def test_save_lossless_str_path_must_come_back_as_a_path():
    """The visible case passes a Path, the hidden ones a str: the task says so, and a str result fails."""
    check("save_lossless", save_returns_given)
    fails("save_lossless", save_returns_given, "type of the returned path")


def test_save_lossless_fixed_file_fails_even_after_a_correct_run():
    """A fixed file that once held the right image does not pass for a new path (issue 9's defect)."""
    fails("save_lossless", save_fixed_file, "a file at the given path", SECRETS[1])
    fails("save_lossless", save_fixed_file, "a file at the given path", SECRETS[2])


# --------------------------------------------------------------------------- remove_burned_in_text


def text_max_dilated(image):
    from scipy import ndimage

    image = np.asarray(image)
    cleaned = image.copy()
    cleaned[ndimage.binary_dilation(image >= image.max(), iterations=2)] = 0
    return cleaned


def text_where(image):
    return np.where(image == image.max(), np.zeros_like(image), image)


def text_skimage(image):
    from skimage.morphology import dilation, disk

    mask = dilation(image == image.max(), disk(1))
    return np.where(mask, 0, image).astype(image.dtype)


def text_components(image):
    from skimage.measure import label, regionprops

    cleaned = image.copy()
    labels = label(image == image.max(), connectivity=2)
    for region in regionprops(labels):
        rows, cols = region.coords.T
        cleaned[rows, cols] = 0
    return cleaned


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("answer", [text_max_dilated, text_where, text_skimage, text_components])
def test_remove_burned_in_text_correct_styles_pass(answer, secret):
    assert grade("remove_burned_in_text", answer, secret) > 0


def text_255_threshold(image):
    cleaned = image.copy()
    cleaned[image >= 255] = 0
    return cleaned


def text_equals_255(image):
    cleaned = image.copy()
    cleaned[image == 255] = 0
    return cleaned


def text_dtype_max(image):
    cleaned = image.copy()
    cleaned[image == np.iinfo(image.dtype).max] = 0
    return cleaned


def text_in_place(image):
    image[image == image.max()] = 0
    return image


def text_as_float(image):
    cleaned = image.astype(float)
    cleaned[image == image.max()] = 0
    return cleaned


def text_over_dilated(image):
    from scipy import ndimage

    cleaned = image.copy()
    cleaned[ndimage.binary_dilation(image == image.max(), np.ones((3, 3), bool), iterations=6)] = 0
    return cleaned


def text_percentile(image):
    cleaned = image.copy()
    cleaned[image >= np.percentile(image, 90)] = 0
    return cleaned


def text_corner_boxes(image):
    cleaned = image.copy()
    rows, cols = np.nonzero(image == image.max())
    cleaned[: rows.max() + 1, :] = 0   # blank the whole top strip that holds text
    return cleaned


def text_stretched(image):
    cleaned = text_where(image).astype(float)
    return (cleaned / cleaned.max() * np.iinfo(image.dtype).max).astype(image.dtype)


@pytest.mark.parametrize("answer, phrase", [
    (text_255_threshold, "You compared with 255"),
    (text_equals_255, "neither 255 nor 65535"),
    (text_dtype_max, "neither 255 nor 65535"),
    (text_in_place, "inputs must not be modified"),
    (text_as_float, "same shape and dtype"),
    (text_over_dilated, "grows into the thorax"),
    (text_percentile, "anatomy untouched"),
    (text_corner_boxes, "nothing else erased"),
    (text_stretched, "anatomy untouched"),
    (lambda image: text_where(image).view(AlwaysEqualArray), "type of the result"),
    (lambda image: image.copy(), "all text pixels set to 0"),
])
def test_remove_burned_in_text_mistakes_are_named(answer, phrase):
    fails("remove_burned_in_text", answer, phrase)


def test_the_task_text_promises_hold_for_the_visible_images():
    """Text at the image's own maximum, nothing else there, a gap from the thorax: what the task promises
    (regenerating data/ must keep it true)."""
    from scipy import ndimage

    from medprep_helpers import data
    from medprep_helpers.exercises.know_your_data import _toy_text_image

    image, masks = data.load_example("normal_rotated")
    toy, toy_text, toy_thorax = _toy_text_image()
    for image, text, thorax in [(image, masks["text"], masks["thorax"]), (toy, toy_text, toy_thorax)]:
        assert text.any() and np.all(image[text] == image.max()) and image[~text].max() < image.max()
        assert not (text & ndimage.binary_dilation(thorax, iterations=3)).any()


def test_remove_burned_in_text_hidden_images_are_fresh_and_both_depths():
    """Each secret gives new phantom images (8- and 16-bit); their text is not any mask in data/."""
    from medprep_grader.hidden.know_your_data import _random_radiograph
    from medprep_helpers import data

    shapes = set()
    for secret in SECRETS:
        rng = rng_for("remove_burned_in_text", secret)
        for dtype, top in (("uint8", 255), ("uint16", 4095)):
            image, text, thorax = _random_radiograph(rng, dtype)
            assert image.dtype == dtype and image.max() == top and text.any() and not (text & thorax).any()
            shapes.add(image.shape)
    assert len(shapes) == 2 * len(SECRETS)
    stored = {data.load_cohort_masks(s)["text"].shape for s in data.load_cohort()["subject_id"][:5]}
    assert not shapes & stored


def test_save_lossless_never_follows_a_linked_folder(tmp_path):
    """A learner who swaps the checks' folder for a link to another folder does not get that folder read."""
    import os

    from medprep_helpers.exercises.know_your_data import judge_saved

    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    save_pillow(image, elsewhere / "x.png")
    os.symlink(elsewhere, tmp_path / "checks")
    with pytest.raises(CheckFailed, match="a regular file at the given path"):
        judge_saved(Checker("save_lossless"), tmp_path / "checks" / "x.png", image, tmp_path / "checks" / "x.png", "t")
