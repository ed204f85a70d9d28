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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/build_evidence.py"


rule compute_tmb:
    input:
        unpack(tmb_inputs),
        variants="results/variants/{patient}.parquet",
    output:
        "results/tmb/{patient}.parquet",
    params:
        clinical_tmb=clinical_value("tmb"),
        settings=config["tmb"],
    log:
        "logs/compute_tmb/{patient}.log",
    benchmark:
        "benchmarks/compute_tmb/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/compute_tmb.py"


rule match_therapies:
    input:
        drivers="results/drivers/{patient}.parquet",
        evidence="results/evidence/evidence.parquet",
        tmb="results/tmb/{patient}.parquet",
    output:
        "results/therapies/{patient}.parquet",
    params:
        cancer_type=clinical_value("cancer_type"),
    log:
        "logs/match_therapies/{patient}.log",
    benchmark:
        "benchmarks/match_therapies/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/match_therapies.py"


rule predict_icb_response:
    input:
        tmb=expand("results/tmb/{patient}.parquet", patient=PATIENTS),
        model=WORKFLOW_ROOT / "resources/models/icb/model_card.json",
    output:
        "results/icb/predictions.parquet",
    params:
        clinical=CLINICAL.to_dict("records"),
        patients=PATIENTS,
    log:
        "logs/predict_icb_response/cohort.log",
    benchmark:
        "benchmarks/predict_icb_response/cohort.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/predict_icb_response.py"
