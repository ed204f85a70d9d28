# Reads: the toy cohort's simulation (each FASTQ pair is checked and trimmed by align_reads, align.smk).


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
