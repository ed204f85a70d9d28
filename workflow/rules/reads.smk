# Reads: the toy cohort's simulation, an integrity check of every FASTQ pair, trimming + QC (fastp).


rule simulate_toy_cohort:
    input:
        fasta=REFERENCE["fasta_source"],
        gff3=REFERENCE["gff3"],
        targets=REFERENCE["targets"],
        canonical=REFERENCE["canonical_transcripts"],
    output:
        reads=TOY_READS,
        vcfs=TOY_VCFS,
        vcf_indexes=[f"{vcf}.tbi" for vcf in TOY_VCFS],
        truth=f"{TOY_DIR}/truth.vcf.gz",
        truth_index=f"{TOY_DIR}/truth.vcf.gz.tbi",
        sheet=f"{TOY_DIR}/samples.tsv",
        clinical=f"{TOY_DIR}/clinical.tsv",
    params:
        settings=config["toy_cohort"],
    log:
        "logs/simulate_toy_cohort/toy_cohort.log",
    benchmark:
        "benchmarks/simulate_toy_cohort/toy_cohort.tsv"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/simulate_toy_cohort.py"


rule check_fastq:
    input:
        unpack(fastq_pair),
    output:
        touch("results/checks/{fastq_sample}.fastq.ok"),
    params:
        label=sheet_row_label,
    log:
        "logs/check_fastq/{fastq_sample}.log",
    benchmark:
        "benchmarks/check_fastq/{fastq_sample}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/check_fastq.py"


rule trim_reads:
    input:
        unpack(fastq_pair),
        checked="results/checks/{fastq_sample}.fastq.ok",
    output:
        r1=temp("results/trimmed/{fastq_sample}_R1.fastq.gz"),
        r2=temp("results/trimmed/{fastq_sample}_R2.fastq.gz"),
        json="results/qc/fastp/{fastq_sample}.fastp.json",
        html="results/qc/fastp/{fastq_sample}.fastp.html",
    params:
        extra=config["reads"]["fastp_extra"],
    log:
        "logs/trim_reads/{fastq_sample}.log",
    benchmark:
        "benchmarks/trim_reads/{fastq_sample}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/fastp.yaml"
    shell:
        "fastp --thread {threads} {params.extra} -i {input.r1:q} -I {input.r2:q}"
        " -o {output.r1:q} -O {output.r2:q} -j {output.json:q} -h {output.html:q}"
        " -R {wildcards.fastq_sample:q} 2> {log}"
