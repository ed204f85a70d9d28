"""Names and paths of the toy cohort's samples and images, from the standard library only.

The workflow's rules import this module when the Snakefile is parsed (on every run) to list the
toy cohort's files, so it must import nothing else: ``toy_samples`` and ``toy_vcf_samples`` name
the samples, ``toy_image_rows``, ``toy_image_files`` and ``bundled_testcase_files`` the images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable


def toy_samples(n_patients: int) -> list[tuple[str, str, str]]:
    """(patient, sample, type) of the cohort, in sheet order; the last patient has no normal."""
    samples = []
    for number in range(1, n_patients + 1):
        patient = f"P{number:02d}"
        samples.append((patient, f"{patient}-T", "tumour"))
        if number < n_patients:
            samples.append((patient, f"{patient}-N", "normal"))
    return samples


def toy_vcf_samples(n_patients: int, n_vcf_patients: int) -> list[str]:
    """Tumour sample names of the VCF patients that follow ``n_patients`` read patients."""
    return [f"P{number:02d}-T" for number in range(n_patients + 1, n_patients + n_vcf_patients + 1)]


# ---------------------------------------------------------------------------------------------
# The workflow's toy cohort: patient number -> what its image is. Real pyradiomics test cases
# (NRRD, copied unchanged) for P01-P03, matched to the cancer type where one fits (P01 breast,
# P02 lung); phantoms for P04-P06 and P08, P05 as DICOM with planted PHI; P07 has no image, so
# later stages meet a patient without imaging. Patients after P08 get NIfTI phantoms.
PHANTOM, DICOM_PHANTOM = "phantom", "dicom_phantom"
TOY_IMAGE_PLAN = {1: "testcase:breast1", 2: "testcase:lung1", 3: "testcase:brain1",
                  4: PHANTOM, 5: DICOM_PHANTOM, 6: PHANTOM, 7: None, 8: PHANTOM}
TESTCASE_MODALITY = {"brain1": "MR", "breast1": "MR", "lung1": "CT"}
TESTCASE_FOLDER = "pyradiomics_testcases"


def toy_image_rows(outdir: str | Path, n_patients: int) -> list[dict]:
    """Image-sheet rows of the toy cohort's first ``n_patients`` (TOY_IMAGE_PLAN), plus 'source'.

    Paths are ``outdir``-joined strings; 'source' tells write_toy_images what to write
    (testcase:<name>, PHANTOM or DICOM_PHANTOM) and is not an image-sheet column.
    """
    rows = []
    for number in range(1, n_patients + 1):
        patient = f"P{number:02d}"
        source = TOY_IMAGE_PLAN.get(number, PHANTOM)
        if source is None:
            continue
        if source.startswith("testcase:"):
            folder = Path(outdir) / patient
            name = source.partition(":")[2]
            rows.append({"patient": patient, "lesion": "L1", "image": str(folder / "image.nrrd"),
                         "mask": str(folder / "mask.nrrd"), "modality": TESTCASE_MODALITY[name],
                         "label": 1, "source": source})
        else:
            rows.append(phantom_row(Path(outdir), patient, dicom=source == DICOM_PHANTOM))
    return rows


def toy_image_files(rows: list[dict], directory: Callable[[str], str] = str) -> list[str]:
    """Every path ``rows`` name (images and masks); a DICOM folder passed through ``directory``.

    In a rule's output give ``directory=directory`` (Snakemake's flag) so the series folder is a
    directory output; the plain strings serve as the image sheet's ``generated`` set.
    """
    files = []
    for row in rows:
        files.append(directory(row["image"]) if row["source"] == DICOM_PHANTOM else row["image"])
        files.append(row["mask"])
    return files


def bundled_testcase_files(resources_imaging: str | Path) -> list[str]:
    """The pyradiomics test-case NRRDs under ``resources_imaging`` that TOY_IMAGE_PLAN uses."""
    names = sorted({source.partition(":")[2] for source in TOY_IMAGE_PLAN.values()
                    if source and source.startswith("testcase:")})
    folder = Path(resources_imaging) / TESTCASE_FOLDER
    return [str(folder / f"{name}_{kind}.nrrd") for name in names for kind in ("image", "label")]


def phantom_row(outdir: Path, patient: str, dicom: bool) -> dict:
    """Image-sheet row of a toy phantom (NIfTI, or a DICOM series folder), plus its source."""
    image = outdir / patient / ("dicom" if dicom else "image.nii.gz")
    return {"patient": patient, "lesion": "L1", "image": str(image),
            "mask": str(outdir / patient / "mask.nii.gz"), "modality": "CT", "label": 1,
            "source": DICOM_PHANTOM if dicom else PHANTOM}
