# The bundled toy cohort: its reads, VCFs, clinical sheet and images are simulated on the first run by
# the two rules below. Its file lists come from oncoweave.toy.layout (standard library only), so that
# planning any cohort imports no simulator.
TOY_DIR = "results/toy_cohort"
TOY_SAMPLES = [s for _, s, _ in toy.toy_samples(config["toy_cohort"]["patients"])]
TOY_READS = expand(
    f"{TOY_DIR}/reads/{{sample}}_R{{read}}.fastq.gz", sample=TOY_SAMPLES, read=[1, 2]
)
# Tumour-only patients after the read patients, handed over as VCFs: enough patients to
# cross-validate fusion at a few jobs each.
TOY_VCFS = expand(
    f"{TOY_DIR}/vcf/{{sample}}.vcf.gz",
    sample=toy.toy_vcf_samples(
        config["toy_cohort"]["patients"], config["toy_cohort"]["vcf_patients"]
    ),
)
TOY_PATIENTS = config["toy_cohort"]["patients"] + config["toy_cohort"]["vcf_patients"]
# The toy patients' images: real pyradiomics test cases and synthetic lesion phantoms (one of them a
# DICOM series with planted PHI), written by `simulate_toy_images`. They stand for a hospital's
# export, outside results/: no PHI may ever reach results/, logs/ or reports.
TOY_IMAGE_ROWS = toy.toy_image_rows("toy_cohort/images", TOY_PATIENTS)
TOY_IMAGE_FILES = toy.toy_image_files(TOY_IMAGE_ROWS)


rule simulate_toy_cohort:
    input:
        fasta=REFERENCE["fasta_source"],
        gff3=REFERENCE["gff3"],
        targets=REFERENCE["targets"],
        canonical=REFERENCE["canonical_transcripts"],
    output:
        reads=TOY_READS,
        vcfs=TOY_VCFS,
        vcf_indexes=[f"{vcf}.tbi" for vcf in TOY_VCFS],
        truth=f"{TOY_DIR}/truth.vcf.gz",
        truth_index=f"{TOY_DIR}/truth.vcf.gz.tbi",
        sheet=f"{TOY_DIR}/samples.tsv",
        clinical=f"{TOY_DIR}/clinical.tsv",
    log:
        "logs/simulate_toy_cohort/toy_cohort.log",
    benchmark:
        "benchmarks/simulate_toy_cohort/toy_cohort.tsv"
    # First: every read and VCF patient waits for it. One thread (dwgsim runs one at a time; the
    # reads do not depend on it): the imaging branch, which does not wait for it, takes the other.
    priority: 20
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=config["toy_cohort"],
    script:
        "../scripts/simulate_toy_cohort.py"


rule simulate_toy_images:
    input:
        testcases=toy.bundled_testcase_files(WORKFLOW_ROOT / "resources/imaging"),
    output:
        toy.toy_image_files(TOY_IMAGE_ROWS, directory=directory),
    log:
        "logs/simulate_toy_images/toy_images.log",
    benchmark:
        "benchmarks/simulate_toy_images/toy_images.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        rows=TOY_IMAGE_ROWS,
        seed=config["toy_cohort"]["seed"],
    script:
        "../scripts/simulate_toy_images.py"
