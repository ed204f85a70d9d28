# Alignment: bwa mem with read groups, duplicate marking, BAM inputs checked against the reference,
# coverage over the targets (mosdepth) and alignment statistics.


rule map_reads:
    input:
        r1="results/trimmed/{fastq_sample}_R1.fastq.gz",
        r2="results/trimmed/{fastq_sample}_R2.fastq.gz",
        fasta=REFERENCE["fasta"],
        index=BWA_INDEX,
    output:
        temp("results/mapped/{fastq_sample}.sorted.bam"),
    params:
        read_group=read_group,
    log:
        "logs/map_reads/{fastq_sample}.log",
    benchmark:
        "benchmarks/map_reads/{fastq_sample}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../../envs/align.yaml"
    shell:
        # fixmate -m adds the mate scores that markdup needs; sort by coordinate afterwards.
        "(bwa mem -t {threads} -R {params.read_group:q} {input.fasta:q} {input.r1:q} {input.r2:q}"
        " | samtools fixmate -m -u - -"
        " | samtools sort -@ {threads} -m 500M -T {output}.tmp -o {output:q} -) 2> {log}"


rule mark_duplicates:
    input:
        "results/mapped/{fastq_sample}.sorted.bam",
    output:
        bam="results/mapped/{fastq_sample}.bam",
        bai="results/mapped/{fastq_sample}.bam.bai",
        stats="results/qc/markdup/{fastq_sample}.markdup.txt",
    log:
        "logs/mark_duplicates/{fastq_sample}.log",
    benchmark:
        "benchmarks/mark_duplicates/{fastq_sample}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/align.yaml"
    shell:
        "samtools markdup -@ {threads} -f {output.stats:q} --write-index"
        " {input:q} {output.bam:q}##idx##{output.bai:q} 2> {log}"


rule check_bam:
    input:
        bam=input_bam,
        fai=REFERENCE["fasta"] + ".fai",
    output:
        touch("results/checks/{bam_sample}.bam.ok"),
    params:
        label=sheet_row_label,
    log:
        "logs/check_bam/{bam_sample}.log",
    benchmark:
        "benchmarks/check_bam/{bam_sample}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/check_bam.py"


rule link_bam:
    input:
        bam=input_bam,
        checked="results/checks/{bam_sample}.bam.ok",
    output:
        bam="results/mapped/{bam_sample}.bam",
        bai="results/mapped/{bam_sample}.bam.bai",
    log:
        "logs/link_bam/{bam_sample}.log",
    benchmark:
        "benchmarks/link_bam/{bam_sample}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    conda:
        "../../envs/align.yaml"
    shell:
        # A link, not a copy: user BAMs can be large. The index is built here, never beside the input.
        "(ln -sf $(realpath {input.bam:q}) {output.bam:q} && samtools index -o {output.bai:q} {output.bam:q}) 2> {log}"


rule compute_coverage:
    input:
        bam="results/mapped/{sample}.bam",
        bai="results/mapped/{sample}.bam.bai",
        targets=REFERENCE["targets"],
    output:
        summary="results/qc/mosdepth/{sample}.mosdepth.summary.txt",
        regions="results/qc/mosdepth/{sample}.regions.bed.gz",
        thresholds="results/qc/mosdepth/{sample}.thresholds.bed.gz",
        dist="results/qc/mosdepth/{sample}.mosdepth.region.dist.txt",
    params:
        prefix="results/qc/mosdepth/{sample}",
    log:
        "logs/compute_coverage/{sample}.log",
    benchmark:
        "benchmarks/compute_coverage/{sample}.tsv"
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/mosdepth.yaml"
    shell:
        "mosdepth --threads {threads} --no-per-base --by {input.targets:q}"
        " --thresholds 20,100,200 {params.prefix:q} {input.bam:q} 2> {log}"


rule collect_alignment_stats:
    input:
        bam="results/mapped/{sample}.bam",
        fasta=REFERENCE["fasta"],
    output:
        "results/qc/samtools/{sample}.stats.txt",
    log:
        "logs/collect_alignment_stats/{sample}.log",
    benchmark:
        "benchmarks/collect_alignment_stats/{sample}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=60,
    conda:
        "../../envs/align.yaml"
    shell:
        "samtools stats --reference {input.fasta:q} {input.bam:q} > {output:q} 2> {log}"
