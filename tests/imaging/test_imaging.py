"""Image ingest: NIfTI/NRRD/DICOM round trips, PS3.15 de-identification, grid checks, bad inputs."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from helpers import REPO
from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.imaging import deidentify, image_files
from oncoweave.imaging import ingest as imaging
from oncoweave.imaging.deidentify import deidentified_header, deidentify_dataset
from oncoweave.imaging.ingest import INGEST_SCHEMA, ingest_case
from oncoweave.toy.images import PLANTED_PHI, lesion_phantom, write_dicom_series

PYRADIOMICS_CASES = REPO / "resources" / "imaging" / "pyradiomics_testcases"


@pytest.fixture(scope="module")
def phantom() -> tuple[sitk.Image, sitk.Image]:
    return lesion_phantom(0.6, np.random.default_rng(3))


@pytest.fixture
def nifti_case(tmp_path, phantom) -> tuple[Path, Path]:
    image, mask = phantom
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(mask, str(tmp_path / "seg.nii.gz"))
    return tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz"


@pytest.fixture
def dicom_case(tmp_path, phantom) -> tuple[Path, Path]:
    image, mask = phantom
    write_dicom_series(image, tmp_path / "series")
    sitk.WriteImage(mask, str(tmp_path / "seg.nii.gz"))
    return tmp_path / "series", tmp_path / "seg.nii.gz"


def ingest(image, mask, out: Path, label: int = 1, salt: str = "test-salt", **kwargs) -> dict:
    return ingest_case("P05", "L1", image, mask, "CT", label, out / "image.nii.gz",
                       out / "mask.nii.gz", salt, out_ingest=out / "ingest.parquet", **kwargs)


def assert_same_grid(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)


def test_nifti_round_trip(nifti_case, phantom, tmp_path):
    image, mask = phantom
    record = ingest(*nifti_case, tmp_path / "out")
    written = sitk.ReadImage(str(tmp_path / "out" / "image.nii.gz"))
    written_mask = sitk.ReadImage(str(tmp_path / "out" / "mask.nii.gz"))
    assert written.GetPixelID() == sitk.sitkFloat32 and written_mask.GetPixelID() == sitk.sitkUInt8
    assert_same_grid(written, image)
    assert_same_grid(written_mask, image)
    hu = sitk.GetArrayFromImage(image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), hu)
    inside = sitk.GetArrayFromImage(mask) == 1
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written_mask), inside)
    assert record["source_format"] == "nifti" and record["deidentified"] is False
    assert record["uid"] is None
    assert (record["size_x"], record["size_y"], record["size_z"]) == (64, 64, 32)
    assert record["lesion_voxels"] == inside.sum()
    assert record["lesion_volume_ml"] == pytest.approx(inside.sum() * 2.0 / 1000)
    assert record["intensity_mean"] == pytest.approx(hu[inside].mean())
    assert (record["intensity_min"], record["intensity_max"]) == (hu[inside].min(),
                                                                  hu[inside].max())
    table, meta = read_parquet(tmp_path / "out" / "ingest.parquet", INGEST_SCHEMA)
    assert table.iloc[0]["lesion_voxels"] == inside.sum()
    assert meta["deid_table"] == "dicomfields_2026c"
    assert meta["simpleitk_version"] == sitk.Version_VersionString()


def test_nrrd_metadata_is_dropped(phantom, tmp_path):
    image, mask = phantom
    tagged = sitk.Image(image)
    tagged.SetMetaData("descrip", "ZZPHI^Nrrd")  # NRRD key/values reach NIfTI fields
    sitk.WriteImage(tagged, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "seg.nrrd"))
    assert b"ZZPHI" in (tmp_path / "ct.nrrd").read_bytes()
    record = ingest(tmp_path / "ct.nrrd", tmp_path / "seg.nrrd", tmp_path / "out")
    assert record["source_format"] == "nrrd"
    written = tmp_path / "out" / "image.nii.gz"
    assert b"zzphi" not in gzip.decompress(written.read_bytes()).lower()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(written))),
                                  sitk.GetArrayFromImage(image))


def test_read_and_write_carry_no_metadata(phantom, tmp_path):
    tagged = sitk.Image(phantom[1])
    tagged.SetMetaData("descrip", "ZZPHI^Descrip")
    tagged.SetMetaData("aux_file", "ZZPHI^Aux")
    sitk.WriteImage(tagged, str(tmp_path / "seg.nrrd"))
    assert image_files.read_image(tmp_path / "seg.nrrd").GetMetaDataKeys() == ()
    image_files.write_nifti(tagged, tmp_path / "seg.nii.gz")
    reread = sitk.ReadImage(str(tmp_path / "seg.nii.gz"))
    assert (reread.GetMetaData("descrip"), reread.GetMetaData("aux_file")) == ("", "")


@pytest.mark.skipif(not (PYRADIOMICS_CASES / "breast1_image.nrrd").exists(),
                    reason="pyradiomics test case breast1 not in resources/imaging")
def test_pyradiomics_nrrd_case(tmp_path):
    source = sitk.ReadImage(str(PYRADIOMICS_CASES / "breast1_image.nrrd"))
    record = ingest(PYRADIOMICS_CASES / "breast1_image.nrrd",
                    PYRADIOMICS_CASES / "breast1_label.nrrd", tmp_path / "out")
    written = sitk.ReadImage(str(tmp_path / "out" / "image.nii.gz"))
    assert_same_grid(written, source)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(source))
    assert (record["size_x"], record["size_y"], record["size_z"]) == (45, 120, 21)
    assert record["spacing_z"] == pytest.approx(2.1)


def test_dicom_round_trip_applies_rescale(dicom_case, phantom, tmp_path):
    image, mask = phantom
    stored = pydicom.dcmread(sorted(dicom_case[0].iterdir())[0]).pixel_array
    np.testing.assert_array_equal(stored, sitk.GetArrayFromImage(image)[0] + 1024)
    record = ingest(*dicom_case, tmp_path / "out")
    written = sitk.ReadImage(str(tmp_path / "out" / "image.nii.gz"))
    assert_same_grid(written, image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(image))
    assert record["source_format"] == "dicom" and record["deidentified"] is True
    assert record["uid"].startswith("2.25.")


def test_dicom_per_slice_rescale_is_not_truncated(phantom, tmp_path):
    # PET series carry one RescaleSlope per slice; the first slice's slope 1 must not make the
    # whole volume integer.
    expected = []
    for k, path in enumerate(write_dicom_series(phantom[0], tmp_path / "series")):
        ds = pydicom.dcmread(path)
        ds.RescaleSlope = [1.0, 0.3, 0.7][k % 3]
        ds.save_as(path)
        expected.append(ds.pixel_array * float(ds.RescaleSlope) - 1024.0)
    read = image_files.read_image(tmp_path / "series")
    np.testing.assert_allclose(sitk.GetArrayFromImage(read), np.array(expected), atol=1e-3)


def test_dicom_series_keeps_an_oblique_grid(phantom, tmp_path):
    image = sitk.Image(phantom[0])
    angle = np.deg2rad(30)
    image.SetDirection([np.cos(angle), -np.sin(angle), 0, np.sin(angle), np.cos(angle), 0,
                        0, 0, 1])
    image.SetOrigin((12.25, -40.5, 101.0))
    write_dicom_series(image, tmp_path / "series")
    read = image_files.read_image(tmp_path / "series")
    assert_same_grid(read, image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read), sitk.GetArrayFromImage(image))


def test_dicom_labelmap_mask_series(phantom, tmp_path):
    image, mask = phantom
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    write_dicom_series(sitk.Cast(mask, sitk.sitkInt16) * 2, tmp_path / "mask_series")
    record = ingest(tmp_path / "ct.nii.gz", tmp_path / "mask_series", tmp_path / "out", label=2)
    assert record["lesion_voxels"] == sitk.GetArrayFromImage(mask).sum()
    written = sitk.ReadImage(str(tmp_path / "out" / "mask.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(mask))


# --- de-identification -----------------------------------------------------------------------

PHI_WORDS = ["zzphi", "quixote", "zelda", "rocinante", "dulcinea", "sancho", "elsewhere",
             "mancha", "mrn-4711", "142233.917351"]


def phi_needles() -> list[bytes]:
    """Every planted value, its distinctive words, and the dates in the forms people write."""
    needles = {value.lower() for value in PLANTED_PHI.values()} | set(PHI_WORDS)
    for date in (PLANTED_PHI["PatientBirthDate"], PLANTED_PHI["StudyDate"]):
        y, m, d = date[:4], date[4:6], date[6:]
        needles |= {date, f"{y}-{m}-{d}", f"{d}.{m}.{y}", f"{m}/{d}/{y}", f"{d}/{m}/{y}"}
    return sorted(needle.encode() for needle in needles)


def source_uids(folder: Path) -> set[str]:
    uids = set()
    for path in folder.iterdir():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        uids |= {ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID,
                 ds.FrameOfReferenceUID}
    return uids


def test_no_phi_reaches_outputs_or_logs(dicom_case, tmp_path, caplog, capfd):
    folder, mask = dicom_case
    raw = b"".join(path.read_bytes() for path in folder.iterdir()).lower()
    needles = phi_needles()
    planted = [value.lower().encode() for value in PLANTED_PHI.values()] + [b"1945-03-17"]
    assert all(value in raw for value in planted), "the PHI is planted in the source"
    with caplog.at_level(logging.DEBUG):
        assert main(["ingest-image", "--patient", "P05", "--image", str(folder), "--mask",
                     str(mask), "--modality", "CT", "--output-dir", str(tmp_path / "out")]) == 0
    outputs = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert sorted(outputs) == ["image.nii.gz", "ingest.parquet", "mask.nii.gz"]
    outputs["image.nii.gz"] = gzip.decompress(outputs["image.nii.gz"])
    outputs["mask.nii.gz"] = gzip.decompress(outputs["mask.nii.gz"])
    captured = capfd.readouterr()
    outputs["log"] = (caplog.text + captured.out + captured.err).encode()
    assert b"P05" in outputs["log"]  # the log was captured
    for name, content in outputs.items():
        found = [needle for needle in needles if needle in content.lower()]
        assert not found, f"{name} holds planted PHI {found}"
        leaked = [uid for uid in source_uids(folder) if uid.encode() in content]
        assert not leaked, f"{name} holds an original UID"
    _, meta = read_parquet(tmp_path / "out" / "ingest.parquet")
    header = json.loads(meta["dicom_header"])
    assert header["Modality"] == "CT" and header["PixelSpacing"] == [1.0, 1.0]
    assert set(header) == set(deidentify.HEADER_WHITELIST)


def test_profile_removes_identifying_attributes(dicom_case):
    ds = pydicom.dcmread(sorted(dicom_case[0].iterdir())[0])
    assert any(element.tag.is_private for element in ds)
    deidentify_dataset(ds, "test-salt")
    assert not any(element.tag.is_private for element in ds)
    for keyword, value in PLANTED_PHI.items():
        if isinstance(keyword, str) and keyword in ds:
            assert str(ds[keyword].value) in ("", "ANONYMIZED", "00010101", "000000.00"), keyword
    for keyword in ("StudyDescription", "SeriesDescription", "ImageComments", "PatientAddress",
                    "OtherPatientIDs", "InstitutionAddress", "PerformingPhysicianName"):
        assert keyword not in ds, keyword
    assert ds.PatientName == "" and ds.PatientBirthDate == "00010101"
    assert ds.PatientIdentityRemoved == "YES"
    # Technical attributes stay.
    assert (ds.Modality, float(ds.RescaleIntercept), float(ds.SliceThickness)) == ("CT", -1024, 2)
    np.testing.assert_array_equal(ds.pixel_array.shape, (64, 64))


def test_uids_are_replaced_consistently(dicom_case, tmp_path):
    folder = dicom_case[0]
    slices = [pydicom.dcmread(path, stop_before_pixels=True) for path in sorted(folder.iterdir())]
    originals = [(ds.SeriesInstanceUID, ds.SOPInstanceUID) for ds in slices]
    renamed = [deidentify_dataset(ds, "test-salt") for ds in slices]
    assert len({ds.SeriesInstanceUID for ds in renamed}) == 1  # one series stays one series
    assert len({ds.SOPInstanceUID for ds in renamed}) == len(renamed)
    assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in renamed)
    assert renamed[0].SeriesInstanceUID not in {uid for pair in originals for uid in pair}
    assert renamed[0].SOPClassUID == pydicom.uid.CTImageStorage  # a class UID names no one
    first = deidentified_header(folder, "test-salt")["SeriesInstanceUID"]
    assert first == renamed[0].SeriesInstanceUID
    assert deidentified_header(folder, "test-salt")["SeriesInstanceUID"] == first
    assert deidentified_header(folder, "other-salt")["SeriesInstanceUID"] != first
    # A second process (the package's own replacement is random per process) agrees.
    code = ("import sys; from oncoweave.imaging.deidentify import deidentified_header; "
            "print(deidentified_header(sys.argv[1], 'test-salt')['SeriesInstanceUID'])")
    other_run = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                               text=True, check=True).stdout.strip()
    assert other_run == first
    record = ingest(*dicom_case, tmp_path / "out")
    assert record["uid"] == first


def test_uids_nested_in_sequences_are_salted():
    ds = pydicom.Dataset()
    reference = pydicom.Dataset()
    reference.ReferencedSOPClassUID = pydicom.uid.CTImageStorage
    reference.ReferencedSOPInstanceUID = "1.2.3.4.5"
    ds.ReferencedImageSequence = [reference]  # an X/Z/U* attribute
    ds.SeriesInstanceUID = "1.2.3"
    first = deidentify_dataset(ds, "s")
    item = first.ReferencedImageSequence[0]
    assert item.ReferencedSOPInstanceUID == deidentify.deidentified_uid("1.2.3.4.5", "s")
    assert item.ReferencedSOPClassUID == pydicom.uid.CTImageStorage
    assert first.SeriesInstanceUID == deidentify.deidentified_uid("1.2.3", "s") != "1.2.3"


def test_burned_in_annotation_is_refused(dicom_case, tmp_path):
    folder, mask = dicom_case
    path = sorted(folder.iterdir())[5]
    ds = pydicom.dcmread(path)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(path)
    with pytest.raises(InputError, match="BurnedInAnnotation is YES") as err:
        ingest(folder, mask, tmp_path / "out")
    assert "patient P05" in str(err.value) and path.name in str(err.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- bad inputs ------------------------------------------------------------------------------

def _shifted(image: sitk.Image, **changes) -> sitk.Image:
    changed = sitk.Image(image)
    for name, value in changes.items():
        getattr(changed, f"Set{name}")(value)
    return changed


def write_seg(folder: Path, modality: str) -> Path:
    folder.mkdir()
    meta = FileMetaDataset()
    sop_class = image_files.UNSUPPORTED_DICOM[modality]
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[modality])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[modality, "series"])
    path = folder / f"{modality.lower()}.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def bad_mask(kind: str, tmp_path: Path, image: sitk.Image, mask: sitk.Image) -> tuple[Path, str]:
    """(mask path, expected message part) for one kind of bad mask."""
    path = tmp_path / "bad_mask.nii.gz"
    if kind == "size":
        sitk.WriteImage(mask[:, :, :30], str(path))
        return path, "size 64x64x32 vs 64x64x30"
    if kind == "spacing":
        sitk.WriteImage(_shifted(mask, Spacing=(0.78, 0.78, 6.5)), str(path))
        return path, "spacing 1x1x2 vs 0.78x0.78x6.5 mm"
    if kind == "origin":
        sitk.WriteImage(_shifted(mask, Origin=(-31.5, -31.5, -30.0)), str(path))
        return path, "origin (-31.5, -31.5, -31) vs (-31.5, -31.5, -30) mm"
    if kind == "direction":
        sitk.WriteImage(_shifted(mask, Direction=(1, 0, 0, 0, -1, 0, 0, 0, -1)), str(path))
        return path, "direction (1, 0, 0, 0, 1, 0, 0, 0, 1) vs (1, 0, 0, 0, -1, 0, 0, 0, -1)"
    if kind == "empty":
        sitk.WriteImage(mask * 0, str(path))
        return path, "the mask is empty"
    if kind == "label":
        sitk.WriteImage(mask * 3, str(path))
        return path, "label 1 is not in the mask (labels found: 3)"
    if kind == "missing":
        return tmp_path / "absent.nii.gz", "not found"
    if kind == "not_an_image":
        path.write_text("patient\tlesion\nP05\tL1\n")
        return path, "cannot read image"
    if kind == "unknown_form":
        (tmp_path / "mask.csv").write_text("1,2\n")
        return tmp_path / "mask.csv", "not an image: give a .nii, .nii.gz or .nrrd file"
    if kind == "two_series":
        write_dicom_series(mask, tmp_path / "two", uid_seed="a")
        write_dicom_series(mask, tmp_path / "other", uid_seed="b")
        for k, file in enumerate(sorted((tmp_path / "other").iterdir())):
            file.rename(tmp_path / "two" / f"b_{k:04d}.dcm")
        return tmp_path / "two", "exactly one image series, found 2"
    if kind == "empty_folder":
        (tmp_path / "nothing").mkdir()
        return tmp_path / "nothing", "exactly one image series, found 0"
    if kind == "seg":
        write_seg(tmp_path / "seg_folder", "SEG")
        return tmp_path / "seg_folder", "DICOM SEG is not supported"
    if kind == "rtstruct_file":
        return write_seg(tmp_path / "rt", "RTSTRUCT"), "DICOM RTSTRUCT is not supported"
    raise AssertionError(kind)


BAD_MASKS = ["size", "spacing", "origin", "direction", "empty", "label", "missing",
             "not_an_image", "unknown_form", "two_series", "empty_folder", "seg", "rtstruct_file"]


@pytest.mark.parametrize("kind", BAD_MASKS)
def test_bad_mask_is_one_clear_error_and_leaves_nothing(kind, nifti_case, phantom, tmp_path):
    image_path = nifti_case[0]
    mask_path, expected = bad_mask(kind, tmp_path, *phantom)
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        ingest(image_path, mask_path, out)
    message = str(err.value)
    assert expected in message
    assert "patient P05, lesion L1" in message
    assert str(image_path) in message and str(mask_path) in message
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("kind", ["missing", "two_series", "seg", "not_an_image"])
def test_bad_image_is_one_clear_error(kind, nifti_case, phantom, tmp_path):
    image_path, expected = bad_mask(kind, tmp_path, *phantom)
    with pytest.raises(InputError) as err:
        ingest(image_path, nifti_case[1], tmp_path / "out")
    message = str(err.value)
    assert expected in message and "patient P05, lesion L1: image" in message
    assert str(image_path) in message and str(nifti_case[1]) in message
    assert not (tmp_path / "out").exists()


def test_modality_must_match_the_dicom(dicom_case, tmp_path):
    with pytest.raises(InputError, match="DICOM Modality is CT but the sheet says MR"):
        ingest_case("P05", "L1", *dicom_case, "MR", 1, tmp_path / "i.nii.gz",
                    tmp_path / "m.nii.gz")


def test_grid_differences_within_tolerance_pass(phantom, tmp_path):
    image, mask = phantom
    nudged = _shifted(mask, Origin=(-31.5 + 5e-4, -31.5, -31.0), Spacing=(1.0005, 1.0, 2.0))
    imaging.check_geometry(image, nudged, "P05")
    with pytest.raises(InputError, match="spacing 1x1x2 vs 1.002x1x2"):
        imaging.check_geometry(image, _shifted(mask, Spacing=(1.002, 1.0, 2.0)), "P05")


def test_cli_bad_input_exits_2(nifti_case, tmp_path, capsys):
    code = main(["ingest-image", "--patient", "P05", "--image", str(nifti_case[0]), "--mask",
                 str(nifti_case[1]), "--modality", "CT", "--label", "4",
                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "label 4 is not in the mask (labels found: 1)" in err


def test_ingested_cases_pair_records_with_their_files(nifti_case, tmp_path):
    ingest(*nifti_case, tmp_path / "a")
    ingest(*nifti_case, tmp_path / "b")
    records = [tmp_path / name / "ingest.parquet" for name in "ab"]
    images = [str(tmp_path / name / "image.nii.gz") for name in "ab"]
    masks = [str(tmp_path / name / "mask.nii.gz") for name in "ab"]
    cases = imaging.ingested_cases(records, images, masks)
    assert cases[1] == {"patient": "P05", "lesion": "L1", "modality": "CT", "image": images[1],
                        "mask": masks[1], "label": 1, "mask_source": "given"}
    with pytest.raises(InputError, match="records image .*/a/image.nii.gz, not .*/b/image"):
        imaging.ingested_cases(records[:1], images[1:], masks[:1])
    with pytest.raises(InputError, match="2 ingest records but 1 images"):
        imaging.ingested_cases(records, images[:1], masks)


def test_row_without_a_mask_is_ingested_as_its_image_alone(nifti_case, phantom, tmp_path):
    """De-identified and read like any image; no mask working copy; the record says 'none yet';
    the models' cases (given masks only) leave it out, the segmenter's have it alone."""
    image, _ = phantom
    ingest(*nifti_case, tmp_path / "a")
    record = ingest(nifti_case[0], "", tmp_path / "b")
    assert record["mask_source"] == "none yet" and record["mask"] is None
    assert record["lesion_voxels"] is None and record["lesion_volume_ml"] is None
    assert_same_grid(sitk.ReadImage(str(tmp_path / "b" / "image.nii.gz")), image)
    assert not (tmp_path / "b" / "mask.nii.gz").exists()
    table, _ = read_parquet(tmp_path / "b" / "ingest.parquet", INGEST_SCHEMA)
    assert table.iloc[0]["mask_source"] == "none yet"
    files = ([tmp_path / n / "ingest.parquet" for n in "ab"],
             [str(tmp_path / n / "image.nii.gz") for n in "ab"],
             [str(tmp_path / n / "mask.nii.gz") for n in "ab"])
    assert [c["image"] for c in imaging.ingested_cases(*files)] == [files[1][0]]
    maskless = imaging.ingested_cases(*files, which=imaging.MASK_NONE_YET)
    assert [(c["image"], c["mask"], c["mask_source"]) for c in maskless] == [
        (files[1][1], None, "none yet")]
    assert [c["mask_source"] for c in imaging.ingested_cases(*files, which="all")] == [
        "given", "none yet"]


def test_dicom_row_without_a_mask_is_deidentified(dicom_case, tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        record = ingest(dicom_case[0], None, tmp_path / "out")
    assert record["deidentified"] is True and record["mask_source"] == "none yet"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["image.nii.gz",
                                                                    "ingest.parquet"]
    table, meta = read_parquet(tmp_path / "out" / "ingest.parquet", INGEST_SCHEMA)
    texts = [gzip.decompress((tmp_path / "out" / "image.nii.gz").read_bytes()),
             (table.to_csv() + str(meta) + caplog.text).encode()]
    planted = [value.lower().encode() for value in PLANTED_PHI.values()]
    assert not [value for value in planted for text in texts if value in text.lower()]
