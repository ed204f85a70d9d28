"""A lesion's image files: read NIfTI/NRRD or a one-series DICOM folder, write NIfTI; no metadata.

DICOM-SEG and RTSTRUCT masks are refused with a conversion hint. Voxels and geometry are copied
onto fresh images (SimpleITK metadata dictionaries are dropped, NRRD key/values included), and a
written NIfTI's ``descrip``/``aux_file``/``intent_name`` are checked to be empty.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from oncoweave.core.errors import InputError

if TYPE_CHECKING:  # SimpleITK is imported where used: the command line starts without it
    import SimpleITK as sitk

FILE_FORMATS = {".nii": "nifti", ".nii.gz": "nifti", ".nrrd": "nrrd"}

# Mask objects that are not an image series: refused with a conversion hint.
UNSUPPORTED_DICOM = {"SEG": "1.2.840.10008.5.1.4.1.1.66.4",
                     "RTSTRUCT": "1.2.840.10008.5.1.4.1.1.481.3"}
NIFTI_TEXT_FIELDS = ("descrip", "aux_file", "intent_name")  # must stay empty in what we write

log = logging.getLogger(__name__)


def source_format(path: str | Path) -> str:
    """dicom (a folder), nifti or nrrd, from the path's form; InputError for anything else."""
    path = Path(path)
    if path.is_dir():
        return "dicom"
    name = path.name.lower()
    for suffix, kind in FILE_FORMATS.items():
        if name.endswith(suffix):
            return kind
    unsupported = _unsupported_dicom_kind(path) if path.is_file() else None
    if unsupported is not None:
        raise InputError(_unsupported_message(unsupported), path=path)
    raise InputError("not an image: give a .nii, .nii.gz or .nrrd file or a DICOM series folder",
                     path=path)


def read_image(path: str | Path) -> sitk.Image:
    """A 3-D scalar image from a NIfTI/NRRD file or a one-series DICOM folder, metadata-free.

    DICOM pixels come with the rescale applied (CT: HU). Missing or unreadable input is an
    InputError naming the file or folder.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise InputError("not found", path=path)
    if source_format(path) == "dicom":
        reader = sitk.ImageSeriesReader()
        # Float output: slices may carry different rescale slopes (PET), which an integer
        # output type chosen from the first slice would truncate.
        reader.SetOutputPixelType(sitk.sitkFloat32)
        reader.SetFileNames([str(name) for name in dicom_series_files(path)])
        image = _execute(reader.Execute, path)
    else:
        image = _execute(lambda: sitk.ReadImage(str(path)), path)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"need a 3-D single-component volume, got {image.GetDimension()}-D with "
                         f"{image.GetNumberOfComponentsPerPixel()} component(s)", path=path)
    return pixels_only(image)


def _execute(read: Callable[[], sitk.Image], path: Path) -> sitk.Image:
    try:
        return read()
    except RuntimeError as err:
        # SimpleITK's message ends with the reason after "sitk::ERROR:"; the rest is C++ location.
        reason = str(err).strip().splitlines()[-1].split("sitk::ERROR:")[-1].strip()
        raise InputError(f"cannot read image ({reason})", path=path) from None


def pixels_only(image: sitk.Image) -> sitk.Image:
    """The voxels and grid of ``image`` on a fresh image: no metadata dictionary comes along."""
    import SimpleITK as sitk

    clean = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(image))
    clean.CopyInformation(image)  # origin, spacing, direction only
    for key in clean.GetMetaDataKeys():
        clean.EraseMetaData(key)
    return clean


def dicom_series_files(folder: str | Path) -> list[Path]:
    """The files of the one DICOM image series in ``folder``, in slice order (GDCM's).

    A SEG/RTSTRUCT object, no series or several series is an InputError naming the folder (with
    each series' SeriesNumber and file count: never a UID or another header value). Other files
    (not DICOM: a README, a DICOMDIR) are ignored, their count logged (not their names).
    """
    import SimpleITK as sitk

    folder = Path(folder)
    files = [path for path in sorted(folder.iterdir()) if path.is_file()]
    for path in files:
        kind = _unsupported_dicom_kind(path)
        if kind is not None:
            raise InputError(f"{path.name}: {_unsupported_message(kind)}", path=folder)
    # GDCM warns on stderr about an empty folder; no files means no series anyway.
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) if files else ()
    if len(series) != 1:
        raise InputError(f"a DICOM folder must hold exactly one image series, found "
                         f"{len(series)}" + (f" ({_series_counts(folder, series)}): put each "
                                             "series in its own folder" if series else ""),
                         path=folder)
    names = [Path(name) for name in
             sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0])]
    ignored = len(files) - len(set(names) & set(files))
    if ignored:
        log.info("%s: %d file(s) not part of its DICOM image series ignored (not DICOM, or "
                 "DICOM without an image)", folder, ignored)
    return names


def _series_counts(folder: Path, series: tuple[str, ...]) -> str:
    """'SeriesNumber 3: 120 files; SeriesNumber 5: 64 files' (no UID: they identify a study)."""
    import pydicom
    import SimpleITK as sitk

    counts = []
    for uid in series:
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
        try:
            number = pydicom.dcmread(names[0], stop_before_pixels=True,
                                     specific_tags=["SeriesNumber"]).get("SeriesNumber", "")
        except (OSError, ValueError, TypeError, EOFError):
            number = ""
        counts.append((str(number) if number != "" else "none", len(names)))
    return "; ".join(f"SeriesNumber {number}: {count} files" for number, count in
                     sorted(counts, key=lambda item: (len(item[0]), item)))


def _unsupported_dicom_kind(path: Path) -> str | None:
    """SEG or RTSTRUCT when ``path`` is such a DICOM object; None otherwise (also non-DICOM)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True,
                                 specific_tags=["Modality", "SOPClassUID"])
    except (InvalidDicomError, OSError, ValueError, TypeError, EOFError):
        return None
    for kind, sop_class in UNSUPPORTED_DICOM.items():
        if header.get("Modality") == kind or header.get("SOPClassUID") == sop_class:
            return kind
    return None


def _unsupported_message(kind: str) -> str:
    return (f"DICOM {kind} is not supported; convert it to a NIfTI labelmap on the image grid "
            "(e.g. dcmqi segimage2itkimage for SEG, plastimatch convert for RTSTRUCT)")


def write_nifti(image: sitk.Image, path: str | Path) -> None:
    """Write ``image`` as NIfTI with no metadata; check its free-text header fields are empty."""
    import SimpleITK as sitk

    sitk.WriteImage(pixels_only(image), str(path), useCompression=True)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    filled = [key for key in NIFTI_TEXT_FIELDS
              if reader.HasMetaDataKey(key) and reader.GetMetaData(key).strip()]
    if filled:  # a SimpleITK change would have to cause this, never the input
        raise RuntimeError(f"NIfTI header text field(s) {', '.join(filled)} not empty in {path}")
