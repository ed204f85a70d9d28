"""Copy number of one read tumour with CNVkit: its per-gene table, segments and CNVkit's files."""
import tempfile
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.variants.cnvkit_calls import call_patient


def main():
    params, inputs, outputs = snakemake.params, snakemake.input, snakemake.output
    sample = params.sample
    with tempfile.TemporaryDirectory(prefix="cnvkit-", dir=Path(outputs.genes).parent) as work:
        genes = call_patient(
            patient=sample["patient"], tumour=sample["tumour"], tumour_bam=inputs.tumour,
            normal=sample["normal"], normal_bam=inputs.get("normal"),
            pooled_reference=inputs.get("pooled_reference"), vcf=sample["vcf"],
            purity=sample["purity"], targets=inputs.targets, fasta=inputs.fasta,
            settings=dict(params.settings), min_mapping_quality=params.min_mq, workdir=work,
            outputs=dict(outputs.items()))
    for row in genes.itertuples():
        print(f"{row.patient} {row.gene}: {row.call} (log2 {row.log2_ratio:.3f}, copies "
              f"{row.total_copy_number}, minor {row.minor_copy_number})")


run_step(snakemake, main)
