# Sheets: the sample, image and clinical sheets, validated at parse time (a bad sheet stops the run
# before any job), and the dicts that input functions read.
SCHEMAS = WORKFLOW_ROOT / "workflow" / "schemas"
MAF = config.get("maf") or ""
COPY_NUMBER = config.get("copy_number") or ""
try:
    # The MAF's tumours are known at planning time (one column read): each is a patient of a shard.
    MAF_BARCODES = maf_import.maf_barcodes(MAF) if MAF else []
    SAMPLES = sheets.load_samples(
        config["samples"],
        SCHEMAS / "samples.schema.yaml",
        generated=set(TOY_READS) | set(TOY_VCFS),
        maf=MAF,
        maf_barcodes=MAF_BARCODES,
    ).set_index("sample", drop=False)
    IMAGES = sheets.load_images(
        config.get("images"), SCHEMAS / "images.schema.yaml", generated=set(TOY_IMAGE_FILES)
    )
    CLINICAL = sheets.load_clinical(config.get("clinical"), SCHEMAS / "clinical.schema.yaml")
    # Image and clinical rows name patients of the sample sheet (with the MAF's tumours).
    for _sheet, _key in ((IMAGES, "images"), (CLINICAL, "clinical")):
        sheets.check_known_patients(_sheet, config.get(_key), SAMPLES["patient"], config["samples"])
    if COPY_NUMBER and not Path(COPY_NUMBER).is_file():
        raise InputError("no such file (config key copy_number)", path=COPY_NUMBER)
except InputError as err:
    # One line naming the file, row and column; no traceback for a user's typo.
    sys.exit(f"oncoweave: error: {err}")


def _cells(column):
    """Sample -> its non-empty cell of this sheet column. Input functions read these dicts: they run
    once per job, and a pandas lookup costs ~0.4 ms."""
    return {s: cell for s, cell in zip(SAMPLES["sample"], SAMPLES[column]) if cell != ""}


INPUT_BAM = _cells("bam")
INPUT_VCF = _cells("vcf")
FASTQ_PAIR = {
    s: {"r1": r1, "r2": r2}
    for s, r1, r2 in zip(SAMPLES["sample"], SAMPLES["fastq1"], SAMPLES["fastq2"])
    if r1 != ""
}
FASTQ_SAMPLES = sorted(FASTQ_PAIR)
BAM_SAMPLES = sorted(INPUT_BAM)
READ_SAMPLES = FASTQ_SAMPLES + BAM_SAMPLES
PATIENTS = sorted(SAMPLES["patient"].unique())
TUMOUR_OF = SAMPLES[SAMPLES["type"] == "tumour"].set_index("patient")["sample"].to_dict()
NORMAL_OF = SAMPLES[SAMPLES["type"] == "normal"].set_index("patient")["sample"].to_dict()
# Sets where input functions only ask membership: a list would cost O(patients) per job.
VCF_PATIENTS = frozenset(SAMPLES.loc[SAMPLES["vcf"] != "", "patient"])
# Patients whose calls are MAF rows: they enter with the VCF patients (imported, no reads).
MAF_SAMPLES = sheets.maf_samples(SAMPLES) if MAF else frozenset()
MAF_PATIENTS = frozenset(SAMPLES.loc[SAMPLES["sample"].isin(MAF_SAMPLES), "patient"])
IMPORTED_PATIENTS = VCF_PATIENTS | MAF_PATIENTS

# Imaging: one ingest job per lesion row of the image sheet, keyed "<patient>/<lesion>".
IMAGES = IMAGES.assign(
    key=[f"{patient}/{lesion}" for patient, lesion in zip(IMAGES["patient"], IMAGES["lesion"])]
).set_index("key", drop=False)
IMAGE_ROW = {key: row for row, key in enumerate(IMAGES.index, start=1)}
IMAGE_PATIENTS = sorted(IMAGES["patient"].unique())

PURITY = {s: float(p) for s, p in _cells("purity").items()}

# Light per-patient stages run once per shard of patients (oncoweave.core.shards): the map follows
# from the patient ids alone, so adding a patient re-runs only its shard.
SHARDS = shards.shard_map(
    PATIENTS, config["sharding"]["shard_size"], config["sharding"]["shards"] or None
)
SHARD_OF = shards.shard_of_patients(SHARDS)
IMAGE_SHARDS = sorted({SHARD_OF[patient] for patient in IMAGE_PATIENTS})
MAF_SHARDS = sorted({SHARD_OF[patient] for patient in MAF_PATIENTS})


# The clinical cells shard jobs pass on per patient ('' when the column or the patient is absent).
CLINICAL_CELL = {
    column: (CLINICAL.set_index("patient")[column].to_dict() if column in CLINICAL.columns else {})
    for column in ("tmb", "cancer_type")
}

SHEET_ROW = {sample: row for row, sample in enumerate(SAMPLES["sample"], start=1)}


# Imaging: each lesion row of the image sheet by its '<patient>/<lesion>' key.
IMAGE_RECORD = IMAGES.to_dict("index")
LESIONS_OF = {patient: list(keys) for patient, keys in IMAGES.groupby("patient").groups.items()}
# Lesion rows that give no mask: rule segment_lesions proposes theirs (planned only for them).
MASKLESS = frozenset(IMAGES.index[IMAGES["mask"] == ""])
MASKLESS_SHARDS = sorted({SHARD_OF[IMAGE_RECORD[key]["patient"]] for key in MASKLESS})


def _one_of(names):
    """A wildcard constraint matching exactly these names (and nothing when there are none)."""
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


# Ids as the sheet schemas allow them. Not an alternation of the cohort's ids: Snakemake embeds the
# constraint in every file pattern and rescans it per job, which made planning quadratic in patients.
# Each path has one producing rule by its folder (results/mapped from FASTQ, results/linked from BAM).
SHEET_ID = "[A-Za-z0-9._-]+"


wildcard_constraints:
    patient=SHEET_ID,
    fastq_sample=SHEET_ID,
    bam_sample=SHEET_ID,
    sample=SHEET_ID,
    lesion=SHEET_ID,
    shard="s[0-9]+",
    read="1|2",


# Copy number (copy_number.smk): CNVkit on the read tumours, and/or a published table.
CNVKIT = config["calling"].get("copy_number") or {}
# Read tumours: aligned from FASTQ or linked from the user's BAM.
CNVKIT_PATIENTS = (
    sorted(p for p, s in TUMOUR_OF.items() if s in FASTQ_PAIR or s in INPUT_BAM)
    if CNVKIT.get("enabled", True)
    else []
)
# CNVkit runs once per shard over its read tumours (cnvlib's import is most of a toy tumour's time).
CNVKIT_PATIENT_SET = set(CNVKIT_PATIENTS)
CNVKIT_SHARDS = sorted({SHARD_OF[patient] for patient in CNVKIT_PATIENTS})
# The read normals: a tumour without its own normal is called against their pooled reference.
CNVKIT_NORMALS = sorted(s for p, s in NORMAL_OF.items() if s in FASTQ_PAIR or s in INPUT_BAM)
HAS_COPY_NUMBER = bool(COPY_NUMBER or CNVKIT_PATIENTS)
