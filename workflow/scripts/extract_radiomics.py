"""pyradiomics features of the shard's ingested lesions: those with a given mask (rule
extract_radiomics), or those without one on the mask segment_lesions proposed (rule
extract_proposed_radiomics; a lesion it proposed none for is left out, its reason logged)."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.ingest import ingested_cases
from oncoweave.imaging.proposed_masks import with_proposed_masks
from oncoweave.imaging.radiomics import radiomics_table, write_radiomics


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"],
                           which=snakemake.params.which)
    cases = with_proposed_masks(cases, snakemake.input.get("proposed"))
    table = radiomics_table(cases, snakemake.input.params)
    write_radiomics(table, snakemake.output[0], snakemake.input.params)


run_step(snakemake, main)
