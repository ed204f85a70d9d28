"""The torch fusion network on every patient (CUDA when the job has a GPU); its fused representation."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.core.tables import write_parquet
from oncoweave.fusion.feature_table import read_patient_features
from oncoweave.fusion.net import fit_on_patient_features, fused_embedding_schema
from oncoweave.fusion.net_settings import FusionNetSettings


def main():
    features, modality_map, _ = read_patient_features(snakemake.input[0])
    settings = FusionNetSettings.from_config(
        {"seed": snakemake.params.seed, **snakemake.params.settings}, source="config fusion.network")
    model, embedding = fit_on_patient_features(features, modality_map, settings)
    model.save(Path(snakemake.output.model).parent.parent)
    write_parquet(embedding, snakemake.output.embedding,
                  fused_embedding_schema(settings.embedding_dim),
                  {"model": "results/fusion/model", "seed": str(settings.seed)})


run_step(snakemake, main)
