"""The environment check prints OK/FAIL per item and exits non-zero on failure."""

import shutil

from medprep_helpers import check


def test_all_checks_pass_on_this_installation(capsys):
    assert check.main() == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "OK   course data" in out and "OK   DICOM radiograph" in out


def test_damaged_data_fails_naming_the_file(tmp_path, monkeypatch, capsys):
    from medprep_helpers.data import data_dir

    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    (copy / "cohort" / "metadata.csv").write_text("tampered")
    monkeypatch.setenv("MEDPREP_DATA", str(copy))
    assert check.main() == 1
    out = capsys.readouterr().out
    assert "FAIL course data: cohort/metadata.csv: checksum mismatch" in out
    assert f"-> MEDPREP_DATA names {copy}: copy the course data there again" in out


def test_damaged_data_of_an_installed_package_says_reinstall(tmp_path, monkeypatch):
    """Outside a clone (the learner wheel), the fix is to reinstall the package, not git."""
    from medprep_helpers import data

    copy = tmp_path / "data"
    shutil.copytree(data.data_dir(), copy)
    (copy / "examples" / "normal_2.png").unlink()
    monkeypatch.delenv("MEDPREP_DATA", raising=False)
    monkeypatch.setattr(data, "checkout_root", lambda: None)
    monkeypatch.setattr(data, "_course_folder", lambda name: copy)
    result = check.check_data()
    assert not result.ok and "examples/normal_2.png: missing" in result.detail
    assert "python -m pip install --force-reinstall medprep-" in result.fix and "git" not in result.fix


def test_missing_package_is_reported(monkeypatch):
    from importlib import metadata

    real_version = metadata.version

    def fake_version(name):
        if name == "pydicom":
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(check.metadata, "version", fake_version)
    results = {r.name: r for r in check.check_packages()}
    assert not results["pydicom"].ok and "not installed" in results["pydicom"].detail
