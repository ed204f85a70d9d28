"""Per patient of the shard: tumour/normal identity (genotype concordance at the normal's germline
sites, scikit-allel), then somatic / germline / LOH / tumour-only calls from the allele counts."""
from pathlib import Path

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.core.io import directory_replaced_on_success
from oncoweave.variants.classify import CallingThresholds, classify_vcf
from oncoweave.variants.identity import check_pair_identity, write_identity_table


def main():
    params = snakemake.params
    thresholds = CallingThresholds.from_mapping(params.thresholds,
                                                source="config calling.thresholds")
    identities = {}
    with directory_replaced_on_success(snakemake.output.calls) as folder:
        for row in each_patient(params.patients):
            identity = check_pair_identity(row["calls"], row["tumour"], row["normal"],
                                           **params.identity, purity=row["purity"])
            identities[row["patient"]] = identity
            # A pair that failed the identity check is never analysed as a pair.
            summary = classify_vcf(row["calls"], Path(folder) / f"{row['patient']}.vcf.gz",
                                   row["tumour"], row["normal"], thresholds,
                                   pair_ok=identity.status != "fail",
                                   published=row["published"])
            print(row["patient"], summary)
        write_identity_table(identities, snakemake.output.identity)


run_step(snakemake, main)
