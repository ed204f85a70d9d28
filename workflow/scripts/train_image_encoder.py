"""Self-supervised MONAI encoder on the cohort's lesion crops (CUDA when the job has a GPU)."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.imaging.encoder import train_encoder
from oncoweave.imaging.encoder_inputs import EncoderSettings
from oncoweave.imaging.ingest import ingested_cases


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"])
    bundle = Path(snakemake.output.model).parent.parent
    train_encoder(cases, bundle, EncoderSettings.from_config(snakemake.params.settings))


run_step(snakemake, main)
