"""The patient's coverage per driver gene from its mosdepth outputs, as Parquet."""
from oncoweave.cli.glue import run_step
from oncoweave.variants.coverage import summarize_coverage


def main():
    inputs, samples = snakemake.input, snakemake.params.samples
    summarize_coverage(
        snakemake.wildcards.patient, snakemake.output[0],
        [(samples[kind], kind, inputs[f"{kind}_regions"], inputs[f"{kind}_thresholds"])
         for kind in ("tumour", "normal") if samples[kind]],
        genes=snakemake.params.genes, metadata={"config_hash": snakemake.params.config_hash})


run_step(snakemake, main)
