# Fusion: one feature row per patient from every stage's cohort tables, the torch fusion network
# (GPU rule) and similar-patient retrieval in its fused representation. Reads only the Parquet tables of the stages before it and the sheets.


rule build_patient_features:
    input:
        unpack(patient_feature_inputs),
    output:
        "results/cohort/patient_features.parquet",
    log:
        "logs/build_patient_features/cohort.log",
    benchmark:
        "benchmarks/build_patient_features/cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # The patients as the sheets make them (MAF tumours the sample sheet does not name too).
        patients=SAMPLES[["patient", "type"]].to_dict("list"),
        driver_threshold=config["fusion"]["driver_threshold"],
        lesion_aggregation=config["fusion"]["lesion_aggregation"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/build_patient_features.py"


rule train_fusion:
    input:
        "results/cohort/patient_features.parquet",
    output:
        # A MONAI-bundle-like folder: models/model.pt and configs/metadata.json, or only the
        # metadata saying why the network was not fitted (core.model_status).
        model=directory("results/fusion/model"),
        embedding="results/fusion/embedding.parquet",
    log:
        "logs/train_fusion/model.log",
    benchmark:
        "benchmarks/train_fusion/model.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    params:
        seed=config["fusion"]["seed"],
        settings=config["fusion"]["network"],
    script:
        "../scripts/train_fusion.py"


rule find_similar_patients:
    input:
        features="results/cohort/patient_features.parquet",
        representation="results/fusion/embedding.parquet",
        drivers="results/cohort/drivers.parquet",
        therapies=shard_files("therapies.parquet"),
    output:
        "results/fusion/similar_patients.parquet",
    log:
        "logs/find_similar_patients/cohort.log",
    benchmark:
        "benchmarks/find_similar_patients/cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        k=config["fusion"]["similar_patients"],
        driver_threshold=config["fusion"]["driver_threshold"],
    script:
        "../scripts/find_similar_patients.py"


rule evaluate_fusion_survival:
    # The two tasks are independent jobs, side by side (one thread each).
    input:
        "results/cohort/patient_features.parquet",
    output:
        predictions="results/fusion/evaluation/survival/predictions.parquet",
        metrics="results/fusion/evaluation/survival/metrics.json",
        # The task's share of patient_predictions.parquet and ablation.tsv (rule evaluate_fusion).
        shares=multiext(
            "results/fusion/evaluation/survival/",
            "patient_predictions.parquet",
            "ablation.parquet",
        ),
        shap="results/fusion/evaluation/shap.parquet",
        # The plots oncoweave.fusion.plots.PLOTS lists, for `snakemake --report`.
        ablation_plot=report(
            "results/fusion/evaluation/survival/ablation.png",
            caption="../report/fusion_ablation_plot.rst",
            category="Fusion",
            subcategory="Survival",
        ),
        km=report(
            "results/fusion/evaluation/survival/km_risk_groups.png",
            caption="../report/fusion_km.rst",
            category="Fusion",
            subcategory="Survival",
        ),
        td_auc=report(
            "results/fusion/evaluation/survival/td_auc.png",
            caption="../report/fusion_td_auc.rst",
            category="Fusion",
            subcategory="Survival",
        ),
        shap_plot=report(
            "results/fusion/evaluation/shap_summary.png",
            caption="../report/fusion_shap.rst",
            category="Fusion",
            subcategory="Feature importance",
        ),
    log:
        "logs/evaluate_fusion_survival/cohort.log",
    benchmark:
        "benchmarks/evaluate_fusion_survival/cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        task="survival",
        settings=config["fusion"]["evaluation"],
        seed=config["fusion"]["seed"],
    script:
        "../scripts/evaluate_fusion_task.py"


rule evaluate_fusion_response:
    input:
        "results/cohort/patient_features.parquet",
    output:
        predictions="results/fusion/evaluation/response/predictions.parquet",
        metrics="results/fusion/evaluation/response/metrics.json",
        shares=multiext(
            "results/fusion/evaluation/response/",
            "patient_predictions.parquet",
            "ablation.parquet",
        ),
        ablation_plot=report(
            "results/fusion/evaluation/response/ablation.png",
            caption="../report/fusion_ablation_plot.rst",
            category="Fusion",
            subcategory="Response",
        ),
        roc=report(
            "results/fusion/evaluation/response/roc.png",
            caption="../report/fusion_roc.rst",
            category="Fusion",
            subcategory="Response",
        ),
        calibration=report(
            "results/fusion/evaluation/response/calibration.png",
            caption="../report/fusion_calibration.rst",
            category="Fusion",
            subcategory="Response",
        ),
    log:
        "logs/evaluate_fusion_response/cohort.log",
    benchmark:
        "benchmarks/evaluate_fusion_response/cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        task="response",
        settings=config["fusion"]["evaluation"],
        seed=config["fusion"]["seed"],
    script:
        "../scripts/evaluate_fusion_task.py"


rule evaluate_fusion:
    # The cohort's fused predictions: each task's columns from its own evaluation.
    input:
        survival=rules.evaluate_fusion_survival.output.shares,
        response=rules.evaluate_fusion_response.output.shares,
    output:
        predictions="results/fusion/patient_predictions.parquet",
        ablation=report(
            "results/fusion/evaluation/ablation.tsv",
            caption="../report/fusion_ablation.rst",
            category="Fusion",
            subcategory="Ablation",
        ),
    log:
        "logs/evaluate_fusion/cohort.log",
    benchmark:
        "benchmarks/evaluate_fusion/cohort.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        tasks=["survival", "response"],
    script:
        "../scripts/evaluate_fusion.py"
