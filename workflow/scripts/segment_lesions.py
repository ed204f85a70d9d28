"""A mask proposed by the cohort's fitted lesion segmenter for each lesion of the shard ingested
without one (CUDA when the job has a GPU); none, with the reason in the log and the table, when
the segmenter was not fitted or found nothing."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.ingest import MASK_NONE_YET, ingested_cases
from oncoweave.imaging.proposed_masks import propose_masks


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"],
                           which=MASK_NONE_YET)
    propose_masks(cases, snakemake.input.bundle, snakemake.output[0])


run_step(snakemake, main)
