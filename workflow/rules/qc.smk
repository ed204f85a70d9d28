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
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    script:
        "../scripts/summarize_identity.py"


rule report_qc:
    # The read samples' QC folders (fastp, markdup, samtools stats, mosdepth: one folder a sample)
    # and the identity table; MultiQC is given the listed files (workflow/scripts/report_qc.py).
    input:
        qc=[qc_folder(sample) for sample in READ_SAMPLES],
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
    conda:
        "../../envs/multiqc.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/report_qc.py"


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
    log:
        "logs/gather_benchmarks/benchmarks.log",
    benchmark:
        "benchmarks/gather_benchmarks/benchmarks.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        benchmarks="benchmarks",
    script:
        "../scripts/gather_benchmarks.py"
