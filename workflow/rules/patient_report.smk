# Per-patient report: one self-contained HTML file per patient (images embedded as base64 PNG, no
# script or link fetched at view time), made only from the patient's stage tables; and the
# coverage summary per driver gene it shows. Reads no sheet and no image header.


def fusion_predictions_input(wildcards):
    """The fused predictions of rule evaluate_fusion (results/fusion/patient_predictions.parquet)
    once that rule is in the workflow; until then none, and the report says the stage did not run."""
    if workflow.is_rule("evaluate_fusion"):
        return {"fusion": "results/fusion/patient_predictions.parquet"}
    return {}


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
    if patient in IMAGE_PATIENTS:
        inputs.update(patient_lesions(wildcards))
    if IMAGE_PATIENTS:
        inputs["radiomics"] = "results/cohort/radiomics.parquet"
    inputs.update(fusion_predictions_input(wildcards))
    return inputs


rule summarize_coverage:
    input:
        unpack(patient_coverage_beds),
    output:
        "results/qc/coverage/{patient}.parquet",
    params:
        samples=patient_sample_names,
        genes=list(DRIVER_GENES),
        config_hash=CONFIG_HASH,
    log:
        "logs/summarize_coverage/{patient}.log",
    benchmark:
        "benchmarks/summarize_coverage/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/patient_report.yaml"
    script:
        "../scripts/summarize_coverage.py"


rule render_patient_report:
    input:
        unpack(patient_report_inputs),
    output:
        "results/report/{patient}.html",
    params:
        imaging_run=bool(IMAGE_PATIENTS),
        driver_threshold=config["fusion"]["driver_threshold"],
        config_hash=CONFIG_HASH,
    log:
        "logs/render_patient_report/{patient}.log",
    benchmark:
        "benchmarks/render_patient_report/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/patient_report.yaml"
    script:
        "../scripts/render_patient_report.py"
