# Fusion: one feature row per patient from every stage's cohort tables, the torch fusion network
# (GPU rule) and similar-patient retrieval in its fused representation. Reads only the Parquet tables of the stages before it and the sheets.


rule build_patient_features:
    input:
        unpack(patient_feature_inputs),
    output:
        "results/cohort/patient_features.parquet",
    params:
        driver_threshold=config["fusion"]["driver_threshold"],
        lesion_aggregation=config["fusion"]["lesion_aggregation"],
        config_hash=CONFIG_HASH,
    log:
        "logs/build_patient_features/cohort.log",
    benchmark:
        "benchmarks/build_patient_features/cohort.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/build_patient_features.py"


rule train_fusion:
    input:
        "results/cohort/patient_features.parquet",
    output:
        model="results/fusion/model/models/model.pt",
        metadata="results/fusion/model/configs/metadata.json",
        embedding="results/fusion/embedding.parquet",
    params:
        seed=config["fusion"]["seed"],
        settings=config["fusion"]["network"],
    log:
        "logs/train_fusion/model.log",
    benchmark:
        "benchmarks/train_fusion/model.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/train_fusion.py"


rule find_similar_patients:
    input:
        features="results/cohort/patient_features.parquet",
        representation="results/fusion/embedding.parquet",
        drivers="results/cohort/drivers.parquet",
        therapies=expand("results/therapies/{patient}.parquet", patient=PATIENTS),
    output:
        "results/fusion/similar_patients.parquet",
    params:
        k=config["fusion"]["similar_patients"],
        driver_threshold=config["fusion"]["driver_threshold"],
    log:
        "logs/find_similar_patients/cohort.log",
    benchmark:
        "benchmarks/find_similar_patients/cohort.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/find_similar_patients.py"
