# Imaging: ingest (DICOM de-identified to NIfTI working copies, geometry checked), IBSI-checked
# radiomics (pyradiomics), and deep features from a MONAI encoder trained on the cohort (GPU rule).
# Later stages read results/cohort/radiomics.parquet and deep_features.parquet, never the images.


rule ingest_images:
    input:
        unpack(image_files),
    output:
        image="results/imaging/{patient}/{lesion}/image.nii.gz",
        mask="results/imaging/{patient}/{lesion}/mask.nii.gz",
        record="results/imaging/{patient}/{lesion}/ingest.parquet",
    params:
        row=image_row,
        label=image_row_label,
        salt=config["imaging"]["deid_salt"],
    log:
        "logs/ingest_images/{patient}/{lesion}.log",
    benchmark:
        "benchmarks/ingest_images/{patient}/{lesion}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/ingest_images.py"


rule extract_radiomics:
    input:
        unpack(patient_lesions),
        params=RADIOMICS_PARAMS,
    output:
        "results/radiomics/{patient}.parquet",
    log:
        "logs/extract_radiomics/{patient}.log",
    benchmark:
        "benchmarks/extract_radiomics/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/extract_radiomics.py"


rule merge_radiomics:
    input:
        expand("results/radiomics/{patient}.parquet", patient=IMAGE_PATIENTS),
    output:
        "results/cohort/radiomics.parquet",
    log:
        "logs/merge_radiomics/cohort.log",
    benchmark:
        "benchmarks/merge_radiomics/cohort.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/merge_radiomics.py"


rule train_image_encoder:
    input:
        unpack(cohort_lesions),
    output:
        model="results/imaging/encoder/models/model.pt",
        metadata="results/imaging/encoder/configs/metadata.json",
        inference="results/imaging/encoder/configs/inference.json",
    params:
        settings=config["imaging"]["encoder"],
    log:
        "logs/train_image_encoder/encoder.log",
    benchmark:
        "benchmarks/train_image_encoder/encoder.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/train_image_encoder.py"


rule embed_images:
    input:
        unpack(cohort_lesions),
        model="results/imaging/encoder/models/model.pt",
        metadata="results/imaging/encoder/configs/metadata.json",
        inference="results/imaging/encoder/configs/inference.json",
    output:
        "results/cohort/deep_features.parquet",
    log:
        "logs/embed_images/cohort.log",
    benchmark:
        "benchmarks/embed_images/cohort.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/embed_images.py"
