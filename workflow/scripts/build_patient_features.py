"""One row per patient: genomic, imaging and clinical features and the outcomes."""
import pandas as pd

from oncoweave.cli.glue import run_step
from oncoweave.fusion.feature_table import write_patient_features
from oncoweave.fusion.patient_features import build_patient_features


def main():
    inputs = snakemake.input
    table = build_patient_features(
        pd.DataFrame(snakemake.params.patients), drivers=inputs.drivers, tmb_tables=list(inputs.tmb),
        radiomics=inputs.get("radiomics"), deep=inputs.get("deep"), cnn=inputs.get("cnn"),
        clinical=inputs.get("clinical"),
        copy_number=list(inputs.copy_number) if "copy_number" in inputs.keys() else None,
        driver_threshold=snakemake.params.driver_threshold,
        lesion_aggregation=snakemake.params.lesion_aggregation)
    write_patient_features(table, snakemake.output[0],
                           {"config_hash": snakemake.params.config_hash})


run_step(snakemake, main)
