# Copy number per patient and gene: from the reads of each read tumour with CNVkit (call_copy_number_reads,
# one job per shard)
# and from a published cohort's table (config key copy_number, import_copy_number); merged into one
# cohort table (a patient in both keeps its CNVkit rows), then copy-number driver calls beside the
# point-mutation scores.
# CNVKIT, CNVKIT_PATIENTS, CNVKIT_NORMALS, HAS_COPY_NUMBER: in sheets.smk (rule all needs them).


rule cnvkit_pooled_reference:
    # A flat reference when the cohort has no read normal.
    input:
        normals=[alignment_of(s)["bam"] for s in CNVKIT_NORMALS],
        indexes=[alignment_of(s)["bai"] for s in CNVKIT_NORMALS],
        targets=REFERENCE["targets"],
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
    output:
        "results/copy_number/pooled_reference.cnn",
    log:
        "logs/cnvkit_pooled_reference/cohort.log",
    benchmark:
        "benchmarks/cnvkit_pooled_reference/cohort.tsv"
    priority: 10
    conda:
        "../../envs/cnvkit.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=CNVKIT,
        min_mq=config["calling"]["min_mapping_quality"],
    script:
        "../scripts/cnvkit_pooled_reference.py"


rule call_copy_number_reads:
    # One job per shard with read tumours: CNVkit on each of them in turn.
    input:
        unpack(cnvkit_inputs),
        targets=REFERENCE["targets"],
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
    output:
        # <patient>/genes.parquet, segments.parquet, cnvkit.cnr, cnvkit.call.cns
        directory("results/shards/{shard}/copy_number_reads"),
    log:
        "logs/call_copy_number_reads/{shard}.log",
    benchmark:
        "benchmarks/call_copy_number_reads/{shard}.tsv"
    # Per-sample work on the way to the drivers, therapies and fusion: before the cohort's imaging
    # models (priority 5), with the alignment and calling.
    priority: 10
    conda:
        "../../envs/cnvkit.yaml"
    threads: 1
    resources:
        # 2 GB per tumour called side by side.
        mem_mb=lambda wildcards, threads: 2000 * threads,
        runtime=cnvkit_runtime,
    params:
        samples=cnvkit_params,
        settings=CNVKIT,
        min_mq=config["calling"]["min_mapping_quality"],
    script:
        "../scripts/call_copy_number_reads.py"


rule merge_copy_number:
    input:
        unpack(merge_copy_number_inputs),
    output:
        "results/cohort/copy_number.parquet",
    log:
        "logs/merge_copy_number/cohort.log",
    benchmark:
        "benchmarks/merge_copy_number/cohort.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cnvkit_genes=cnvkit_gene_tables(),
    script:
        "../scripts/merge_copy_number.py"


rule import_copy_number:
    input:
        table=COPY_NUMBER or [],
    output:
        "results/cohort/copy_number_published.parquet",
    log:
        "logs/import_copy_number/cohort.log",
    benchmark:
        "benchmarks/import_copy_number/cohort.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tumours=TUMOUR_OF,
    script:
        "../scripts/import_copy_number.py"


rule call_copy_number_drivers:
    input:
        copy_number="results/cohort/copy_number.parquet",
        drivers="results/shards/{shard}/drivers.parquet",
    output:
        "results/shards/{shard}/copy_number_drivers.parquet",
    log:
        "logs/call_copy_number_drivers/{shard}.log",
    benchmark:
        "benchmarks/call_copy_number_drivers/{shard}.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        patients=shard_patient_rows,
        threshold=config["fusion"]["driver_threshold"],
    script:
        "../scripts/call_copy_number_drivers.py"
