"""The bundled toy cohort: tumour/normal reads simulated from the real reference (dwgsim)."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.toy.cohort import make_toy_cohort
from oncoweave.toy.reads import SimulationSettings


def main():
    settings = snakemake.params.settings
    make_toy_cohort(
        str(Path(snakemake.output.sheet).parent), settings["patients"],
        reference=Path(snakemake.input.fasta), gff3=Path(snakemake.input.gff3),
        canonical=Path(snakemake.input.canonical), targets_bed=Path(snakemake.input.targets),
        settings=SimulationSettings(
            tumour_depth=settings["tumour_depth"], normal_depth=settings["normal_depth"],
            read_length=150, threads=snakemake.threads, seed=settings["seed"]),
        n_vcf_patients=settings["vcf_patients"],
    )


run_step(snakemake, main)
