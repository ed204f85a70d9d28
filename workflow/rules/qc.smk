# Cohort QC: the sample-identity table and one MultiQC report over fastp, samtools and mosdepth.


rule summarize_identity:
    input:
        shard_files("identity.tsv"),
    output:
        table="results/qc/identity.tsv",
        multiqc="results/qc/identity_mqc.tsv",
    log:
        "logs/summarize_identity/cohort.log",
    benchmark:
        "benchmarks/summarize_identity/cohort.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/summarize_identity.py"


rule report_qc:
    input:
        fastp=expand("results/qc/fastp/{sample}.fastp.json", sample=FASTQ_SAMPLES),
        markdup=expand("results/qc/markdup/{sample}.markdup.txt", sample=FASTQ_SAMPLES),
        stats=[alignment_qc(sample)["stats"] for sample in READ_SAMPLES],
        coverage=[alignment_qc(sample)["summary"] for sample in READ_SAMPLES],
        coverage_dist=[alignment_qc(sample)["dist"] for sample in READ_SAMPLES],
        identity="results/qc/identity_mqc.tsv",
    output:
        report=report(
            "results/qc/multiqc.html",
            caption="../report/multiqc.rst",
            category="QC",
        ),
        data=directory("results/qc/multiqc_data"),
    log:
        "logs/report_qc/multiqc.log",
    benchmark:
        "benchmarks/report_qc/multiqc.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/multiqc.yaml"
    shell:
        "multiqc --force --no-ansi -o results/qc -n multiqc.html {input:q} > {log} 2>&1"


rule gather_benchmarks:
    # Runs after every other job (its input is everything `all` asks for), then reads their
    # benchmarks/<rule>/<wildcards>.tsv files.
    input:
        all_outputs(),
    output:
        table="results/benchmarks.parquet",
        plot=report(
            "results/benchmarks.png",
            caption="../report/benchmarks.rst",
            category="Runtime",
        ),
    params:
        benchmarks="benchmarks",
    log:
        "logs/gather_benchmarks/benchmarks.log",
    benchmark:
        "benchmarks/gather_benchmarks/benchmarks.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/gather_benchmarks.py"
