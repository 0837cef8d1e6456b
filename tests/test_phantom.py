"""Tests for the synthetic radiograph and cohort generator (medprep_helpers.phantom)."""

import time

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from scipy.stats.contingency import association
from skimage.transform import rotate

from medprep_helpers import phantom
from medprep_helpers.data import decode_masks, read_png
from medprep_helpers.phantom import (
    SITE_PROTOCOLS,
    make_cohort,
    measure_ctr,
    pack_masks,
    synthetic_radiograph,
    write_course_data,
)

SMALL = {site: (128, 128) for site in SITE_PROTOCOLS}
KWARGS = ("seed", "shape", "ctr", "body_size", "rotation", "exposure", "contrast", "noise", "border", "text",
          "marker", "marker_style", "dtype", "sex")


def cxr(**kwargs):
    """A small radiograph, so that tests stay fast."""
    return synthetic_radiograph(**{"shape": (160, 160), **kwargs})


# ---------------------------------------------------------------- radiograph


def test_same_arguments_give_identical_arrays_and_other_seeds_differ():
    args = dict(seed=5, shape=(128, 160), rotation=4.0, text="DOE^JANE 2019-03-04", dtype="uint16")
    first, second = synthetic_radiograph(**args), synthetic_radiograph(**args)
    np.testing.assert_array_equal(first.image, second.image)
    for name in first.masks:
        np.testing.assert_array_equal(first.masks[name], second.masks[name])
    other = synthetic_radiograph(**{**args, "seed": 6})
    assert not np.array_equal(first.image, other.image)


def test_params_hold_every_argument_and_regenerate_the_image():
    original = cxr(seed=9, ctr=0.57, rotation=-2.5, exposure=1.2, border=6, text="ID 42", marker="R",
                   marker_style="plain")
    again = synthetic_radiograph(**{k: original.params[k] for k in KWARGS})
    np.testing.assert_array_equal(original.image, again.image)
    assert original.params["heart_width_px"] / original.params["thorax_width_px"] == original.ctr


def test_masks_have_the_image_shape_are_boolean_and_nest():
    result = cxr(seed=1, text="X 1")
    assert set(result.masks) == {"thorax", "lungs", "heart", "text"}
    for name, mask in result.masks.items():
        assert mask.dtype == bool and mask.shape == result.image.shape, name
    thorax, lungs, heart = result.masks["thorax"], result.masks["lungs"], result.masks["heart"]
    assert lungs.any() and heart.any()
    assert not (lungs & ~thorax).any() and not (heart & ~thorax).any()
    assert not (lungs & heart).any()
    assert result.image.ndim == 2 and result.image.dtype == np.uint8


def test_anatomy_is_where_a_radiograph_has_it():
    result = synthetic_radiograph(seed=2, shape=(256, 256), marker=None, noise=0.0)
    image, masks = result.image.astype(float), result.masks
    # lungs dark, heart bright, heart bulging to the image right (patient's left)
    assert image[masks["lungs"]].mean() + 60 < image[masks["heart"]].mean()
    columns = np.flatnonzero(masks["heart"].any(axis=0))
    midline = (np.flatnonzero(masks["thorax"].any(axis=0))[[0, -1]]).mean()
    assert columns[-1] - midline > 1.3 * (midline - columns[0])


@pytest.mark.parametrize("seed", [2, 5, 9])
def test_heart_is_graded_densest_towards_its_apex(seed):
    # a flat white blob reads as a phantom: the left ventricle (image right)
    # is denser than the right heart border, where lower lobe lies behind it
    result = synthetic_radiograph(seed=seed, shape=(256, 256), marker=None, noise=0.0)
    image, heart = result.image.astype(float), result.masks["heart"]
    columns = np.flatnonzero(heart.any(axis=0))
    third = (columns[-1] - columns[0] + 1) // 3
    right_border = heart.copy()
    right_border[:, columns[0] + third :] = False
    apex_side = heart.copy()
    apex_side[:, : columns[-1] + 1 - third] = False
    assert image[apex_side].mean() > image[right_border].mean() + 2


@pytest.mark.parametrize("seed", [2, 5, 9])
def test_humeral_head_is_bone_not_a_translucent_disc(seed):
    # the head is as dense as the shaft below it (patient coordinates from the
    # drawn anatomy; body_size < 1 keeps the arms on the film)
    result = synthetic_radiograph(seed=seed, shape=(256, 256), marker=None, noise=0.0, body_size=0.85)
    anatomy, image = result.params["anatomy"], result.image.astype(float)
    scale = 256 * 0.85

    def at(x, y):  # the patient's right arm, on the image left
        return image[round(127.5 + y * scale), round(127.5 - x * scale)]

    top = anatomy["shoulder_y"]
    head = at(anatomy["arm_x"] - 0.045, top + 0.065)
    shaft = at(anatomy["arm_x"] + 0.004 - 0.012, top + 0.2)
    axilla = at(anatomy["arm_x"] + 0.004 - 0.052, top + 0.2)
    assert head > shaft - 5 and shaft > axilla + 40


@pytest.mark.parametrize("seed, ctr, rotation", [(0, 0.36, 0.0), (1, 0.45, -8.0), (2, 0.55, 6.0), (3, 0.68, 3.0),
                                                 (4, 0.7, -3.0), (5, 0.4, 12.0)])
def test_each_lung_is_one_piece_on_its_own_side(seed, ctr, rotation):
    lungs = synthetic_radiograph(seed=seed, shape=(256, 256), ctr=ctr, rotation=rotation).masks["lungs"]
    labels, count = ndimage.label(lungs)
    assert count == 2
    centres = [ndimage.center_of_mass(labels == i)[1] for i in (1, 2)]
    assert min(centres) < 128 < max(centres)


def test_lungs_are_never_black_even_on_dark_high_contrast_films():
    # the lesson's histograms must not show a spike at 0 from clipped lung pixels
    for seed in range(4):
        result = synthetic_radiograph(seed=seed, shape=(256, 256), exposure=1.6, contrast=1.35, noise=0.04)
        assert result.image[result.masks["lungs"]].min() > 0


def test_sex_adds_breast_shadows_over_the_lower_zones_only():
    female = synthetic_radiograph(seed=6, shape=(256, 256), sex="F", noise=0.0)
    male = synthetic_radiograph(seed=6, shape=(256, 256), sex="M", noise=0.0)
    assert female.params["sex"] == "F" and male.params["sex"] == "M"
    lungs = male.masks["lungs"]
    rows = np.flatnonzero(lungs.any(axis=1))
    lower, upper = lungs.copy(), lungs.copy()
    lower[: rows[0] + 2 * (rows[-1] - rows[0]) // 3] = False
    upper[rows[0] + (rows[-1] - rows[0]) // 3 :] = False
    gain = female.image.astype(float) - male.image
    assert gain[lower].mean() > 5
    assert np.abs(gain[upper]).max() <= 1  # the upper zones are untouched
    drawn = synthetic_radiograph(seed=6, shape=(128, 128))
    assert drawn.params["sex"] in ("F", "M")


def test_uint16_uses_12_bits():
    image = cxr(seed=3, dtype="uint16", text="ABC").image
    assert image.dtype == np.uint16 and image.max() == 4095 and image.min() < 200


@pytest.mark.parametrize("target", [0.35, 0.42, 0.5, 0.6, 0.7])
@pytest.mark.parametrize("shape, rotation, body_size", [((256, 256), 0.0, 1.0), ((288, 320), 5.0, 0.9)])
def test_measured_ctr_is_close_to_the_target(target, shape, rotation, body_size):
    result = synthetic_radiograph(seed=4, shape=shape, ctr=target, rotation=rotation, body_size=body_size)
    assert abs(result.ctr - target) <= 0.02
    assert result.ctr == measure_ctr(result.masks["heart"], result.masks["thorax"])


def test_measure_ctr_counts_columns_inclusively():
    thorax = np.zeros((5, 12), bool)
    thorax[1:4, 1:11] = True  # 10 columns
    heart = np.zeros_like(thorax)
    heart[2, 3] = heart[3, 6] = True  # columns 3..6: 4 columns, gaps included
    assert measure_ctr(heart, thorax) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="thorax"):
        measure_ctr(heart, np.zeros_like(thorax))


def test_enlarged_heart_is_wider_and_larger():
    normal, enlarged = cxr(seed=8, ctr=0.42), cxr(seed=8, ctr=0.62)
    assert enlarged.params["heart_width_px"] > 1.3 * normal.params["heart_width_px"]
    assert enlarged.masks["heart"].sum() > 1.5 * normal.masks["heart"].sum()
    assert normal.params["thorax_width_px"] == enlarged.params["thorax_width_px"]


@pytest.mark.parametrize("rotation", [0.0, -6.0, 8.0])
@pytest.mark.parametrize("marker, style", [("L", "box"), ("R", "plain")])
def test_text_and_marker_stay_outside_the_thorax(rotation, marker, style):
    result = synthetic_radiograph(seed=7, shape=(256, 256), rotation=rotation, border=10, marker=marker,
                                  marker_style=style, text="DOE^JANE 2019-03-04")
    text, thorax = result.masks["text"], result.masks["thorax"]
    assert text.any() and not (text & thorax).any()
    assert (result.image[text] == 255).all()
    boxes = result.params["text_boxes"]
    assert len(boxes) == 2
    in_boxes = np.zeros_like(text)
    for row0, col0, row1, col1 in boxes:
        assert 10 <= row0 < row1 <= 246 and 10 <= col0 < col1 <= 246  # inside the collimation border
        in_boxes[row0:row1, col0:col1] = True
    assert not (text & ~in_boxes).any()
    # the marker sits on its side of the patient: "L" on the image right
    marker_box = boxes[1]
    assert (marker_box[1] > 128) == (marker == "L")


def test_without_text_or_marker_the_text_mask_is_empty():
    result = cxr(seed=1, marker=None)
    assert not result.masks["text"].any() and result.params["text_boxes"] == []


def test_rotation_turns_the_masks_counter_clockwise_like_skimage():
    straight = synthetic_radiograph(seed=3, shape=(200, 200), rotation=0.0)
    turned = synthetic_radiograph(seed=3, shape=(200, 200), rotation=10.0)
    for name in ("thorax", "heart"):
        assert not np.array_equal(straight.masks[name], turned.masks[name])
        expected = rotate(straight.masks[name].astype(float), 10.0, order=0) > 0.5
        overlap = (expected & turned.masks[name]).sum() / (expected | turned.masks[name]).sum()
        assert overlap > 0.95, name


def test_exposure_darkens_and_border_is_dark():
    bright, dark = cxr(seed=2, exposure=0.8), cxr(seed=2, exposure=1.6)
    assert dark.image.mean() < bright.image.mean() - 10
    framed = cxr(seed=2, border=9, marker=None)
    edge = np.concatenate([framed.image[:9].ravel(), framed.image[:, -9:].ravel()])
    assert edge.max() <= 10
    noisy, clean = cxr(seed=2, noise=0.05), cxr(seed=2, noise=0.0)
    lungs = clean.masks["lungs"]
    assert np.std(noisy.image[lungs].astype(float) - clean.image[lungs]) > 3


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"shape": (63, 128)}, ValueError, "shape"),
        ({"shape": (128,)}, TypeError, "shape"),
        ({"shape": (128.0, 128)}, TypeError, "shape"),
        ({"ctr": 0.2}, ValueError, "ctr"),
        ({"ctr": 0.95}, ValueError, "ctr"),
        ({"ctr": "0.5"}, TypeError, "ctr"),
        ({"dtype": "float32"}, ValueError, "dtype"),
        ({"dtype": "not a dtype"}, TypeError, "dtype"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"rotation": 45}, ValueError, "rotation"),
        ({"exposure": 0}, ValueError, "exposure"),
        ({"noise": -0.1}, ValueError, "noise"),
        ({"border": 100}, ValueError, "border"),
        ({"marker": "X"}, ValueError, "marker"),
        ({"marker_style": "round"}, ValueError, "marker_style"),
        ({"text": 5}, TypeError, "text"),
        ({"text": "x" * 200}, ValueError, "text"),
        ({"body_size": 2.0}, ValueError, "body_size"),
        ({"sex": "female"}, ValueError, "sex"),
    ],
)
def test_bad_arguments_raise_and_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        synthetic_radiograph(**{"shape": (128, 128), **kwargs})


def test_pack_masks_round_trips_through_decode_masks():
    result = cxr(seed=4, text="AB 12")
    decoded = decode_masks(pack_masks(result.masks))
    for name, mask in result.masks.items():
        np.testing.assert_array_equal(decoded[name], mask)
    with pytest.raises(ValueError, match="unknown"):
        pack_masks({"spleen": result.masks["heart"]})


# ---------------------------------------------------------------- cohort

COLUMNS = {"subject_id", "site", "age", "sex", "view", "position", "ctr", "cardiomegaly", "heart_width_px",
           "thorax_width_px", "pixel_spacing_mm", "exposure", "noise", "border", "rotation", "seed"}


def test_cohort_table_and_images_agree():
    shapes = {"clinic": (128, 128), "hospital": (128, 144), "community": (136, 136)}
    meta, images = make_cohort(18, seed=3, shape_by_site=shapes)
    assert COLUMNS <= set(meta.columns) and len(meta) == len(images) == 18
    assert meta["subject_id"].tolist() == [f"sub-{i:04d}" for i in range(1, 19)]
    assert set(meta["site"]) == set(SITE_PROTOCOLS)
    assert set(meta["sex"]) <= {"F", "M"} and set(meta["view"]) <= {"PA", "AP"}
    assert set(meta["position"]) <= {"erect", "supine"}
    assert pd.api.types.is_integer_dtype(meta["age"])
    assert (meta["cardiomegaly"] == (meta["ctr"] > 0.5)).all()
    for (_, row), image in zip(meta.iterrows(), images):
        assert image.image.shape == shapes[row["site"]]
        assert image.ctr == pytest.approx(row["ctr"], abs=1e-6)
        assert image.params["heart_width_px"] == row["heart_width_px"]
    again, _ = make_cohort(18, seed=3, shape_by_site=shapes)
    pd.testing.assert_frame_equal(meta, again)


def _site_label_association(confounding):
    meta, _ = make_cohort(60, seed=11, confounding=confounding, shape_by_site=SMALL)
    table = pd.crosstab(meta["site"], meta["cardiomegaly"]).to_numpy()
    rates = meta.groupby("site")["cardiomegaly"].mean()
    return association(table, method="cramer"), rates["hospital"] - rates["clinic"], meta


def test_confounding_strengthens_the_site_label_association():
    v0, diff0, meta0 = _site_label_association(0.0)
    v5, diff5, _ = _site_label_association(0.5)
    v1, diff1, meta1 = _site_label_association(1.0)
    assert v0 < v5 < v1
    assert abs(diff0) < 0.3 and diff0 < diff5 < diff1 and diff1 > 0.6
    # ages follow the site only when confounded
    age_gap = lambda m: m.groupby("site")["age"].mean().pipe(lambda a: a["hospital"] - a["clinic"])  # noqa: E731
    assert abs(age_gap(meta0)) < 10 < 30 < age_gap(meta1)


def test_default_cohort_keeps_exceptions_on_both_sides():
    meta, _ = make_cohort(60, seed=5, shape_by_site=SMALL)
    outside = meta[meta["site"] != "hospital"]["cardiomegaly"]
    inside = meta[meta["site"] == "hospital"]["cardiomegaly"]
    assert outside.sum() >= 3 and (~inside).sum() >= 3


def test_cohort_batch_effects_differ_by_site():
    meta, images = make_cohort(12, seed=2)
    by_site = {site: [im for im, s in zip(images, meta["site"]) if s == site] for site in SITE_PROTOCOLS}
    for site, protocol in SITE_PROTOCOLS.items():
        assert by_site[site][0].image.shape == protocol["shape"]
    means = {site: np.mean([im.image[im.masks["thorax"]].mean() for im in ims]) for site, ims in by_site.items()}
    assert means["clinic"] < means["hospital"] - 5  # the clinic's films are darker
    assert (meta.loc[meta["site"] == "clinic", "border"] > 0).all()
    assert (meta.loc[meta["site"] == "community", "text"] != "").all()


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"n": 2}, ValueError, "n"),
        ({"confounding": 1.5}, ValueError, "confounding"),
        ({"shape_by_site": {"mars": (128, 128)}}, ValueError, "shape_by_site"),
        ({"shape_by_site": {"clinic": (100, 128)}}, ValueError, "shape_by_site"),
        ({"shape_by_site": [(128, 128)]}, TypeError, "shape_by_site"),
    ],
)
def test_cohort_bad_arguments_raise_and_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        make_cohort(**{"n": 6, **kwargs})


# ---------------------------------------------------------------- course data


def _pixels(folder):
    return {p.relative_to(folder).as_posix(): read_png(p) for p in sorted(folder.rglob("*.png"))}


def test_write_course_data_writes_the_layout_and_rewrites_the_same_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(phantom, "COHORT_SIZE", 6)  # the layout, not the full cohort (see the slow test)
    first, second = tmp_path / "a", tmp_path / "b"
    written = write_course_data(first)
    assert sorted(written) == sorted(p for p in first.rglob("*") if p.is_file())  # nothing else written
    for name in ("normal_rotated", "cardiomegaly", "normal_2"):
        assert (first / "examples" / f"{name}.png").exists() and (first / "examples" / f"{name}_masks.png").exists()
    pixels = _pixels(first)
    assert pixels["examples/normal_rotated.png"].dtype == np.uint8 and pixels["examples/normal_rotated.png"].ndim == 2
    rgba = pixels["examples/cardiomegaly.png"]
    assert rgba.shape[2] == 4 and (rgba[..., 3] == 255).all() and (rgba[..., 0] == rgba[..., 2]).all()
    assert pixels["examples/normal_2.png"].dtype == np.uint16 and pixels["examples/normal_2.png"].max() <= 4095
    examples = pd.read_csv(first / "examples" / "examples.csv")
    assert examples.set_index("name").loc["cardiomegaly", "cardiomegaly"]
    assert not examples.set_index("name").loc[["normal_rotated", "normal_2"], "cardiomegaly"].any()

    meta = pd.read_csv(first / "cohort" / "metadata.csv")
    assert len(meta) == 6 and COLUMNS <= set(meta.columns)
    for _, row in meta.iterrows():
        image = read_png(first / "cohort" / row["image_file"])
        masks = decode_masks(read_png(first / "cohort" / row["mask_file"]))
        assert image.shape == masks["thorax"].shape == (row["rows"], row["cols"])
        assert measure_ctr(masks["heart"], masks["thorax"]) == pytest.approx(row["ctr"], abs=1e-6)

    write_course_data(second)
    again = _pixels(second)
    assert again.keys() == pixels.keys()
    for name in pixels:
        np.testing.assert_array_equal(pixels[name], again[name], err_msg=name)


@pytest.mark.slow
def test_full_course_data_is_small_and_quick(tmp_path):
    start = time.perf_counter()
    written = write_course_data(tmp_path)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in written)
    assert len(written) == 2 * 3 + 1 + 2 * phantom.COHORT_SIZE + 1
    assert size < 20e6 and seconds < 60
