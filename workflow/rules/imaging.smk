# Imaging: ingest (DICOM de-identified to NIfTI working copies, geometry checked), IBSI-checked
# radiomics (pyradiomics), deep features from a MONAI encoder trained on the cohort (GPU rule),
# a supervised MONAI lesion classifier of a clinical label, cross-validated (GPU rule), and a
# MONAI U-Net lesion segmenter with its cross-validated Dice/HD95 (GPU rule), which proposes a mask
# for image rows that give none (segment_lesions, GPU rule; radiomics then says mask_source).
# Later stages read results/cohort/radiomics.parquet and deep_features.parquet, never the images.


rule ingest_images:
    # Each lesion row of the shard's patients: read (DICOM de-identified), check geometry, write
    # NIfTI working copies and an ingest record to <folder>/<patient>/<lesion>/.
    input:
        shard_image_files,
    output:
        directory("results/shards/{shard}/imaging"),
    log:
        "logs/ingest_images/{shard}.log",
    benchmark:
        "benchmarks/ingest_images/{shard}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        lesions=shard_image_rows,
        salt=config["imaging"]["deid_salt"],
    script:
        "../scripts/ingest_images.py"


rule extract_radiomics:
    # Each lesion of the shard on its given mask (rows without one: extract_proposed_radiomics),
    # so a shard's ingest and radiomics stay one connected Slurm group.
    input:
        imaging="results/shards/{shard}/imaging",
        params=RADIOMICS_PARAMS,
    output:
        "results/shards/{shard}/radiomics.parquet",
    log:
        "logs/extract_radiomics/{shard}.log",
    benchmark:
        "benchmarks/extract_radiomics/{shard}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        lesions=lambda wildcards: ingested_lesions(_lesions_of_shard(wildcards.shard)),
        which="given",
    script:
        "../scripts/extract_radiomics.py"


rule extract_proposed_radiomics:
    # The shard's lesions ingested without a mask, on the masks segment_lesions proposed (a lesion
    # it proposed none for is left out, its reason in the log); planned only for such shards.
    input:
        imaging="results/shards/{shard}/imaging",
        proposed="results/shards/{shard}/proposed_masks",
        params=RADIOMICS_PARAMS,
    output:
        "results/shards/{shard}/proposed_radiomics.parquet",
    log:
        "logs/extract_proposed_radiomics/{shard}.log",
    benchmark:
        "benchmarks/extract_proposed_radiomics/{shard}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        lesions=shard_maskless_lesions,
        which="none yet",
    script:
        "../scripts/extract_radiomics.py"


rule merge_radiomics:
    input:
        shard_files("radiomics.parquet", IMAGE_SHARDS)
        + shard_files("proposed_radiomics.parquet", MASKLESS_SHARDS),
    output:
        "results/cohort/radiomics.parquet",
    log:
        "logs/merge_radiomics/cohort.log",
    benchmark:
        "benchmarks/merge_radiomics/cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/merge_radiomics.py"


rule train_image_encoder:
    input:
        cohort_imaging_folders,
    output:
        # A MONAI-style bundle: models/model.pt and configs/, or configs/metadata.json alone
        # saying why it was not fitted (too few lesions).
        bundle=directory("results/imaging/encoder"),
    log:
        "logs/train_image_encoder/encoder.log",
    benchmark:
        "benchmarks/train_image_encoder/encoder.tsv"
    # A long cohort step on the way to fusion: started as soon as its inputs exist, short shard jobs around it.
    priority: 5
    conda:
        "../../envs/imaging.yaml"
    # torch's CPU threads are the setting imaging.encoder.torch_threads, not the job's, so the
    # encoder does not change with the cores; one thread lets it run beside the shard jobs.
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    params:
        lesions=cohort_lesion_files,
        settings=config["imaging"]["encoder"],
    script:
        "../scripts/train_image_encoder.py"


rule embed_images:
    input:
        imaging=cohort_imaging_folders,
        bundle="results/imaging/encoder",
    output:
        "results/cohort/deep_features.parquet",
    log:
        "logs/embed_images/cohort.log",
    benchmark:
        "benchmarks/embed_images/cohort.tsv"
    # A long cohort step on the way to fusion: started as soon as its inputs exist, short shard jobs around it.
    priority: 5
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    params:
        lesions=cohort_lesion_files,
    script:
        "../scripts/embed_images.py"


rule train_lesion_classifier:
    input:
        imaging=cohort_imaging_folders,
        # The label column (imaging.classifier.label) is read from the clinical sheet, if any.
        clinical=lambda wildcards: config.get("clinical") or [],
    output:
        # A MONAI-style bundle (models/model.pt, configs/), or configs/metadata.json alone saying
        # why it was not fitted (no label column, one class, too few patients for the folds).
        bundle=directory("results/imaging/lesion_classifier"),
        predictions="results/cohort/lesion_classifier_predictions.parquet",
        # Per classified lesion, MONAI occlusion sensitivity from the fold model that held it out:
        # <patient>/<lesion>.npz (centre axial slice of crop, mask, map) and index.parquet; an
        # empty index saying why when not fitted. Read by the patient reports.
        maps=directory("results/cohort/lesion_cnn_maps"),
    log:
        "logs/train_lesion_classifier/cohort.log",
    benchmark:
        "benchmarks/train_lesion_classifier/cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    # One torch thread (imaging.classifier.torch_threads): the network is small.
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    params:
        lesions=cohort_lesion_files,
        settings=config["imaging"]["classifier"],
    script:
        "../scripts/train_lesion_classifier.py"


rule train_segmenter:
    input:
        cohort_imaging_folders,
    output:
        # A MONAI-style bundle (models/model.pt, configs/), or configs/metadata.json alone saying
        # why it was not fitted (fewer than two lesions, fewer patients than folds).
        bundle=directory("results/imaging/segmenter"),
        metrics="results/cohort/segmenter_cv.parquet",
    log:
        "logs/train_segmenter/cohort.log",
    benchmark:
        "benchmarks/train_segmenter/cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    # One torch thread (imaging.segmenter.torch_threads): the network is small.
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    params:
        lesions=cohort_lesion_files,
        settings=config["imaging"]["segmenter"],
    script:
        "../scripts/train_segmenter.py"


rule segment_lesions:
    # A mask proposed by the fitted segmenter (trained on given masks only: no cycle) for each
    # lesion of the shard ingested without one; planned only for shards with such rows. A
    # not-fitted segmenter or an empty proposal leaves the lesion without a mask, its reason in
    # the log and in proposals.parquet: never a failure.
    input:
        imaging="results/shards/{shard}/imaging",
        bundle="results/imaging/segmenter",
    output:
        directory("results/shards/{shard}/proposed_masks"),
    log:
        "logs/segment_lesions/{shard}.log",
    benchmark:
        "benchmarks/segment_lesions/{shard}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    params:
        lesions=shard_maskless_lesions,
    script:
        "../scripts/segment_lesions.py"
