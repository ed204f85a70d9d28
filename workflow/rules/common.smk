# Sheets, validation, reference paths and named input functions shared by every rule file.
import hashlib
import json
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

WORKFLOW_ROOT = Path(workflow.basedir)
# Rules run package code through workflow/scripts; make the checkout's package importable there too
# (for --sdm conda envs and cluster jobs that did not `pip install -e .`).
# Tools installed beside snakemake (multiqc in .venv/bin) are found even when the venv is not activated.
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(WORKFLOW_ROOT / "src"), os.getenv("PYTHONPATH")])),
    PATH=os.pathsep.join([os.path.dirname(sys.executable), os.getenv("PATH", "")]),
)

from oncoweave.core import sheets  # noqa: E402
from oncoweave.toy import reads as toy  # noqa: E402  (after the path set-up above)
from oncoweave.drivers.features import DRIVER_GENES  # noqa: E402
from oncoweave.core.errors import InputError  # noqa: E402

validate(config, "../schemas/config.schema.yaml")

# A hash of the effective configuration, written into every Parquet file's metadata.
CONFIG_HASH = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Reference: user paths, or the GRCh38 gene-region mini-reference bundled with the workflow.
BUNDLED_REFERENCE = WORKFLOW_ROOT / "resources" / "reference"
_reference = config["reference"]
USING_BUNDLED_REFERENCE = not _reference["fasta"]


def _reference_path(key, bundled_name):
    if _reference[key]:
        return os.path.abspath(_reference[key])
    if USING_BUNDLED_REFERENCE or key == "canonical_transcripts":
        return str(BUNDLED_REFERENCE / bundled_name)
    raise ValueError(
        f"config reference.{key} must be set when reference.fasta points at your own FASTA"
    )


REFERENCE = {
    "fasta_source": _reference_path("fasta", "grch38_gene_regions.fa"),
    "gff3": _reference_path("gff3", "gene_models.regions.gff3"),
    "targets": _reference_path("targets", "targets.bed"),
    "canonical_transcripts": _reference_path("canonical_transcripts", "canonical_transcripts.tsv"),
    # Contigs of a full GRCh38 FASTA are chromosomes already: no map needed.
    "contig_map": (
        os.path.abspath(_reference["contig_map"])
        if _reference["contig_map"]
        else (str(BUNDLED_REFERENCE / "regions.tsv") if USING_BUNDLED_REFERENCE else "")
    ),
    "fasta": "results/reference/genome.fa",
}
BWA_INDEX = multiext(REFERENCE["fasta"], ".amb", ".ann", ".bwt", ".pac", ".sa")


# ---------------------------------------------------------------------------------------------
# The bundled toy cohort: its reads are simulated on first run by `simulate_toy_cohort`.
TOY_DIR = "results/toy_cohort"
TOY_SAMPLES = [s for _, s, _ in toy.toy_samples(config["toy_cohort"]["patients"])]
TOY_READS = expand(f"{TOY_DIR}/reads/{{sample}}_R{{read}}.fastq.gz", sample=TOY_SAMPLES, read=[1, 2])
# Tumour-only patients after the read patients, handed over as VCFs: enough patients to
# cross-validate fusion at a few jobs each.
TOY_VCFS = expand(
    f"{TOY_DIR}/vcf/{{sample}}.vcf.gz",
    sample=toy.toy_vcf_samples(config["toy_cohort"]["patients"], config["toy_cohort"]["vcf_patients"]),
)
TOY_PATIENTS = config["toy_cohort"]["patients"] + config["toy_cohort"]["vcf_patients"]
# The toy patients' images: real pyradiomics test cases and synthetic lesion phantoms (one of them a
# DICOM series with planted PHI), written by `simulate_toy_images`. They stand for a hospital's
# export, outside results/: no PHI may ever reach results/, logs/ or reports.
TOY_IMAGE_ROWS = toy.toy_image_rows("toy_cohort/images", TOY_PATIENTS)
TOY_IMAGE_FILES = toy.toy_image_files(TOY_IMAGE_ROWS)


# ---------------------------------------------------------------------------------------------
# Sheets: validated at parse time, so a bad sheet stops the run before any job.
SCHEMAS = WORKFLOW_ROOT / "workflow" / "schemas"
try:
    SAMPLES = sheets.load_samples(
        config["samples"], SCHEMAS / "samples.schema.yaml", generated=set(TOY_READS) | set(TOY_VCFS)
    ).set_index("sample", drop=False)
    IMAGES = sheets.load_images(
        config.get("images"), SCHEMAS / "images.schema.yaml", generated=set(TOY_IMAGE_FILES)
    )
    CLINICAL = sheets.load_clinical(config.get("clinical"), SCHEMAS / "clinical.schema.yaml")
except InputError as err:
    # One line naming the file, row and column; no traceback for a user's typo.
    sys.exit(f"oncoweave: error: {err}")


def _cells(column):
    """Sample -> its non-empty cell of this sheet column. Input functions read these dicts: they run
    once per job, and a pandas lookup costs ~0.4 ms."""
    return {s: cell for s, cell in zip(SAMPLES["sample"], SAMPLES[column]) if cell != ""}


INPUT_BAM = _cells("bam")
INPUT_VCF = _cells("vcf")
FASTQ_PAIR = {s: {"r1": r1, "r2": r2} for s, r1, r2 in
              zip(SAMPLES["sample"], SAMPLES["fastq1"], SAMPLES["fastq2"]) if r1 != ""}
FASTQ_SAMPLES = sorted(FASTQ_PAIR)
BAM_SAMPLES = sorted(INPUT_BAM)
READ_SAMPLES = FASTQ_SAMPLES + BAM_SAMPLES
PATIENTS = sorted(SAMPLES["patient"].unique())
TUMOUR_OF = SAMPLES[SAMPLES["type"] == "tumour"].set_index("patient")["sample"].to_dict()
NORMAL_OF = SAMPLES[SAMPLES["type"] == "normal"].set_index("patient")["sample"].to_dict()
# Sets where input functions only ask membership: a list would cost O(patients) per job.
VCF_PATIENTS = frozenset(SAMPLES.loc[SAMPLES["vcf"] != "", "patient"])

# Imaging: one ingest job per lesion row of the image sheet, keyed "<patient>/<lesion>".
IMAGES = IMAGES.assign(
    key=[f"{patient}/{lesion}" for patient, lesion in zip(IMAGES["patient"], IMAGES["lesion"])]
).set_index("key", drop=False)
IMAGE_ROW = {key: row for row, key in enumerate(IMAGES.index, start=1)}
IMAGE_PATIENTS = sorted(IMAGES["patient"].unique())
_known_patients = set(PATIENTS)
for _key, _patient in IMAGES["patient"].items():
    if _patient not in _known_patients:
        _error = sheets.sheet_error(
            config["images"], IMAGE_ROW[_key],
            f"'{_patient}' is not in the sample sheet {config['samples']}", column="patient",
        )
        sys.exit(f"oncoweave: error: {_error}")
# The encoder learns from the cohort's lesions: it needs at least two.
TRAIN_ENCODER = len(IMAGES) >= 2
RADIOMICS_PARAMS = (
    os.path.abspath(config["imaging"]["radiomics_params"])
    if config["imaging"]["radiomics_params"]
    else str(WORKFLOW_ROOT / "config" / "radiomics.yaml")
)


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
    read="1|2",


# ---------------------------------------------------------------------------------------------
# Named input functions.
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


PURITY = {s: float(p) for s, p in _cells("purity").items()}


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


SHEET_ROW = {sample: row for row, sample in enumerate(SAMPLES["sample"], start=1)}


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
IMAGE_RECORD = IMAGES.to_dict("index")
LESIONS_OF = {patient: list(keys) for patient, keys in IMAGES.groupby("patient").groups.items()}


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


# ---------------------------------------------------------------------------------------------
# Driver model: the shipped one, or (drivers.retrain) the one this run trains from the labels.
DRIVER_MODEL_DIR = (
    "results/drivers/model"
    if config["drivers"]["retrain"]
    else str(WORKFLOW_ROOT / "resources/models/driver")
)
DRIVER_MODEL_FILES = [f"{DRIVER_MODEL_DIR}/driver_model.json", f"{DRIVER_MODEL_DIR}/calibration.json"]
DRIVER_LABEL_FILES = sorted(
    str(p) for p in (WORKFLOW_ROOT / "resources/drivers").iterdir() if p.suffix != ".md"
)
