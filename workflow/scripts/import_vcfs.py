"""The shard's patients given as VCFs or as MAF rows enter after calling: each becomes a VCF in
reference contig coordinates."""
from pathlib import Path

from oncoweave.cli.glue import each_patient, log, run_step
from oncoweave.core.errors import InputError
from oncoweave.core.io import directory_replaced_on_success
from oncoweave.genome.reference import ContigMap
from oncoweave.variants.import_summary import IMPORT_SUMMARY_FILE, write_import_summaries
from oncoweave.variants.inputs import import_vcf


def main():
    contig_map = ContigMap.from_tsv(snakemake.params.contig_map)
    with directory_replaced_on_success(snakemake.output[0]) as folder:
        summaries = {}
        for row in each_patient(snakemake.params.patients):
            try:
                # import_vcf checks the VCF's contigs against the reference first; the calls
                # are classified from FORMAT/AD, so a VCF without it stops here, named.
                summary = import_vcf(row["vcf"], Path(folder) / f"{row['patient']}.vcf.gz",
                                     reference_fasta=snakemake.input.fasta, contig_map=contig_map,
                                     tumour_sample=row["tumour"], normal_sample=row["normal"],
                                     allow_empty=row["allow_empty"], require_read_counts=True)
            except InputError as err:
                raise InputError(f"{row['label']}: {err}") from None
            log.info(f"{row['patient']}: {row['vcf']}: {summary.counts()}")
            if summary.note:
                log.warning(f"{row['patient']}: {summary.note}")
            summaries[row["patient"]] = (row["vcf"], summary)
        # The reports say an allowed empty call set in words, from this table's notes.
        write_import_summaries(summaries, Path(folder) / IMPORT_SUMMARY_FILE)
        if snakemake.params.maf_patients:
            import_maf_patients(Path(folder))


def import_maf_patients(folder):
    """Each MAF patient's rows inside the reference regions as a one-sample VCF (rows outside
    count toward TMB only)."""
    from oncoweave.variants.maf_vcf import maf_to_vcf
    from oncoweave.variants.maf_shards import read_shard_rows

    patients = snakemake.params.maf_patients
    rows = read_shard_rows(snakemake.input.maf, patients[0]["maf"])
    by_patient = dict(tuple(rows.groupby("patient", sort=False)))
    for row in each_patient(patients):
        calls = by_patient[row["patient"]]
        calls.attrs = dict(rows.attrs)
        summary = maf_to_vcf(calls, folder / f"{row['patient']}.vcf.gz", snakemake.input.fasta,
                             tumour_sample=row["tumour"])
        log.info(f"{row['patient']}: {summary}")


run_step(snakemake, main)
