"""The shard's patients given as VCFs enter after calling: brought to reference contig coordinates."""
from pathlib import Path

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.core.errors import InputError
from oncoweave.core.io import directory_replaced_on_success
from oncoweave.genome.reference import ContigMap
from oncoweave.variants.inputs import import_vcf


def main():
    contig_map = ContigMap.from_tsv(snakemake.params.contig_map)
    with directory_replaced_on_success(snakemake.output[0]) as folder:
        for row in each_patient(snakemake.params.patients):
            try:
                # import_vcf checks the VCF's contigs against the reference first.
                summary = import_vcf(row["vcf"], Path(folder) / f"{row['patient']}.vcf.gz",
                                     reference_fasta=snakemake.input.fasta, contig_map=contig_map,
                                     tumour_sample=row["tumour"], normal_sample=row["normal"])
            except InputError as err:
                raise InputError(f"{row['label']}: {err}") from None
            print(summary)


run_step(snakemake, main)
