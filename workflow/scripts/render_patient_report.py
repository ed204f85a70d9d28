"""The patient's self-contained HTML report, from its stage tables only."""
from oncoweave.cli.glue import run_step
from oncoweave.report.patient import render_patient_report
from oncoweave.report.patient_imaging import Lesion


def main():
    inputs, params = snakemake.input, snakemake.params
    lesions = [Lesion(*files) for files in zip(inputs.get("images", []), inputs.get("masks", []),
                                               inputs.get("records", []))]
    render_patient_report(
        snakemake.wildcards.patient, snakemake.output[0], drivers=inputs.drivers,
        therapies=inputs.therapies, tmb=inputs.tmb, icb=inputs.icb, identity=inputs.identity,
        coverage=inputs.get("coverage"), lesions=lesions, imaging_run=params.imaging_run,
        radiomics=inputs.get("radiomics"), similar=inputs.similar, fusion=inputs.get("fusion"),
        driver_threshold=params.driver_threshold, config_hash=params.config_hash)


run_step(snakemake, main)
