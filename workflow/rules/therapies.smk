# Therapy matching with evidence tiers (CIViC + curated standards), TMB, and the immunotherapy-response
# model. Each reads the variants/drivers Parquet of the stages before it, nothing else of theirs.


rule build_evidence:
    input:
        civic=WORKFLOW_ROOT / "resources/evidence/civic_evidence_4genes.tsv",
        curated=WORKFLOW_ROOT / "resources/evidence/curated.tsv",
    output:
        "results/evidence/evidence.parquet",
    log:
        "logs/build_evidence/evidence.log",
    benchmark:
        "benchmarks/build_evidence/evidence.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/build_evidence.py"


rule compute_tmb:
    input:
        unpack(shard_tmb_inputs),
        beds=shard_mosdepth,
        variants="results/shards/{shard}/variants.parquet",
    output:
        "results/shards/{shard}/tmb.parquet",
    log:
        "logs/compute_tmb/{shard}.log",
    benchmark:
        "benchmarks/compute_tmb/{shard}.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        patients=shard_patient_rows,
        settings=config["tmb"],
    script:
        "../scripts/compute_tmb.py"


rule match_therapies:
    input:
        unpack(therapy_inputs),
    output:
        "results/shards/{shard}/therapies.parquet",
    log:
        "logs/match_therapies/{shard}.log",
    benchmark:
        "benchmarks/match_therapies/{shard}.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        patients=shard_patient_rows,
    script:
        "../scripts/match_therapies.py"


rule predict_icb_response:
    input:
        tmb="results/cohort/tmb.parquet",
        model=WORKFLOW_ROOT / "resources/models/icb/model_card.json",
    output:
        "results/icb/predictions.parquet",
    log:
        "logs/predict_icb_response/cohort.log",
    benchmark:
        "benchmarks/predict_icb_response/cohort.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        clinical=CLINICAL.to_dict("records"),
        patients=PATIENTS,
    script:
        "../scripts/predict_icb_response.py"


rule merge_shard_tables:
    # The cohort's TMB and therapy tables: every shard's file read as one pyarrow dataset.
    input:
        lambda wildcards: shard_files(f"{wildcards.table}.parquet"),
    output:
        "results/cohort/{table}.parquet",
    log:
        "logs/merge_shard_tables/{table}.log",
    benchmark:
        "benchmarks/merge_shard_tables/{table}.tsv"
    wildcard_constraints:
        table="tmb|therapies",
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/merge_shard_tables.py"
