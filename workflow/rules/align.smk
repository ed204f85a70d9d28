# Alignment: one job per FASTQ sample (integrity check, fastp, bwa mem with read groups, duplicate
# marking, then coverage over the targets with mosdepth and samtools stats), BAM inputs checked
# against the reference and linked with the same QC. One job per sample keeps planning fast at scale.


rule align_reads:
    # One job from FASTQ pair to duplicate-marked BAM: the steps always run together, and the
    # trimmed reads and the unmarked BAM live only in the job's scratch folder.
    input:
        unpack(fastq_pair),
        fasta=REFERENCE["fasta"],
        index=BWA_INDEX,
        targets=REFERENCE["targets"],
    output:
        **alignment_qc_outputs("results/qc", "{fastq_sample}"),
        bam="results/mapped/{fastq_sample}.bam",
        bai="results/mapped/{fastq_sample}.bam.bai",
        fastp_json="results/qc/fastp/{fastq_sample}.fastp.json",
        fastp_html="results/qc/fastp/{fastq_sample}.fastp.html",
        markdup="results/qc/markdup/{fastq_sample}.markdup.txt",
    params:
        label=sheet_row_label,
        read_group=read_group,
        fastp_extra=config["reads"]["fastp_extra"],
    log:
        "logs/align_reads/{fastq_sample}.log",
    benchmark:
        "benchmarks/align_reads/{fastq_sample}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=360,
    conda:
        "../../envs/align.yaml"
    shell:
        # 1. Integrity (truncated gzip, broken records, unpaired mates): one line naming the sheet
        #    row. 2. fastp trimming + QC. 3. bwa mem with the read group; fixmate -m adds the mate
        #    scores markdup needs; sort by coordinate. 4. samtools markdup with its index.
        "python -m oncoweave.cli.variants check-fastq --label {params.label:q} {input.r1:q} {input.r2:q}"
        " > {log} 2>&1 || {{ tail -n 1 {log:q} >&2; exit 1; }}"  # its one-line error, on the terminal too
        " && scratch=$(mktemp -d {resources.tmpdir}/align_reads.XXXXXX)"
        " && trap 'rm -rf \"$scratch\"' EXIT"
        " && (fastp --thread {threads} {params.fastp_extra} -i {input.r1:q} -I {input.r2:q}"
        " -o $scratch/R1.fastq.gz -O $scratch/R2.fastq.gz -j {output.fastp_json:q}"
        " -h {output.fastp_html:q} -R {wildcards.fastq_sample:q}"
        " && bwa mem -t {threads} -R {params.read_group:q} {input.fasta:q}"
        " $scratch/R1.fastq.gz $scratch/R2.fastq.gz"
        " | samtools fixmate -m -u - -"
        " | samtools sort -@ {threads} -m 500M -T $scratch/sort -o $scratch/sorted.bam -"
        " && samtools markdup -@ {threads} -f {output.markdup:q} --write-index"
        " $scratch/sorted.bam {output.bam:q}##idx##{output.bai:q}"
        + ALIGNMENT_QC.format("results/qc", "fastq_sample")
        + ") 2>> {log}"


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
        targets=REFERENCE["targets"],
        fasta=REFERENCE["fasta"],
    output:
        **alignment_qc_outputs("results/qc/linked", "{bam_sample}"),
        bam="results/linked/{bam_sample}.bam",
        bai="results/linked/{bam_sample}.bam.bai",
    log:
        "logs/link_bam/{bam_sample}.log",
    benchmark:
        "benchmarks/link_bam/{bam_sample}.tsv"
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/align.yaml"
    shell:
        # A link, not a copy: user BAMs can be large. The index is built here, never beside the input.
        "(ln -sf $(realpath {input.bam:q}) {output.bam:q} && samtools index -o {output.bai:q} {output.bam:q}"
        + ALIGNMENT_QC.format("results/qc/linked", "bam_sample")
        + ") 2> {log}"
