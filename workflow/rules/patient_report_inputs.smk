# Input functions of the per-patient report rules (workflow/rules/patient_report.smk), kept apart
# from the rules as `snakemake --lint` asks.


def patient_coverage_beds(wildcards):
    """mosdepth region and threshold beds of the patient's tumour (and normal)."""
    samples = patient_samples(wildcards.patient)
    inputs = {}
    for kind in ("tumour", "normal"):
        if samples[kind]:
            inputs[f"{kind}_regions"] = f"results/qc/mosdepth/{samples[kind]}.regions.bed.gz"
            inputs[f"{kind}_thresholds"] = f"results/qc/mosdepth/{samples[kind]}.thresholds.bed.gz"
    return inputs


def patient_report_inputs(wildcards):
    """The patient's stage tables; optional ones only where their stage runs for the patient."""
    patient = wildcards.patient
    inputs = {
        "drivers": f"results/drivers/{patient}.parquet",
        "therapies": f"results/therapies/{patient}.parquet",
        "tmb": f"results/tmb/{patient}.parquet",
        "icb": "results/icb/predictions.parquet",
        "identity": f"results/qc/identity/{patient}.tsv",
        "similar": "results/fusion/similar_patients.parquet",
    }
    if patient not in VCF_PATIENTS:
        inputs["coverage"] = f"results/qc/coverage/{patient}.parquet"
    if patient in LESIONS_OF:
        inputs.update(patient_lesions(wildcards))
    if IMAGE_PATIENTS:
        inputs["radiomics"] = "results/cohort/radiomics.parquet"
    inputs["fusion"] = "results/fusion/patient_predictions.parquet"  # rule evaluate_fusion
    return inputs
