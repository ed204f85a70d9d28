"""Each patient's self-contained HTML report in the shard, from its stage tables only."""
from pathlib import Path

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.core.io import directory_replaced_on_success
from oncoweave.report.patient import ShardTables, render_patient_report
from oncoweave.report.patient_imaging import Lesion
from oncoweave.variants.import_summary import import_notes, import_tumour_columns


def main():
    inputs, params = snakemake.input, snakemake.params
    tables = ShardTables()  # each table read and split by patient once for the whole shard
    notes = import_notes(inputs.get("imported"))  # VCF patients allowed an empty call set
    columns = import_tumour_columns(inputs.get("imported"))  # one-sample VCFs read by position
    with directory_replaced_on_success(snakemake.output[0]) as folder:
        for row in each_patient(params.patients):
            render_patient_report(
                row["patient"], Path(folder) / f"{row['patient']}.html", drivers=inputs.drivers,
                therapies=inputs.therapies, tmb=inputs.tmb, icb=inputs.icb,
                identity=inputs.identity,
                coverage=inputs.get("coverage") if row["coverage"] else None,
                lesions=[Lesion(*files) for files in row["lesions"]],
                imaging_run=params.imaging_run, radiomics=inputs.get("radiomics"),
                similar=inputs.similar, fusion=inputs.get("fusion"),
                copy_number=inputs.get("copy_number"),
                driver_threshold=params.driver_threshold, config_hash=params.config_hash,
                tables=tables, call_set_note=notes.get(row["patient"]),
                tumour_column=columns.get(row["patient"], ""))


run_step(snakemake, main)
