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
    assert "-> restore data/" in out


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
