# Per-patient reports: one self-contained HTML file per patient (images embedded as base64 PNG, no
# script or link fetched at view time), made only from the patient's stage tables, written per shard
# to results/report/<shard>/<patient>.html; results/report/index.html links every patient's report.
# Reads no sheet and no image header.


rule summarize_coverage:
    # Coverage per driver gene of the shard's patients with reads, from their mosdepth outputs.
    input:
        shard_mosdepth,
    output:
        "results/shards/{shard}/coverage.parquet",
    log:
        "logs/summarize_coverage/{shard}.log",
    benchmark:
        "benchmarks/summarize_coverage/{shard}.tsv"
    conda:
        "../../envs/patient_report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        patients=shard_patient_rows,
        genes=list(DRIVER_GENES),
        config_hash=CONFIG_HASH,
    script:
        "../scripts/summarize_coverage.py"


rule render_patient_report:
    input:
        unpack(shard_report_inputs),
    output:
        directory("results/report/{shard}"),
    log:
        "logs/render_patient_report/{shard}.log",
    benchmark:
        "benchmarks/render_patient_report/{shard}.tsv"
    conda:
        "../../envs/patient_report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        patients=shard_report_rows,
        imaging_run=bool(IMAGE_PATIENTS),
        driver_threshold=config["fusion"]["driver_threshold"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/render_patient_report.py"


rule index_patient_reports:
    # Where each patient's report is: an HTML list of links and the same as a TSV.
    input:
        expand("results/report/{shard}", shard=SHARDS),
    output:
        html="results/report/index.html",
        tsv="results/report/index.tsv",
    log:
        "logs/index_patient_reports/index.log",
    benchmark:
        "benchmarks/index_patient_reports/index.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        shards=SHARDS,
    script:
        "../scripts/index_patient_reports.py"
