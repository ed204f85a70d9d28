"""Cross-validated fusion models, ablation, per-patient fused predictions and SHAP values."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.fusion.evaluation import EvaluationSettings, evaluate_patient_features


def main():
    settings = EvaluationSettings.from_config(snakemake.params.settings, snakemake.params.seed)
    evaluate_patient_features(snakemake.input[0], Path(snakemake.output.shap).parent,
                              snakemake.output.predictions, settings, n_jobs=snakemake.threads)


run_step(snakemake, main)
