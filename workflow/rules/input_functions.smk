# Named input functions: what each rule reads, from the sheets' dicts (sheets.smk).
def fastq_pair(wildcards):
    return FASTQ_PAIR[wildcards.fastq_sample]


def input_bam(wildcards):
    return INPUT_BAM[wildcards.bam_sample]


def input_vcf(wildcards):
    return INPUT_VCF[TUMOUR_OF[wildcards.patient]]


def alignment_of(sample):
    """The sample's BAM as the workflow holds it: aligned from FASTQ, or the user's BAM linked."""
    folder = "results/linked" if sample in INPUT_BAM else "results/mapped"
    return {"bam": f"{folder}/{sample}.bam", "bai": f"{folder}/{sample}.bam.bai"}


def sample_alignment(wildcards):
    return alignment_of(wildcards.sample)


def patient_bams(wildcards):
    """The patient's tumour BAM first, then its normal when there is one."""
    samples = [TUMOUR_OF[wildcards.patient]]
    if wildcards.patient in NORMAL_OF:
        samples.append(NORMAL_OF[wildcards.patient])
    alignments = [alignment_of(s) for s in samples]
    return {"bams": [a["bam"] for a in alignments], "bais": [a["bai"] for a in alignments]}


def candidate_calls(wildcards):
    """Calls from our own pileup, or the patient's imported VCF (the 'published cohort' path)."""
    if wildcards.patient in VCF_PATIENTS:
        return f"results/calls/{wildcards.patient}/imported.vcf.gz"
    return f"results/calls/{wildcards.patient}/candidates.vcf.gz"


def patient_samples(patient):
    return {"tumour": TUMOUR_OF[patient], "normal": NORMAL_OF.get(patient)}


def tumour_purity(wildcards):
    return PURITY.get(TUMOUR_OF[wildcards.patient])


def all_outputs():
    outputs = [
        "results/cohort/variants.parquet",
        "results/cohort/variants.maf",
        "results/cohort/drivers.parquet",
        "results/qc/identity.tsv",
        "results/saturation.parquet",
        "results/icb/predictions.parquet",
        *expand("results/therapies/{patient}.parquet", patient=PATIENTS),
    ]
    if READ_SAMPLES:
        outputs.append("results/qc/multiqc.html")
    if IMAGE_PATIENTS:
        outputs.append("results/cohort/radiomics.parquet")
    if TRAIN_ENCODER:
        outputs.append("results/cohort/deep_features.parquet")
    outputs += ["results/fusion/similar_patients.parquet", "results/fusion/patient_predictions.parquet"]
    # The cohort report's figures and tables (workflow/rules/report.smk).
    outputs += [
        "results/report/oncoprint.png",
        *expand("results/report/lollipops/{gene}.png", gene=DRIVER_GENES),
        "results/report/vaf_distribution.png",
        "results/report/therapy_tiers.html",
        "results/report/cohort_tables.html",
    ]
    if IMAGE_PATIENTS:
        outputs.append("results/report/radiomics_summary.html")
    outputs += expand("results/report/{patient}.html", patient=PATIENTS)  # patient_report.smk
    return outputs


def cohort_tables(wildcards):
    """The cohort tables a core reads in pandas or R (imaging ones only when they exist)."""
    tables = {
        "variants": "results/cohort/variants.parquet",
        "drivers": "results/cohort/drivers.parquet",
        "therapy_tiers": "results/cohort/therapy_tiers.parquet",
        "icb_predictions": "results/icb/predictions.parquet",
        "patient_features": "results/cohort/patient_features.parquet",
    }
    if IMAGE_PATIENTS:
        tables["radiomics"] = "results/cohort/radiomics.parquet"
    if TRAIN_ENCODER:
        tables["deep_features"] = "results/cohort/deep_features.parquet"
    return tables


def sheet_row_label(wildcards):
    """Where a sample came from, for error messages: '<sheet>, row N (sample S)'."""
    sample = next(v for k, v in wildcards.items() if k.endswith("sample"))
    return f"{config['samples']}, row {SHEET_ROW[sample]} (sample {sample})"


def read_group(wildcards):
    sample = wildcards.fastq_sample
    return f"@RG\\tID:{sample}\\tSM:{sample}\\tPL:ILLUMINA\\tLB:{sample}"


def patient_sample_names(wildcards):
    return patient_samples(wildcards.patient)


def bam_sample_names(wildcards):
    """bcftools mpileup -G lines ('* <bam> <sample>') naming each BAM's reads after its sheet sample."""
    names = patient_samples(wildcards.patient)
    bams = patient_bams(wildcards)["bams"]
    samples = [names["tumour"]] + ([names["normal"]] if names["normal"] else [])
    return "".join(f"* {bam} {sample}\n" for bam, sample in zip(bams, samples))


def vcf_row_label(wildcards):
    sample = TUMOUR_OF[wildcards.patient]
    return f"{config['samples']}, row {SHEET_ROW[sample]} (sample {sample})"


def tmb_inputs(wildcards):
    """mosdepth thresholds of the patient's tumour (and normal); none for a patient given as a VCF."""
    if wildcards.patient in VCF_PATIENTS:
        return {}
    samples = patient_samples(wildcards.patient)
    inputs = {"tumour": f"results/qc/mosdepth/{samples['tumour']}.thresholds.bed.gz"}
    if samples["normal"]:
        inputs["normal"] = f"results/qc/mosdepth/{samples['normal']}.thresholds.bed.gz"
    return inputs


def clinical_value(column):
    """An input function giving the patient's cell of the clinical sheet ('' when absent)."""
    by_patient = (
        CLINICAL.set_index("patient")[column].to_dict() if column in CLINICAL.columns else {}
    )

    def value(wildcards):
        return by_patient.get(wildcards.patient, "")

    value.__name__ = f"clinical_{column}"
    return value


# ---------------------------------------------------------------------------------------------
# Imaging input functions.


def image_files(wildcards):
    row = IMAGE_RECORD[f"{wildcards.patient}/{wildcards.lesion}"]
    return {"image": row["image"], "mask": row["mask"]}


def image_row(wildcards):
    """The lesion's modality and mask label from the image sheet."""
    row = IMAGE_RECORD[f"{wildcards.patient}/{wildcards.lesion}"]
    return {"modality": row["modality"], "label": int(row["label"])}


def image_row_label(wildcards):
    """Where a lesion came from, for error messages: '<sheet>, row N (patient P, lesion L)'."""
    key = f"{wildcards.patient}/{wildcards.lesion}"
    return (
        f"{config['images']}, row {IMAGE_ROW[key]} "
        f"(patient {wildcards.patient}, lesion {wildcards.lesion})"
    )


def _ingested(keys):
    """Working-copy images, masks and ingest records of these '<patient>/<lesion>' keys."""
    return {
        kind: [f"results/imaging/{key}/{name}" for key in keys]
        for kind, name in (("images", "image.nii.gz"), ("masks", "mask.nii.gz"),
                           ("records", "ingest.parquet"))
    }


def patient_lesions(wildcards):
    return _ingested(LESIONS_OF.get(wildcards.patient, []))


def cohort_lesions(wildcards):
    return _ingested(IMAGES.index)


def patient_feature_inputs(wildcards):
    """The cohort tables the patient feature table joins (imaging ones only when they exist)."""
    inputs = {
        "samples": config["samples"],
        "drivers": "results/cohort/drivers.parquet",
        "tmb": expand("results/tmb/{patient}.parquet", patient=PATIENTS),
    }
    if IMAGE_PATIENTS:
        inputs["radiomics"] = "results/cohort/radiomics.parquet"
    if TRAIN_ENCODER:
        inputs["deep"] = "results/cohort/deep_features.parquet"
    if config.get("clinical"):
        inputs["clinical"] = config["clinical"]
    return inputs
