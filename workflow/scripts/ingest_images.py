"""One lesion row of the image sheet: read (DICOM de-identified), check geometry, write NIfTI copies."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.ingest import ingest_case


def main():
    row = snakemake.params.row
    # All three outputs are written together or not at all.
    ingest_case(
        snakemake.wildcards.patient, snakemake.wildcards.lesion, snakemake.input.image,
        snakemake.input.mask, row["modality"], row["label"], snakemake.output.image,
        snakemake.output.mask, salt=snakemake.params.salt, out_ingest=snakemake.output.record)


run_step(snakemake, main)
