"""Immune-checkpoint-blockade response per patient, from clinical features named as in training."""
from pathlib import Path

import pandas as pd

from oncoweave.cli.glue import run_step
from oncoweave.therapy.icb import predict_response, write_predictions
from oncoweave.therapy.matching import reportable_tmbs


def main():
    clinical = pd.DataFrame(snakemake.params.clinical)
    features = pd.DataFrame({"patient": snakemake.params.patients})
    if not clinical.empty:
        features = features.merge(clinical.replace("", None), on="patient", how="left")
    # A reportable TMB of this run stands in where the sheet gives none (never a 4-gene panel's).
    if "TMB" not in features:
        reportable = reportable_tmbs(snakemake.input.tmb)
        features["TMB"] = features["patient"].map(reportable).astype(float)
    model_dir = Path(snakemake.input.model).parent
    predictions = predict_response(features, model_dir)
    write_predictions(predictions, snakemake.output[0], model_dir)
    print(predictions.to_string(index=False))


run_step(snakemake, main)
