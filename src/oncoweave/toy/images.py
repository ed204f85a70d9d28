"""The toy cohort's images: CT-like phantoms whose lesion carries each patient's hidden risk.

The hidden risk in [0, 1] (``toy.clinical.hidden_risk``) is the quantity the later stages must
recover: the lesion phantom grows with it (radius), brightens with it (mean HU) and roughens with
it (heterogeneity, spiculated surface), so radiomics (volume, first-order mean, texture) and a CNN
can find it, and the outcome simulation draws from it. Nothing written here states the risk; the
image sheet gets paths only.

One patient can be written as a CT DICOM series instead of NIfTI, carrying PLANTED PHI in its
headers (names, IDs, dates, institution, free text, a private tag) so tests can check that none
of it reaches any output of the imaging stage. Everything is seeded: the same inputs give
byte-identical files.

The workflow's toy cohort (toy.layout.TOY_IMAGE_PLAN) mixes real pyradiomics test cases with
phantoms: ``toy.layout.toy_image_rows`` plans it, ``toy.layout.toy_image_files`` names its files,
``write_toy_images`` writes it. SimpleITK, pydicom and scipy are imported where used.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success, write_tsv
from oncoweave.toy.clinical import hidden_risk
from oncoweave.toy.layout import DICOM_PHANTOM, phantom_row

if TYPE_CHECKING:  # imported where used: the readers of PLANTED_PHI need none of them
    import pydicom
    import SimpleITK as sitk

logger = logging.getLogger(__name__)

PHANTOM_SIZE = (64, 64, 32)          # x, y, z voxels
PHANTOM_SPACING = (1.0, 1.0, 2.0)    # mm
PHANTOM_ORIGIN = (-31.5, -31.5, -31.0)  # mm: centres the grid on (0, 0, 0)
IMAGE_SHEET_COLUMNS = ("patient", "lesion", "image", "mask", "modality", "label")

# Lesion appearance as a function of risk r in [0, 1] (all linear in r, see lesion_phantom).
RADIUS_MM = (5.0, 9.0)          # radius = 5 + 9 r mm
MEAN_HU = (50.0, 90.0)          # mean = 50 + 90 r HU (enhancing soft tissue)
HETEROGENEITY_HU = (5.0, 40.0)  # sd of the smooth texture field = 5 + 40 r HU
SPICULATION = 0.6               # spike height = 0.6 r x radius
NOISE_HU = 12.0                 # scanner noise everywhere

# Planted PHI for the DICOM patient. Keys are DICOM keywords, or (group, element) for the private
# tag; every string carries "ZZPHI" or a distinctive name/date so a test can grep output bytes.
PRIVATE_CREATOR = "ZZPHI ONCOWEAVE TOY"
PLANTED_PHI: dict[str | tuple[int, int], str] = {
    "PatientName": "ZZPHI^Quixote^Zelda",
    "PatientID": "ZZPHI-MRN-4711",
    "PatientBirthDate": "19450317",
    "OtherPatientIDs": "ZZPHI-OTHER-0815",
    "PatientAddress": "ZZPHI 17 Rocinante Road, La Mancha",
    "StudyDate": "20190523",
    "SeriesDate": "20190523",
    "AcquisitionDate": "20190523",
    "ContentDate": "20190523",
    "StudyTime": "142233.917351",
    "InstitutionName": "ZZPHI Saint Elsewhere Hospital",
    "InstitutionAddress": "ZZPHI 1 Hospital Way, Elsewhere",
    "ReferringPhysicianName": "ZZPHI^Referrer^Dulcinea",
    "PerformingPhysicianName": "ZZPHI^Performer^Sancho",
    "OperatorsName": "ZZPHI^Operator^Rocinante",
    "AccessionNumber": "ZZPHIACC4711",
    "StudyID": "ZZPHI4711",
    "StationName": "ZZPHISTATION",
    "DeviceSerialNumber": "ZZPHI-SN-42",
    "StudyDescription": "ZZPHI chest CT of Zelda Quixote",
    "SeriesDescription": "ZZPHI axial series Quixote",
    "ProtocolName": "ZZPHI protocol Quixote",
    "ImageComments": "ZZPHI note: Zelda Quixote, born 1945-03-17, MRN ZZPHI-MRN-4711",
    (0x0011, 0x1010): "ZZPHI^PrivateName^Quixote",
}
RESCALE_INTERCEPT = -1024.0  # stored = HU + 1024, so a reader must apply the rescale to get HU
RESCALE_SLOPE = 1.0


def lesion_phantom(risk: float, rng: np.random.Generator) -> tuple[sitk.Image, sitk.Image]:
    """(CT-like int16 HU image, uint8 mask with label 1) of one lesion of ``risk``.

    The body is an ellipse of soft tissue (40 HU) with a fat rim, a vertebra-like bone disc and
    smooth background structure, in air. The lesion's radius, mean and heterogeneity grow
    linearly with ``risk`` (RADIUS_MM, MEAN_HU, HETEROGENEITY_HU) and its surface gets spikes of
    height SPICULATION x risk x radius; its centre is jittered by a few mm.
    """
    if not 0.0 <= risk <= 1.0:
        raise ValueError(f"risk must be in [0, 1], got {risk}")
    z, y, x = _physical_grid()
    hu = _body(x, y, rng)
    center = np.array([-6.0, -4.0, 0.0]) + rng.uniform(-4.0, 4.0, 3)
    lesion = _lesion_region(x, y, z, center, risk, rng)
    texture = _smooth_field(rng, sigma=1.5) * (HETEROGENEITY_HU[0] + HETEROGENEITY_HU[1] * risk)
    hu = np.where(lesion, MEAN_HU[0] + MEAN_HU[1] * risk + texture, hu)
    hu = hu + rng.normal(0.0, NOISE_HU, hu.shape)
    image = _on_phantom_grid(np.clip(np.rint(hu), -1024, 3071).astype(np.int16))
    mask = _on_phantom_grid(lesion.astype(np.uint8))
    return image, mask


def _physical_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre coordinates in mm, as (z, y, x) arrays of the numpy (z, y, x) shape."""
    axes = [origin + spacing * np.arange(n)
            for origin, spacing, n in zip(PHANTOM_ORIGIN, PHANTOM_SPACING, PHANTOM_SIZE)]
    return np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")


def _body(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ellipse = (x / 30.0) ** 2 + (y / 26.0) ** 2
    hu = np.full(x.shape, -1000.0)
    hu[ellipse <= 1.0] = -90.0  # subcutaneous fat rim
    inner = ellipse <= 0.8
    hu[inner] = 40.0 + 8.0 * _smooth_field(rng, sigma=4.0)[inner]
    hu[(x ** 2 + (y - 18.0) ** 2) <= 25.0] = 500.0  # vertebra-like bone, away from the lesion
    return hu


def _lesion_region(x, y, z, center: np.ndarray, risk: float,
                   rng: np.random.Generator) -> np.ndarray:
    offset = np.stack([x - center[0], y - center[1], z - center[2]])
    distance = np.sqrt((offset ** 2).sum(axis=0))
    unit = offset / np.maximum(distance, 1e-6)
    spikes = rng.normal(size=(8, 3))
    spikes /= np.linalg.norm(spikes, axis=1, keepdims=True)
    # Sharp bumps towards 8 random directions: max(0, u.v)^12 is ~1 along v and ~0 elsewhere.
    bumps = sum(np.clip(np.tensordot(direction, unit, axes=1), 0, None) ** 12
                for direction in spikes)
    radius = RADIUS_MM[0] + RADIUS_MM[1] * risk
    return distance <= radius * (1.0 + SPICULATION * risk * bumps)


def _smooth_field(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """A smooth Gaussian random field of unit standard deviation on the phantom grid."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.normal(size=PHANTOM_SIZE[::-1]), sigma, mode="wrap")
    return field / field.std()


def _on_phantom_grid(array: np.ndarray) -> sitk.Image:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing(PHANTOM_SPACING)
    image.SetOrigin(PHANTOM_ORIGIN)
    return image


def write_dicom_series(image: sitk.Image, folder: str | Path,
                       phi: dict[str | tuple[int, int], str] | None = None,
                       uid_seed: str = "oncoweave-toy") -> list[Path]:
    """Write a 3-D ``image`` (HU) as a CT Image Storage series, one file per slice, in ``folder``.

    Pixels are int16 stored as HU - RESCALE_INTERCEPT (so readers must apply the rescale). The
    headers carry ``phi`` (default PLANTED_PHI): DICOM keywords, or (group, element) tuples
    written as LO in a private block of PRIVATE_CREATOR. UIDs derive from ``uid_seed``, so the
    same call writes byte-identical files. The folder is replaced as a whole on success.
    """
    import pydicom
    import SimpleITK as sitk

    phi = PLANTED_PHI if phi is None else phi
    if image.GetDimension() != 3:
        raise ValueError(f"need a 3-D image, got {image.GetDimension()}-D")
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if np.linalg.det(direction) < 0:
        # DICOM derives the slice normal as row x column: a left-handed grid cannot round-trip.
        raise ValueError("a left-handed direction matrix cannot be written as a DICOM series")
    stored = np.rint((sitk.GetArrayFromImage(image).astype(np.float64) - RESCALE_INTERCEPT)
                     / RESCALE_SLOPE)
    if stored.min() < -32768 or stored.max() > 32767:
        raise ValueError("HU values do not fit int16 after the rescale")
    folder = Path(folder)
    temporary = folder.with_name(f".tmp{os.getpid()}.{folder.name}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        uids = _series_uids(uid_seed, image.GetSize()[2])
        names = []
        for k, pixels in enumerate(stored.astype("<i2")):
            dataset = _ct_slice(image, k, pixels, uids, phi)
            names.append(f"slice_{k:04d}.dcm")
            pydicom.dcmwrite(temporary / names[-1], dataset, enforce_file_format=True)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(temporary, folder)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return [folder / name for name in names]


def _series_uids(uid_seed: str, n_slices: int) -> dict[str, object]:
    from pydicom.uid import generate_uid

    def uid(*parts: str) -> str:
        return generate_uid(entropy_srcs=[uid_seed, "|", *parts])
    return {"study": uid("study"), "series": uid("series"), "frame": uid("frame"),
            "sop": [uid("sop", str(k)) for k in range(n_slices)]}


def _ct_slice(image: sitk.Image, k: int, pixels: np.ndarray, uids: dict,
              phi: dict[str | tuple[int, int], str]) -> pydicom.Dataset:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
    from pydicom.valuerep import DSfloat

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = uids["sop"][k]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uids["sop"][k]
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.Modality = "CT"
    ds.Manufacturer = "ONCOWEAVE TOY SCANNER"
    ds.ManufacturerModelName = "Phantom 1"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.BurnedInAnnotation = "NO"
    ds.KVP = DSfloat(120, auto_format=True)
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientSex = "F"
    ds.SeriesNumber = 1
    ds.InstanceNumber = k + 1
    ds.PositionReferenceIndicator = ""
    _set_geometry(ds, image, k)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = DSfloat(RESCALE_INTERCEPT, auto_format=True)
    ds.RescaleSlope = DSfloat(RESCALE_SLOPE, auto_format=True)
    ds.RescaleType = "HU"
    ds.PixelData = pixels.tobytes()
    for tag, value in phi.items():
        if isinstance(tag, tuple):
            block = ds.private_block(tag[0], PRIVATE_CREATOR, create=True)
            block.add_new(tag[1] & 0xFF, "LO", value)
        else:
            setattr(ds, tag, value)
    return ds


def _set_geometry(ds: pydicom.Dataset, image: sitk.Image, k: int) -> None:
    from pydicom.valuerep import DSfloat

    direction = np.array(image.GetDirection()).reshape(3, 3)
    spacing = image.GetSpacing()
    position = image.TransformIndexToPhysicalPoint((0, 0, k))
    ds.ImagePositionPatient = [DSfloat(v, auto_format=True) for v in position]
    # Row direction (along x/columns) then column direction (along y/rows).
    ds.ImageOrientationPatient = [DSfloat(v, auto_format=True)
                                  for v in [*direction[:, 0], *direction[:, 1]]]
    ds.PixelSpacing = [DSfloat(spacing[1], auto_format=True),
                       DSfloat(spacing[0], auto_format=True)]
    ds.SliceThickness = DSfloat(spacing[2], auto_format=True)
    ds.SpacingBetweenSlices = DSfloat(spacing[2], auto_format=True)
    ds.SliceLocation = DSfloat(float(np.dot(position, direction[:, 2])), auto_format=True)


def make_toy_images(outdir: str | Path, patients: Iterable[tuple[int, str]], seed: int,
                    dicom_patients: Iterable[str] = ()) -> list[dict]:
    """Write each patient's phantom; return the image-sheet rows (paths outdir-joined strings).

    ``patients`` are (patient_number, patient_id); the number keys hidden_risk. A patient in
    ``dicom_patients`` gets outdir/<patient>/dicom/ (a CT series with PLANTED_PHI) instead of
    outdir/<patient>/image.nii.gz; every patient gets outdir/<patient>/mask.nii.gz (label 1).
    """
    patients, dicom_patients = list(patients), set(dicom_patients)
    unknown = dicom_patients - {patient for _, patient in patients}
    if unknown:
        raise InputError(f"DICOM patient(s) {', '.join(sorted(unknown))} are not toy patients")
    rows = []
    for number, patient in patients:
        row = phantom_row(Path(outdir), patient, dicom=patient in dicom_patients)
        write_phantom(row, number, seed)
        rows.append({column: row[column] for column in IMAGE_SHEET_COLUMNS})
    return rows


def write_phantom(row: dict, patient_number: int, seed: int) -> None:
    """The phantom of ``row`` (image-sheet row with source PHANTOM or DICOM_PHANTOM)."""
    rng = np.random.default_rng([seed, patient_number, 1])  # a stream apart from hidden_risk's
    image, mask = lesion_phantom(hidden_risk(patient_number, seed), rng)
    if row["source"] == DICOM_PHANTOM:
        write_dicom_series(image, row["image"], PLANTED_PHI, uid_seed=f"{seed}|{row['patient']}")
    else:
        _write_nifti(image, Path(row["image"]))
    _write_nifti(mask, Path(row["mask"]))


def write_toy_images(rows: list[dict], testcases: Iterable[str | Path], seed: int) -> None:
    """Write every row of ``toy_image_rows``: test cases copied from ``testcases``, phantoms
    generated (seeded: the same seed gives byte-identical files)."""
    by_name = {Path(path).name: Path(path) for path in testcases}
    for row in rows:
        source = row["source"]
        if source.startswith("testcase:"):
            name = source.partition(":")[2]
            for kind, target in (("image", row["image"]), ("label", row["mask"])):
                original = by_name.get(f"{name}_{kind}.nrrd")
                if original is None:
                    raise InputError(f"{row['patient']}: test case file {name}_{kind}.nrrd is not "
                                     f"among the inputs ({', '.join(sorted(by_name)) or 'none'})")
                with replaced_on_success(target) as temporary:
                    shutil.copyfile(original, temporary)
        else:
            write_phantom(row, int(row["patient"].lstrip("P")), seed)
        logger.info("toy image of %s (%s) written", row["patient"], source)


def _write_nifti(image: sitk.Image, path: Path) -> None:
    import SimpleITK as sitk

    with replaced_on_success(path) as temporary:
        sitk.WriteImage(image, str(temporary), useCompression=True)


def write_images_sheet(rows: list[dict], path: str | Path) -> None:
    """The image sheet (IMAGE_SHEET_COLUMNS) of ``rows``, as a TSV written atomically."""
    write_tsv(pd.DataFrame(rows, columns=list(IMAGE_SHEET_COLUMNS)), path)
