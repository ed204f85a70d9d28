"""One fusion task (survival or response): cross-validated models, ablation, its share of the
per-patient fused predictions (and, for survival, the SHAP values)."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.fusion.evaluation import EvaluationSettings, evaluate_fusion_task


def main():
    settings = EvaluationSettings.from_config(snakemake.params.settings, snakemake.params.seed)
    task_dir = Path(snakemake.output.metrics).parent
    evaluate_fusion_task(snakemake.input[0], snakemake.params.task, task_dir.parent, settings)


run_step(snakemake, main)
