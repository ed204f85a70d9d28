"""The configured MAF read and checked once (oncoweave.variants.maf_import.read_maf), then each
shard's rows written to their own Parquet file for that shard's import and TMB jobs."""
from oncoweave.cli.glue import log, run_step
from oncoweave.genome.reference import ContigMap
from oncoweave.variants.maf_import import read_maf
from oncoweave.variants.maf_shards import write_shard_rows


def main():
    params = snakemake.params
    rows = read_maf(snakemake.input.maf, snakemake.input.fasta,
                    ContigMap.from_tsv(params.contig_map), patients=params.patients)
    log.info(f"{snakemake.input.maf}: {len(rows)} rows, {rows['patient'].nunique()} patients, "
          f"{int(rows['contig'].notna().sum())} inside the reference regions")
    write_shard_rows(rows, params.shard_of, snakemake.output)


run_step(snakemake, main)
