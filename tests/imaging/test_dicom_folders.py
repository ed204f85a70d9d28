"""A DICOM folder holds one image series: two series are named by number and size (never by UID),
a stray non-DICOM file is ignored with a log line."""

import logging

import numpy as np
import pytest

from oncoweave.core.errors import InputError
from oncoweave.imaging import image_files
from oncoweave.toy.images import lesion_phantom, write_dicom_series


@pytest.fixture(scope="module")
def phantom():
    return lesion_phantom(0.6, np.random.default_rng(3))


def test_two_series_are_named_by_series_number_and_file_count(phantom, tmp_path):
    import pydicom

    image = phantom[0]
    folder = tmp_path / "two"
    write_dicom_series(image, folder, uid_seed="a")
    other = write_dicom_series(image[:, :, :10], tmp_path / "other", uid_seed="b")
    for k, path in enumerate(other):
        ds = pydicom.dcmread(path)
        ds.SeriesNumber = 7
        ds.save_as(folder / f"b_{k:04d}.dcm")
    uids = {pydicom.dcmread(path).SeriesInstanceUID for path in folder.iterdir()}
    with pytest.raises(InputError) as caught:
        image_files.read_image(folder)
    assert str(caught.value) == (
        f"{folder}: a DICOM folder must hold exactly one image series, found 2 (SeriesNumber 1: "
        f"{image.GetSize()[2]} files; SeriesNumber 7: 10 files): put each series in its own "
        "folder")
    assert not any(uid in str(caught.value) for uid in uids)


def test_a_stray_file_that_is_not_dicom_is_ignored_and_logged(phantom, tmp_path, caplog):
    folder = tmp_path / "series"
    written = write_dicom_series(phantom[0], folder)
    (folder / "README.txt").write_text("exported by the PACS\n")
    with caplog.at_level(logging.INFO, logger="oncoweave.imaging.image_files"):
        image = image_files.read_image(folder)
    assert image.GetSize() == phantom[0].GetSize()
    assert sorted(image_files.dicom_series_files(folder)) == sorted(written)
    assert f"{folder}: 1 file(s) not part of its DICOM image series ignored (not DICOM, or DICOM " \
           "without an image)" in caplog.text
    assert "README" not in caplog.text
