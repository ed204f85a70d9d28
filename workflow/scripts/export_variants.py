"""The patient's variants table: GRCh38 coordinates, canonical consequences, counts, status."""
import pandas as pd

from oncoweave.cli.glue import run_step
from oncoweave.genome.reference import ContigMap
from oncoweave.genome.transcripts import canonical_models
from oncoweave.variants.export import export_variants


def main():
    samples = snakemake.params.samples
    identity = pd.read_csv(snakemake.input.identity, sep="\t").iloc[0]
    export_variants(
        snakemake.input.bcf, snakemake.output[0], patient=snakemake.wildcards.patient,
        tumour_sample=samples["tumour"], normal_sample=samples["normal"],
        contig_map=ContigMap.from_tsv(snakemake.params.contig_map),
        transcripts=canonical_models(snakemake.input.gff3, snakemake.input.canonical),
        fasta_path=snakemake.input.fasta, pair_identity=identity["status"],
        purity=snakemake.params.purity, metadata={"config_hash": snakemake.params.config_hash})


run_step(snakemake, main)
