# Named input functions: what each rule reads, from the sheets' dicts (sheets.smk).
import functools


def fastq_pair(wildcards):
    return FASTQ_PAIR[wildcards.fastq_sample]


def input_bam(wildcards):
    return INPUT_BAM[wildcards.bam_sample]


def alignment_of(sample):
    """The sample's BAM as the workflow holds it: aligned from FASTQ, or the user's BAM linked."""
    folder = "results/linked" if sample in INPUT_BAM else "results/mapped"
    return {"bam": f"{folder}/{sample}.bam", "bai": f"{folder}/{sample}.bam.bai"}


def patient_samples(patient):
    return {"tumour": TUMOUR_OF[patient], "normal": NORMAL_OF.get(patient)}


def all_outputs():
    outputs = [
        "results/cohort/variants.parquet",
        "results/cohort/variants.maf",
        "results/cohort/drivers.parquet",
        "results/qc/identity.tsv",
        "results/saturation.parquet",
        "results/icb/predictions.parquet",
        "results/cohort/therapies.parquet",
        "results/cohort/tmb.parquet",
    ]
    if READ_SAMPLES:
        outputs.append("results/qc/multiqc.html")
    if IMAGE_PATIENTS:
        outputs += [
            "results/cohort/radiomics.parquet",
            "results/cohort/deep_features.parquet",
            "results/cohort/lesion_classifier_predictions.parquet",
            "results/cohort/segmenter_cv.parquet",
        ]
    outputs += [
        "results/fusion/similar_patients.parquet",
        "results/fusion/patient_predictions.parquet",
    ]
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
    if HAS_COPY_NUMBER:
        outputs.append("results/report/copy_number_summary.html")
    # One folder of patient reports per shard, and the index linking every patient's report.
    outputs += [*expand("results/report/{shard}", shard=SHARDS), "results/report/index.html"]
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
        tables["deep_features"] = "results/cohort/deep_features.parquet"
    if HAS_COPY_NUMBER:
        tables["copy_number"] = "results/cohort/copy_number.parquet"
    return tables


def oncoprint_inputs(wildcards):
    """The cohort's drivers, and its copy number when the run has some (a copy_number table, or
    CNVkit on the read tumours)."""
    inputs = {"drivers": "results/cohort/drivers.parquet"}
    if HAS_COPY_NUMBER:
        inputs["copy_number"] = "results/cohort/copy_number.parquet"
    return inputs


def align_threads(wildcards, input):
    """Threads of a FASTQ pair's alignment from the reads' size (reads not yet written, such as
    the toy cohort's before its simulation, count as small)."""
    reads = [path for path in (input.r1, input.r2) if os.path.exists(path)]
    return alignment.threads_for_reads(sum(os.path.getsize(path) for path in reads) / 1e6)


def sheet_row_label(wildcards):
    """Where a sample came from, for error messages: '<sheet>, row N (sample S)'."""
    sample = next(v for k, v in wildcards.items() if k.endswith("sample"))
    return f"{config['samples']}, row {SHEET_ROW[sample]} (sample {sample})"


# ---------------------------------------------------------------------------------------------
# The cohort tables the fusion stage joins.


def patient_feature_inputs(wildcards):
    """The cohort tables the patient feature table joins (imaging ones only when they exist)."""
    inputs = {
        "samples": config["samples"],
        "drivers": "results/cohort/drivers.parquet",
        "tmb": shard_files("tmb.parquet"),
    }
    if IMAGE_PATIENTS:
        inputs["radiomics"] = "results/cohort/radiomics.parquet"
        inputs["deep"] = "results/cohort/deep_features.parquet"
        inputs["cnn"] = "results/cohort/lesion_classifier_predictions.parquet"
    if config.get("clinical"):
        inputs["clinical"] = config["clinical"]
    if HAS_COPY_NUMBER:
        inputs["copy_number"] = shard_files("copy_number_drivers.parquet")
    return inputs


# ---------------------------------------------------------------------------------------------
# Shards: the light per-patient stages run once per shard of patients. Each shard job gets its
# patients' sheet facts as params (plain dicts) and loops over them in one Python process.


def per_shard(rows_of):
    """An input or params function of the {shard} wildcard, computed once per shard: several
    rules ask the same rows (shard_patient_rows: five), and Snakemake evaluates a job's params
    more than once while it plans."""
    cached = functools.lru_cache(maxsize=None)(rows_of)

    def of_wildcards(wildcards):
        return cached(wildcards.shard)

    of_wildcards.__name__, of_wildcards.__doc__ = rows_of.__name__, rows_of.__doc__
    return of_wildcards


def shard_files(name, shards=None):
    """One stage's file of every shard (or of these shards): what cohort tables are made from."""
    return [f"results/shards/{shard}/{name}" for shard in (SHARDS if shards is None else shards)]


@functools.lru_cache(maxsize=None)
def _vcf_patients_of(shard):
    return [p for p in SHARDS[shard] if p in VCF_PATIENTS]


def shard_vcfs(wildcards):
    """The user VCFs of the shard's patients given as VCFs."""
    return [INPUT_VCF[TUMOUR_OF[p]] for p in _vcf_patients_of(wildcards.shard)]


def _allows_empty_calls(patient):
    """config inputs.allow_empty_calls: true (every VCF patient) or a list of patients."""
    allowed = config["inputs"]["allow_empty_calls"]
    return allowed is True or (allowed is not False and patient in allowed)


def shard_vcf_rows(wildcards):
    """Per VCF patient of the shard: its VCF, sample names and sheet row (for error messages)."""
    return [
        {
            "patient": p,
            "vcf": INPUT_VCF[TUMOUR_OF[p]],
            **patient_samples(p),
            "label": f"{config['samples']}, row {SHEET_ROW[TUMOUR_OF[p]]} (sample {TUMOUR_OF[p]})",
            "allow_empty": _allows_empty_calls(p),
        }
        for p in _vcf_patients_of(wildcards.shard)
    ]


@functools.lru_cache(maxsize=None)
def _maf_patients_of(shard):
    return [p for p in SHARDS[shard] if p in MAF_PATIENTS]


def maf_patient_of_barcode(wildcards):
    """Each Tumor_Sample_Barcode of the MAF -> its patient (from the sample sheet)."""
    # Sorted: a set's order changes between runs, and Snakemake reruns a job whose params changed.
    return {sample: SAMPLES.at[sample, "patient"] for sample in sorted(MAF_SAMPLES)}


def maf_shard_of_patient(wildcards):
    return {patient: SHARD_OF[patient] for patient in sorted(MAF_PATIENTS)}


def shard_maf(shard):
    """The shard's rows of the MAF (rule split_maf), or None when it has no MAF patient."""
    return f"results/maf/{shard}.parquet" if shard in MAF_SHARDS else None


def shard_imports(wildcards):
    """The user VCFs and the MAF rows of the shard's imported patients."""
    inputs = {"vcfs": shard_vcfs(wildcards)}
    if shard_maf(wildcards.shard):
        inputs["maf"] = shard_maf(wildcards.shard)
    return inputs


def shard_maf_rows(wildcards):
    """Per MAF patient of the shard: its tumour's barcode (the VCF sample name)."""
    return [
        {"patient": p, "tumour": TUMOUR_OF[p], "maf": MAF}
        for p in _maf_patients_of(wildcards.shard)
    ]


@functools.lru_cache(maxsize=None)
def _read_patients_of(shard):
    return [p for p in SHARDS[shard] if p not in IMPORTED_PATIENTS]


def shard_bams(wildcards):
    """The BAMs (and indexes) of the shard's read patients."""
    bams = {"bams": [], "bais": []}
    for patient in _read_patients_of(wildcards.shard):
        for sample in filter(None, patient_samples(patient).values()):
            bams["bams"].append(alignment_of(sample)["bam"])
            bams["bais"].append(alignment_of(sample)["bai"])
    return bams


def shard_pileups(wildcards):
    """Per read patient of the shard: its BAMs, tumour first, and their sheet sample names."""
    rows = []
    for patient in _read_patients_of(wildcards.shard):
        samples = [s for s in (TUMOUR_OF[patient], NORMAL_OF.get(patient)) if s]
        rows.append(
            {
                "patient": patient,
                "samples": samples,
                "bams": [alignment_of(s)["bam"] for s in samples],
            }
        )
    return rows


def shard_candidates(wildcards):
    """The folders of the shard's pileup calls and of its imported VCFs (those it has)."""
    shard = wildcards.shard
    inputs = {}
    if _read_patients_of(shard):
        inputs["called"] = f"results/shards/{shard}/called"
    if _vcf_patients_of(shard) or _maf_patients_of(shard):
        inputs["imported"] = f"results/shards/{shard}/imported"
    return inputs


@per_shard
def shard_patient_rows(shard):
    """Per patient of the shard: sample names, purity, clinical TMB and cancer type, and where its
    calls and coverage come from."""
    rows = []
    for patient in SHARDS[shard]:
        samples = patient_samples(patient)
        imported = patient in IMPORTED_PATIENTS
        row = {
            "patient": patient,
            **samples,
            "purity": PURITY.get(samples["tumour"]),
            "calls": f"results/shards/{shard}/{'imported' if imported else 'called'}/{patient}.vcf.gz",
            # MAF rows are a published pipeline's calls: kept as made, not re-filtered.
            "published": patient in MAF_PATIENTS,
            "clinical_tmb": CLINICAL_CELL["tmb"].get(patient, ""),
            "cancer_type": CLINICAL_CELL["cancer_type"].get(patient, ""),
            "coverage": {},
        }
        if not imported:
            for kind in ("tumour", "normal"):
                if samples[kind]:
                    qc = alignment_qc(samples[kind])
                    row["coverage"][kind] = {
                        "regions": qc["regions"],
                        "thresholds": qc["thresholds"],
                    }
        rows.append(row)
    return rows


def shard_mosdepth(wildcards):
    """QC folders of the shard's read patients: their mosdepth region and threshold beds (TMB
    territory, coverage), which the jobs find through shard_patient_rows."""
    return [
        qc_folder(sample)
        for patient in _read_patients_of(wildcards.shard)
        for sample in filter(None, patient_samples(patient).values())
    ]


def shard_image_rows(wildcards):
    """The shard's lesion rows of the image sheet, with their sheet row for error messages."""
    return [
        {
            "patient": IMAGE_RECORD[key]["patient"],
            "lesion": IMAGE_RECORD[key]["lesion"],
            "image": IMAGE_RECORD[key]["image"],
            "mask": IMAGE_RECORD[key]["mask"],
            "modality": IMAGE_RECORD[key]["modality"],
            "label": int(IMAGE_RECORD[key]["label"]),
            # The patient and lesion are in ingest_case's own message.
            "row": f"{config['images']}, row {IMAGE_ROW[key]} (line {IMAGE_ROW[key] + 1})",
        }
        for patient in SHARDS[wildcards.shard]
        for key in LESIONS_OF.get(patient, [])
    ]


def shard_image_files(wildcards):
    """The images and masks the shard's lesion rows name (a row may give no mask)."""
    return [
        path for row in shard_image_rows(wildcards) for path in (row["image"], row["mask"]) if path
    ]


@functools.lru_cache(maxsize=None)
def _lesions_of_shard(shard):
    return [key for patient in SHARDS[shard] for key in LESIONS_OF.get(patient, [])]


def _maskless_of_shard(shard):
    return [key for key in _lesions_of_shard(shard) if key in MASKLESS]


def proposed_masks_folder(shard):
    """The shard's segment_lesions folder, or None when each of its lesion rows gives a mask."""
    return f"results/shards/{shard}/proposed_masks" if _maskless_of_shard(shard) else None


def shard_maskless_lesions(wildcards):
    """Working copies and ingest records of the shard's lesions ingested without a mask."""
    return ingested_lesions(_maskless_of_shard(wildcards.shard))


def ingested_lesions(keys):
    """Working copies and ingest records of these '<patient>/<lesion>' keys, inside their shard's
    imaging folder: parallel lists for oncoweave.imaging.ingest.ingested_cases."""
    lesions = {"images": [], "masks": [], "records": []}
    for key in keys:
        folder = f"results/shards/{SHARD_OF[IMAGE_RECORD[key]['patient']]}/imaging/{key}"
        for kind, name in (
            ("images", "image.nii.gz"),
            ("masks", "mask.nii.gz"),
            ("records", "ingest.parquet"),
        ):
            lesions[kind].append(f"{folder}/{name}")
    return lesions


def cohort_imaging_folders(wildcards):
    return shard_files("imaging", IMAGE_SHARDS)


def cohort_lesion_files(wildcards):
    return ingested_lesions(IMAGES.index)


def shard_report_inputs(wildcards):
    """The shard's stage tables and the cohort tables its reports read."""
    shard = wildcards.shard
    inputs = {
        "drivers": f"results/shards/{shard}/drivers.parquet",
        "therapies": f"results/shards/{shard}/therapies.parquet",
        "tmb": f"results/shards/{shard}/tmb.parquet",
        "identity": f"results/shards/{shard}/identity.tsv",
        "icb": "results/icb/predictions.parquet",
        "similar": "results/fusion/similar_patients.parquet",
        "fusion": "results/fusion/patient_predictions.parquet",  # rule evaluate_fusion
    }
    if any(p not in IMPORTED_PATIENTS for p in SHARDS[shard]):
        inputs["coverage"] = f"results/shards/{shard}/coverage.parquet"
    if _vcf_patients_of(shard):  # its import notes (an allowed empty call set)
        inputs["imported"] = f"results/shards/{shard}/imported"
    if shard in IMAGE_SHARDS:
        inputs["imaging"] = f"results/shards/{shard}/imaging"
        inputs["radiomics"] = "results/cohort/radiomics.parquet"
        inputs["cnn_maps"] = "results/cohort/lesion_cnn_maps"  # rule train_lesion_classifier
    if HAS_COPY_NUMBER:  # the copy-number section's calls and driver verdicts
        inputs["copy_number"] = f"results/shards/{shard}/copy_number_drivers.parquet"
    if proposed_masks_folder(shard):
        inputs["proposed"] = proposed_masks_folder(shard)
    return inputs


def shard_report_rows(wildcards):
    """Per patient of the shard: whether it has coverage, and its lesions' working copies (image,
    mask, ingest record, mask source: a lesion without a given mask shows its proposed one)."""
    rows = []
    for patient in SHARDS[wildcards.shard]:
        keys = LESIONS_OF.get(patient, [])
        lesions = ingested_lesions(keys)
        proposed = proposed_masks_folder(wildcards.shard)
        masks = [
            f"{proposed}/{key}/mask.nii.gz" if key in MASKLESS else mask
            for key, mask in zip(keys, lesions["masks"])
        ]
        rows.append(
            {
                "patient": patient,
                "coverage": patient not in IMPORTED_PATIENTS,
                "lesions": [
                    [image, mask, record, "proposed" if key in MASKLESS else "given"]
                    for key, image, mask, record in zip(
                        keys, lesions["images"], masks, lesions["records"]
                    )
                ],
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Alignment QC: both alignment rules (align_reads, link_bam) write it in the same job, into one
# folder a sample, results/qc/mapped/<sample>/ from FASTQ and results/qc/linked/<sample>/ from a
# BAM (one producing rule per path, as for the BAMs themselves in results/mapped, results/linked).
def qc_folder(sample):
    return f"results/qc/{'linked' if sample in INPUT_BAM else 'mapped'}/{sample}"


def alignment_qc(sample):
    """mosdepth and samtools outputs of one sample's BAM, inside its QC folder."""
    return qc_files.qc_files(qc_folder(sample), sample)


def shard_tmb_inputs(wildcards):
    """The shard's MAF rows, when it has MAF patients: their rows outside the regions count too."""
    maf = shard_maf(wildcards.shard)
    return {"maf": maf} if maf else {}


def therapy_inputs(wildcards):
    """The shard's drivers and TMB, the evidence, and its copy-number drivers when the run has
    copy number (a copy_number table, or CNVkit on the read tumours)."""
    inputs = {
        "drivers": f"results/shards/{wildcards.shard}/drivers.parquet",
        "evidence": "results/evidence/evidence.parquet",
        "tmb": f"results/shards/{wildcards.shard}/tmb.parquet",
    }
    if HAS_COPY_NUMBER:
        inputs["copy_number"] = f"results/shards/{wildcards.shard}/copy_number_drivers.parquet"
    return inputs


# ---------------------------------------------------------------------------------------------
# Copy number from reads (copy_number.smk: CNVKIT_PATIENTS, the read tumours).


def cnvkit_patients_of(shard):
    """The shard's read tumours' patients, in shard order."""
    return [patient for patient in SHARDS[shard] if patient in CNVKIT_PATIENT_SET]


def cnvkit_inputs(wildcards):
    """The shard's read tumours' BAMs, their normals' (or the pooled reference of the cohort's
    normals) and the shard's calls, whose sites heterozygous in a normal give the B-allele
    fractions."""
    inputs = {"bams": [], "pooled_reference": []}
    for patient in cnvkit_patients_of(wildcards.shard):
        samples = patient_samples(patient)
        for role in ("tumour", "normal"):
            if samples[role]:
                alignment = alignment_of(samples[role])
                inputs["bams"] += [alignment["bam"], alignment["bai"]]
        if not samples["normal"]:
            inputs["pooled_reference"] = "results/copy_number/pooled_reference.cnn"
    # The caller's own VCFs (the normals' genotypes), not the classified ones: CNVkit then stays
    # upstream of the shard's classification, so a Slurm shard group never waits on itself.
    inputs["calls"] = f"results/shards/{wildcards.shard}/called"
    return inputs


def cnvkit_params(wildcards):
    """Per read tumour of the shard: its samples, BAMs, purity and the caller's VCF."""
    rows = []
    for patient in cnvkit_patients_of(wildcards.shard):
        samples = patient_samples(patient)
        rows.append(
            {
                "patient": patient,
                "tumour": samples["tumour"],
                "tumour_bam": alignment_of(samples["tumour"])["bam"],
                "normal": samples["normal"],
                "normal_bam": (
                    alignment_of(samples["normal"])["bam"] if samples["normal"] else None
                ),
                "purity": PURITY.get(samples["tumour"]),
                "vcf": f"results/shards/{wildcards.shard}/called/{patient}.vcf.gz",
            }
        )
    return rows


def cnvkit_runtime(wildcards, threads):
    """Minutes: half an hour per read tumour of the shard, ``threads`` of them side by side."""
    tumours = len(cnvkit_patients_of(wildcards.shard))
    return 30 * max(1, -(-tumours // threads))


def cnvkit_gene_tables():
    """Each read tumour's CNVkit gene table, in CNVKIT_PATIENTS order."""
    return [
        f"results/shards/{SHARD_OF[p]}/copy_number_reads/{p}/genes.parquet" for p in CNVKIT_PATIENTS
    ]


def merge_copy_number_inputs(wildcards):
    inputs = {"cnvkit": expand("results/shards/{shard}/copy_number_reads", shard=CNVKIT_SHARDS)}
    if COPY_NUMBER:
        inputs["published"] = "results/cohort/copy_number_published.parquet"
    return inputs
