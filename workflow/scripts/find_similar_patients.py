"""Each patient's most similar patients, with what they share and the neighbours' outcomes."""
from oncoweave.cli.glue import run_step
from oncoweave.fusion.retrieval import find_similar_patients


def main():
    find_similar_patients(
        snakemake.input.features, snakemake.output[0],
        representation_path=snakemake.input.representation, drivers_path=snakemake.input.drivers,
        therapy_paths=list(snakemake.input.therapies), k=snakemake.params.k,
        driver_threshold=snakemake.params.driver_threshold)


run_step(snakemake, main)
