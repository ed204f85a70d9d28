"""The shard's variants table: GRCh38 coordinates, canonical consequences, counts, status."""
import shutil
from pathlib import Path

import pandas as pd

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.genome.gene_models import canonical_models
from oncoweave.genome.reference import ContigMap
from oncoweave.variants.cohort import merge_variants
from oncoweave.variants.export import export_variants


def main():
    inputs, params = snakemake.input, snakemake.params
    identity = pd.read_csv(inputs.identity, sep="\t").set_index("patient")["status"].to_dict()
    contig_map = ContigMap.from_tsv(params.contig_map)
    transcripts = canonical_models(inputs.gff3, inputs.canonical)
    metadata = {"config_hash": params.config_hash}
    # Per-patient tables in a scratch folder of a fixed name (the shard table's provenance names
    # them), merged into the shard's one table and removed.
    scratch = Path(snakemake.output[0]).parent / "export_parts"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        tables = []
        for row in each_patient(params.patients):
            patient = row["patient"]
            tables.append(Path(scratch) / f"{patient}.parquet")
            export_variants(
                Path(inputs.annotated) / f"{patient}.bcf", tables[-1], patient=patient,
                tumour_sample=row["tumour"], normal_sample=row["normal"], contig_map=contig_map,
                transcripts=transcripts, fasta_path=inputs.fasta,
                pair_identity=identity[patient], purity=row["purity"], metadata=metadata)
        merge_variants(tables, snakemake.output[0], metadata=metadata)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


run_step(snakemake, main)
