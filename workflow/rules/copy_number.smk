# Copy number from a published cohort's table (config key copy_number): per gene and patient, then
# copy-number driver calls beside the point-mutation scores. Runs only when the key names a file.


rule import_copy_number:
    input:
        table=COPY_NUMBER or [],
    output:
        "results/cohort/copy_number.parquet",
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
