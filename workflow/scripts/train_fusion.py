"""The torch fusion network on every patient (CUDA when the job has a GPU) and its fused
representation; a cohort it cannot be trained on gets a not-fitted bundle saying why."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.fusion.feature_table import read_patient_features
from oncoweave.fusion.net_outputs import write_fusion_outputs
from oncoweave.fusion.net_settings import FusionNetSettings


def main():
    features, modality_map, _ = read_patient_features(snakemake.input[0])
    settings = FusionNetSettings.from_config(
        {"seed": snakemake.params.seed, **snakemake.params.settings}, source="config fusion.network")
    write_fusion_outputs(features, modality_map, settings, snakemake.output.model,
                         snakemake.output.embedding,
                         {"model": snakemake.output.model, "seed": str(settings.seed)})


run_step(snakemake, main)
