"""Cross-validated fusion models, ablation, per-patient fused predictions and SHAP values."""
from pathlib import Path

from oncoweave.fusion_evaluation import EvaluationSettings, evaluate_patient_features
from oncoweave.glue import run_step


def main():
    settings = EvaluationSettings.from_config(snakemake.params.settings, snakemake.params.seed)
    evaluate_patient_features(snakemake.input[0], Path(snakemake.output.shap).parent,
                              snakemake.output.predictions, settings)


run_step(snakemake, main)
