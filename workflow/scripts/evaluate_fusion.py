"""The cohort's fused predictions and ablation table from the survival and response evaluations."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.fusion.evaluation_files import combine_task_outputs


def main():
    combine_task_outputs(Path(snakemake.output.ablation).parent, snakemake.output.predictions,
                         snakemake.params.tasks)


run_step(snakemake, main)
