"""Data: the real DICOM loads the right way round, the synthetic data matches its manifest."""

import shutil

import numpy as np
import pytest

from medprep_helpers import data


def test_real_radiograph_is_monochrome1_and_displayed_with_lungs_dark():
    image, dataset = data.load_real_radiograph(max_size=256)
    assert dataset.Modality == "CR" and dataset.PhotometricInterpretation == "MONOCHROME1"
    assert dataset.BitsStored == 15 and (dataset.Rows, dataset.Columns) == (1955, 1841)
    assert image.dtype == np.float64 and 0 <= image.min() and image.max() <= 1 and 200 < max(image.shape) <= 256
    rows, cols = image.shape
    # Lungs (left and right of the spine, upper-middle) are darker than the spine between them.
    lung = np.r_[image[rows // 3 : rows // 2, cols // 5 : cols // 3].ravel(), image[rows // 3 : rows // 2, 2 * cols // 3 : 4 * cols // 5].ravel()]
    spine = image[rows // 3 : rows // 2, cols // 2 - 5 : cols // 2 + 5]
    assert np.median(lung) < np.median(spine) - 0.1


def test_monochrome1_inversion_is_what_makes_lungs_dark():
    dataset = data.load_dicom("RG1_UNCR.dcm")
    raw = dataset.pixel_array.astype(float)
    shown = data.dicom_to_display(dataset)
    assert np.corrcoef(raw[::16, ::16].ravel(), shown[::16, ::16].ravel())[0, 1] < -0.99


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_small_ct_and_mr_load(name):
    shown = data.dicom_to_display(data.load_dicom(name))
    assert shown.ndim == 2 and 0 <= shown.min() < shown.max() <= 1


def test_unknown_names_are_rejected_with_the_choices():
    with pytest.raises(ValueError, match="name must be one of"):
        data.dicom_path("brain.dcm")
    with pytest.raises(ValueError, match="name must be one of"):
        data.load_example("knee")
    with pytest.raises(ValueError, match="subject_id"):
        data.load_cohort_image("sub-9999x")
    with pytest.raises(ValueError, match="max_size"):
        data.load_real_radiograph(max_size=0)


def test_committed_data_matches_its_manifest():
    assert data.verify_manifest() == []


def test_data_stays_small():
    size = sum(p.stat().st_size for p in data.data_dir().rglob("*") if p.is_file())
    assert size <= 20e6, f"data/ is {size / 1e6:.1f} MB, the limit is 20 MB"


def test_manifest_names_the_changed_missing_and_unexpected_files(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data.data_dir(), copy)
    first = sorted((copy / "cohort" / "images").glob("*.png"))[0]
    first.write_bytes(first.read_bytes() + b"x")
    (copy / "examples" / "normal_2.png").unlink()
    (copy / "stray.txt").write_text("hi")
    problems = "\n".join(data.verify_manifest(copy))
    assert f"cohort/images/{first.name}: checksum mismatch" in problems
    assert "examples/normal_2.png: missing" in problems
    assert "stray.txt: not in the manifest" in problems


def test_examples_and_cohort_load_with_masks():
    for name in data.EXAMPLE_NAMES:
        image, masks = data.load_example(name)
        assert masks["heart"].shape == image.shape[:2] and masks["heart"].any()
    meta = data.load_cohort()
    assert len(meta) >= 200 and meta["subject_id"].is_unique
    subject = meta["subject_id"].iloc[0]
    image, masks = data.load_cohort_image(subject), data.load_cohort_masks(subject)
    assert image.ndim == 2 and masks["thorax"].shape == image.shape
    assert (masks["heart"] & ~masks["thorax"]).sum() == 0


def test_load_cohort_returns_a_copy():
    meta = data.load_cohort()
    meta.loc[:, "age"] = -1
    assert (data.load_cohort()["age"] >= 0).all()


def test_decode_masks_rejects_non_uint8():
    with pytest.raises(ValueError, match="packed"):
        data.decode_masks(np.zeros((3, 3), dtype=np.int64))


def test_real_ultrasound_has_the_institution_in_header_and_pixels():
    image, dataset = data.load_ultrasound()
    assert dataset.Modality == "US" and dataset.PhotometricInterpretation == "RGB"
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    assert dataset.InstitutionName == "BAPTIST MED CTR"
    # The burned-in text is pure white (R = G = B = 255) in the top band, above the scan.
    top = image[10:100]
    white = (top == 255).all(axis=2)
    assert 500 < white.sum() < 0.2 * white.size
