# Per-patient report: one self-contained HTML file per patient (images embedded as base64 PNG, no
# script or link fetched at view time), made only from the patient's stage tables; and the
# coverage summary per driver gene it shows. Reads no sheet and no image header.


include: "patient_report_inputs.smk"


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
