"""Supervised MONAI lesion segmenter, cross-validated over patients (CUDA when the job has a GPU):
per-fold Dice/HD95 and a bundle, or a not-fitted bundle and an empty table that say why (fewer
than two lesions, fewer patients than folds)."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.ingest import ingested_cases
from oncoweave.imaging.segmenter import SegmenterSettings
from oncoweave.imaging.segmenter_cv import train_segmenter_or_say_why


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"])
    settings = SegmenterSettings.from_config(snakemake.params.settings)
    train_segmenter_or_say_why(cases, snakemake.output.bundle, snakemake.output.metrics, settings)


run_step(snakemake, main)
