# Alignment: one job per FASTQ sample (integrity check, fastp, bwa mem with the sample's read group,
# duplicate marking, then coverage over the targets with mosdepth and samtools stats); BAM inputs
# are checked against the reference, then linked with the same QC. Each job writes three outputs
# (BAM, index, one QC folder): a cohort of thousands of samples plans as few files and jobs. The
# steps are oncoweave.variants.alignment's; each tool's command is in the job's log.


rule align_reads:
    # One job from FASTQ pair to duplicate-marked BAM: the steps always run together, and the
    # trimmed reads and the unmarked BAM live only in the job's scratch folder.
    input:
        unpack(fastq_pair),
        fasta=REFERENCE["fasta"],
        index=BWA_INDEX,
        targets=REFERENCE["targets"],
    output:
        bam="results/mapped/{fastq_sample}.bam",
        bai="results/mapped/{fastq_sample}.bam.bai",
        qc=directory("results/qc/mapped/{fastq_sample}"),
    log:
        "logs/align_reads/{fastq_sample}.log",
    benchmark:
        "benchmarks/align_reads/{fastq_sample}.tsv"
    # From the reads' size (alignment.threads_for_reads): 1 for a small panel, up to 8.
    # The heavy per-sample work first; the light per-shard stages fill the gaps.
    priority: 10
    conda:
        "../../envs/align.yaml"
    threads: align_threads
    resources:
        mem_mb=4000,
        runtime=360,
    params:
        label=sheet_row_label,
        index_prefix=BWA_INDEX_PREFIX,
        fastp_extra=config["reads"]["fastp_extra"],
    script:
        "../scripts/align_reads.py"


rule check_bam:
    input:
        bam=input_bam,
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
    output:
        touch("results/checks/{bam_sample}.bam.ok"),
    log:
        "logs/check_bam/{bam_sample}.log",
    benchmark:
        "benchmarks/check_bam/{bam_sample}.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        label=sheet_row_label,
    script:
        "../scripts/check_bam.py"


rule link_bam:
    # A link, not a copy: user BAMs can be large. The index is built here, never beside the input.
    input:
        bam=input_bam,
        checked="results/checks/{bam_sample}.bam.ok",
        targets=REFERENCE["targets"],
        fasta=REFERENCE["fasta"],
    output:
        bam="results/linked/{bam_sample}.bam",
        bai="results/linked/{bam_sample}.bam.bai",
        qc=directory("results/qc/linked/{bam_sample}"),
    log:
        "logs/link_bam/{bam_sample}.log",
    benchmark:
        "benchmarks/link_bam/{bam_sample}.tsv"
    conda:
        "../../envs/align.yaml"
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    script:
        "../scripts/link_bam.py"
