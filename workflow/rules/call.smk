# Calling, per shard of patients: one pileup of each read patient's tumour (+ normal) to normalised
# candidates, user VCFs imported, a tumour/normal identity check, and the somatic / germline / LOH /
# tumour-only classification (oncoweave.variants.classify).


rule call_variants:
    # The shard's read patients: one bcftools pileup each over the targets (tumour + normal),
    # `threads` patients side by side (oncoweave.variants.pileup).
    input:
        unpack(shard_bams),
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
        targets=REFERENCE["targets"],
    output:
        directory("results/shards/{shard}/called"),
    log:
        "logs/call_variants/{shard}.log",
    benchmark:
        "benchmarks/call_variants/{shard}.tsv"
    # The heavy per-sample work first; the light per-shard stages fill the gaps.
    priority: 10
    conda:
        "../../envs/python.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        patients=shard_pileups,
        min_bq=config["calling"]["min_base_quality"],
        min_mq=config["calling"]["min_mapping_quality"],
    script:
        "../scripts/call_variants.py"


if MAF:

    rule split_maf:
        # The configured MAF read and checked once (every bad row stops here, naming its line), then
        # each shard's rows written apart for that shard's jobs.
        input:
            maf=MAF,
            fasta=REFERENCE["fasta"],
            fai=REFERENCE["fasta"] + ".fai",
        output:
            expand("results/maf/{shard}.parquet", shard=MAF_SHARDS),
        log:
            "logs/split_maf.log",
        benchmark:
            "benchmarks/split_maf.tsv"
        conda:
            "../../envs/python.yaml"
        threads: 2
        resources:
            mem_mb=8000,
            runtime=30,
        params:
            patients=maf_patient_of_barcode,
            shard_of=maf_shard_of_patient,
            contig_map=REFERENCE["contig_map"],
        script:
            "../scripts/split_maf.py"


rule import_vcfs:
    # The shard's patients given as VCFs or MAF rows enter after calling, as VCFs in reference
    # contig coordinates.
    input:
        unpack(shard_imports),
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
    output:
        directory("results/shards/{shard}/imported"),
    log:
        "logs/import_vcfs/{shard}.log",
    benchmark:
        "benchmarks/import_vcfs/{shard}.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        patients=shard_vcf_rows,
        maf_patients=shard_maf_rows,
        contig_map=REFERENCE["contig_map"],
    script:
        "../scripts/import_vcfs.py"


rule classify_variants:
    # Per patient of the shard: the tumour/normal identity check (scikit-allel), then the somatic /
    # germline / LOH / tumour-only classification (a pair that failed identity is never a pair).
    input:
        unpack(shard_candidates),
    output:
        identity="results/shards/{shard}/identity.tsv",
        calls=directory("results/shards/{shard}/classified"),
    log:
        "logs/classify_variants/{shard}.log",
    benchmark:
        "benchmarks/classify_variants/{shard}.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        patients=shard_patient_rows,
        identity=config["identity"],
        thresholds=config["calling"]["thresholds"],
    script:
        "../scripts/classify_variants.py"
