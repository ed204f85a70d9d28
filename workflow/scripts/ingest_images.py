"""The shard's lesion rows of the image sheet: read (DICOM de-identified), check geometry, write
NIfTI working copies and an ingest record to <folder>/<patient>/<lesion>/."""
from pathlib import Path

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.core.errors import InputError
from oncoweave.imaging.ingest import ingest_case


def main():
    # Written in place: each record names its working copies' final paths. A bad lesion fails the
    # job, and Snakemake removes the whole folder, so no partial shard is left behind.
    for row in each_patient(snakemake.params.lesions):
        lesion = Path(snakemake.output[0]) / row["patient"] / row["lesion"]
        lesion.mkdir(parents=True)
        try:
            ingest_case(row["patient"], row["lesion"], row["image"], row["mask"],
                        row["modality"], row["label"], lesion / "image.nii.gz",
                        lesion / "mask.nii.gz", salt=snakemake.params.salt,
                        out_ingest=lesion / "ingest.parquet")
        except InputError as err:
            raise InputError(f"{row['row']}: {err}") from None


run_step(snakemake, main)
