# Driver-mutation scoring for TP53, BRCA1, BRCA2 and EGFR: the training set and model can be rebuilt
# by rules; by default the model shipped in resources/models/driver scores the cohort.


rule build_driver_training_set:
    input:
        DRIVER_LABEL_FILES,
    output:
        "results/drivers/training.parquet",
    log:
        "logs/build_driver_training_set/training.log",
    benchmark:
        "benchmarks/build_driver_training_set/training.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/build_driver_training_set.py"


rule train_driver_model:
    input:
        "results/drivers/training.parquet",
    output:
        model="results/drivers/model/driver_model.json",
        calibration="results/drivers/model/calibration.json",
        card="results/drivers/model/model_card.json",
        card_text="results/drivers/model/model_card.md",
        reliability=report(
            "results/drivers/model/reliability.png",
            caption="../report/driver_reliability.rst",
            category="Driver scoring",
        ),
    log:
        "logs/train_driver_model/model.log",
    benchmark:
        "benchmarks/train_driver_model/model.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        seed=config["drivers"]["seed"],
    script:
        "../scripts/train_driver_model.py"


rule score_drivers:
    input:
        variants="results/shards/{shard}/variants.parquet",
        model=DRIVER_MODEL_FILES,
    output:
        "results/shards/{shard}/drivers.parquet",
    log:
        "logs/score_drivers/{shard}.log",
    benchmark:
        "benchmarks/score_drivers/{shard}.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/score_drivers.py"


rule merge_drivers:
    input:
        shard_files("drivers.parquet"),
    output:
        "results/cohort/drivers.parquet",
    log:
        "logs/merge_drivers/cohort.log",
    benchmark:
        "benchmarks/merge_drivers/cohort.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/merge_drivers.py"


rule score_saturation:
    input:
        model=DRIVER_MODEL_FILES,
    output:
        table="results/saturation.parquet",
        plots=report(
            expand("results/drivers/plots/{gene}_saturation_lollipop.png", gene=DRIVER_GENES),
            caption="../report/saturation.rst",
            category="Driver scoring",
        ),
    log:
        "logs/score_saturation/saturation.log",
    benchmark:
        "benchmarks/score_saturation/saturation.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/score_saturation.py"
