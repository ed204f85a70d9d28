"""Self-supervised MONAI encoder on the cohort's lesion crops (CUDA when the job has a GPU); a
not-fitted bundle that says why on a cohort with too few lesions."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.encoder import train_encoder_or_say_why
from oncoweave.imaging.encoder_inputs import EncoderSettings
from oncoweave.imaging.ingest import ingested_cases


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"])
    train_encoder_or_say_why(cases, snakemake.output.bundle,
                             EncoderSettings.from_config(snakemake.params.settings))


run_step(snakemake, main)
