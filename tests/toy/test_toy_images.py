"""The toy cohort's phantoms: seeded, risk-driven, and a DICOM series SimpleITK reads back."""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from scipy.stats import spearmanr

from helpers import REPO
from oncoweave.cli import toy as toy_cli
from oncoweave.core.errors import InputError
from oncoweave.imaging.ingest import ingest_case
from oncoweave.toy import images as toy_images
from oncoweave.toy import layout as toy
from oncoweave.toy.clinical import hidden_risk
from oncoweave.toy.images import (
    PLANTED_PHI,
    PRIVATE_CREATOR,
    lesion_phantom,
    make_toy_images,
    write_dicom_series,
)

PATIENTS = [(4, "P04"), (5, "P05"), (6, "P06"), (8, "P08")]
SEED = 20240611


def tree_bytes(root) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    rows_a = make_toy_images(tmp_path / "a", PATIENTS, SEED, dicom_patients=["P05"])
    rows_b = make_toy_images(tmp_path / "b", PATIENTS, SEED, dicom_patients=["P05"])
    first, second = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert first == second
    assert "P05/dicom/slice_0000.dcm" in first and "P04/image.nii.gz" in first
    assert "P05/image.nii.gz" not in first and len([n for n in first if "dicom" in n]) == 32
    assert [row["image"] for row in rows_a] == [
        str(tmp_path / "a" / p / ("dicom" if p == "P05" else "image.nii.gz")) for _, p in PATIENTS]
    assert [r["patient"] for r in rows_b] == ["P04", "P05", "P06", "P08"]
    other = make_toy_images(tmp_path / "c", PATIENTS[:1], SEED + 1)
    assert tree_bytes(tmp_path / "c")["P04/image.nii.gz"] != first["P04/image.nii.gz"]
    assert other[0]["mask"].endswith("P04/mask.nii.gz")


def test_hidden_risk_is_seeded_and_per_patient():
    risks = [hidden_risk(number, SEED) for number in range(1, 9)]
    assert all(0.0 <= risk <= 1.0 for risk in risks)
    assert len(set(risks)) == 8
    assert risks == [hidden_risk(number, SEED) for number in range(1, 9)]
    assert hidden_risk(1, SEED + 1) != risks[0]


def test_lesion_grows_and_brightens_with_risk():
    risks = np.linspace(0.05, 0.95, 8)
    volumes, means, spreads = [], [], []
    for k, risk in enumerate(risks):
        image, mask = lesion_phantom(float(risk), np.random.default_rng([7, k]))
        assert mask.GetPixelID() == sitk.sitkUInt8 and image.GetPixelID() == sitk.sitkInt16
        assert image.GetSize() == (64, 64, 32) and image.GetSpacing() == (1.0, 1.0, 2.0)
        hu, inside = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(mask) == 1
        assert set(np.unique(sitk.GetArrayFromImage(mask))) == {0, 1}
        volumes.append(inside.sum() * 2.0 / 1000)
        means.append(hu[inside].mean())
        spreads.append(hu[inside].std())
    assert spearmanr(risks, volumes)[0] > 0.8
    assert spearmanr(risks, means)[0] > 0.8
    assert spearmanr(risks, spreads)[0] > 0.8
    assert 0.3 < volumes[0] < 1.5 and volumes[-1] > 10  # ml: about 5 to 14 mm radius
    background = sitk.GetArrayFromImage(image)[16, 40:50, 40:50]  # soft tissue away from it
    assert 0 < background.mean() < 80


def test_dicom_series_reads_back_with_the_same_geometry(tmp_path):
    image, _ = lesion_phantom(0.5, np.random.default_rng(1))
    files = write_dicom_series(image, tmp_path / "series")
    assert len(files) == 32
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "series")))
    read = reader.Execute()
    assert read.GetSize() == image.GetSize()
    np.testing.assert_allclose(read.GetSpacing(), image.GetSpacing())
    np.testing.assert_allclose(read.GetOrigin(), image.GetOrigin())
    np.testing.assert_allclose(read.GetDirection(), image.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read), sitk.GetArrayFromImage(image))
    first = pydicom.dcmread(files[0])
    assert first.SOPClassUID == pydicom.uid.CTImageStorage and first.pixel_array.dtype == np.int16
    assert (float(first.RescaleSlope), float(first.RescaleIntercept)) == (1.0, -1024.0)


def test_dicom_series_carries_the_planted_phi(tmp_path):
    image, _ = lesion_phantom(0.5, np.random.default_rng(1))
    ds = pydicom.dcmread(write_dicom_series(image, tmp_path / "series")[3])
    for tag, value in PLANTED_PHI.items():
        if isinstance(tag, str):
            assert str(ds[tag].value) == value, tag
    block = ds.private_block(0x0011, PRIVATE_CREATOR)
    assert block[0x10].value == PLANTED_PHI[(0x0011, 0x1010)]
    assert all("ZZPHI" in value or value.replace(".", "").isdigit() for value in PLANTED_PHI.values())


def test_images_sheet_and_command(tmp_path):
    parser = argparse.ArgumentParser()
    toy_cli.register(parser.add_subparsers())
    args = parser.parse_args(["toy-images", str(tmp_path / "img"), "--patients", "4:P04,5:P05",
                              "--seed", str(SEED), "--sheet", str(tmp_path / "images.tsv")])
    assert args.func(args) == 0
    rows = make_toy_images(tmp_path / "again", PATIENTS[:2], SEED)
    assert [row["patient"] for row in rows] == ["P04", "P05"]
    sheet = pd.read_csv(tmp_path / "images.tsv", sep="\t")
    assert list(sheet.columns) == ["patient", "lesion", "image", "mask", "modality", "label"]
    assert sheet["lesion"].tolist() == ["L1", "L1"] and sheet["label"].tolist() == [1, 1]
    mask = sitk.ReadImage(sheet.loc[0, "mask"])
    assert sitk.GetArrayFromImage(mask).sum() > 0
    assert gzip.decompress((tmp_path / "img" / "P04" / "image.nii.gz").read_bytes())[:4] == \
        (348).to_bytes(4, "little")
    assert "risk" not in " ".join(sheet.columns)


def test_unknown_dicom_patient_is_refused(tmp_path):
    with pytest.raises(InputError, match="P99"):
        make_toy_images(tmp_path, PATIENTS[:1], SEED, dicom_patients=["P99"])
    assert not any(tmp_path.iterdir())
    with pytest.raises(InputError, match="'4-P04' is not NUMBER:ID"):
        toy_cli._parse_patients("4-P04")


def test_toy_plan_writes_rows_that_ingest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = toy.toy_image_rows("toy_cohort/images", 8)
    assert [row["patient"] for row in rows] == ["P01", "P02", "P03", "P04", "P05", "P06", "P08"]
    by_patient = {row["patient"]: row for row in rows}
    assert by_patient["P05"]["image"] == "toy_cohort/images/P05/dicom"
    assert by_patient["P02"]["modality"] == "CT" and by_patient["P01"]["modality"] == "MR"
    files = toy.toy_image_files(rows, directory=lambda path: f"directory({path})")
    assert "directory(toy_cohort/images/P05/dicom)" in files and len(files) == 14
    testcases = toy.bundled_testcase_files(REPO / "resources" / "imaging")
    if not all(Path(path).exists() for path in testcases):
        pytest.skip("pyradiomics test cases not in resources/imaging")
    toy_images.write_toy_images(rows, testcases, SEED)
    assert all(Path(path).exists() for path in toy.toy_image_files(rows))
    assert (Path(by_patient["P02"]["image"]).read_bytes()
            == Path(testcases[testcases.index(str(REPO / "resources/imaging/pyradiomics_testcases"
                                                      "/lung1_image.nrrd"))]).read_bytes())
    for row in rows:
        if row["patient"] == "P02":
            continue  # lung1 is 12 M voxels: copied byte for byte above, ingested elsewhere
        out = tmp_path / "results" / row["patient"]
        record = ingest_case(row["patient"], row["lesion"], row["image"], row["mask"],
                             row["modality"], row["label"], out / "image.nii.gz",
                             out / "mask.nii.gz")
        assert record["lesion_voxels"] > 0
        assert record["deidentified"] is (row["patient"] == "P05")
