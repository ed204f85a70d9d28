"""The toy patients' images: real pyradiomics test cases and synthetic lesion phantoms."""
from oncoweave.cli.glue import run_step
from oncoweave.toy.images import write_toy_images


def main():
    write_toy_images(snakemake.params.rows, snakemake.input.testcases, snakemake.params.seed)


run_step(snakemake, main)
