"""Supervised MONAI lesion classifier of a clinical label, cross-validated over patients (CUDA
when the job has a GPU): out-of-fold probabilities and a bundle, or a not-fitted bundle and an
empty table that say why (no label column, one class, too few patients for the folds); each
classified lesion's occlusion map from the fold model that held it out."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.ingest import ingested_cases
from oncoweave.imaging.lesion_classifier import clinical_labels, train_classifier_or_say_why
from oncoweave.imaging.lesion_crops import ClassifierSettings


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"])
    settings = ClassifierSettings.from_config(snakemake.params.settings)
    clinical = snakemake.input.get("clinical")  # a path, or [] without a clinical sheet
    path = clinical if isinstance(clinical, str) else next(iter(clinical or []), None)
    train_classifier_or_say_why(cases, clinical_labels(path, settings), snakemake.output.bundle,
                                snakemake.output.predictions, settings,
                                maps_dir=snakemake.output.maps)


run_step(snakemake, main)
