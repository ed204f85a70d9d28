"""CNVkit's pooled reference of the cohort's read normals (flat when there is none)."""
import tempfile
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.variants.cnvkit_calls import pooled_reference


def main():
    folder = Path(snakemake.output[0]).parent
    with tempfile.TemporaryDirectory(prefix="cnvkit-", dir=folder) as work:
        pooled_reference(list(snakemake.input.normals), snakemake.input.targets,
                         snakemake.input.fasta, snakemake.output[0],
                         settings=dict(snakemake.params.settings),
                         min_mapping_quality=snakemake.params.min_mq, workdir=work)
    print(f"pooled reference of {len(snakemake.input.normals)} normals")


run_step(snakemake, main)
