"""Cohort sheets: schemas and cross-row checks; each bad sheet gives one message naming file/row."""

import gzip
from pathlib import Path

import pytest
from helpers import REPO

from oncoweave.core.errors import InputError
from oncoweave.core.sheets import (
    load_clinical,
    load_images,
    load_samples,
    maf_samples,
    read_sheet,
    validate_sheet_with_schema,
)

SCHEMAS = REPO / "workflow" / "schemas"
SAMPLES_SCHEMA = SCHEMAS / "samples.schema.yaml"
IMAGES_SCHEMA = SCHEMAS / "images.schema.yaml"
CLINICAL_SCHEMA = SCHEMAS / "clinical.schema.yaml"

SAMPLE_HEADER = ["patient", "sample", "type", "fastq1", "fastq2", "bam", "vcf", "purity"]


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(cells) for cells in [header, *rows]) + "\n")
    return path


FASTQ_START = gzip.compress(b"@r1/1\nACGT\n+\nIIII\n")
VCF_START = gzip.compress(b"##fileformat=VCFv4.2\n")


def write_header_only_bam(path: Path) -> None:
    import pysam

    with pysam.AlignmentFile(str(path), "wb", header={"SQ": [{"SN": "chr17", "LN": 1000}]}):
        pass


@pytest.fixture
def cohort_dir(tmp_path, monkeypatch):
    """A working directory holding the files a good sheet names (paths are relative to it), each
    starting as its kind does: planning reads their first bytes."""
    monkeypatch.chdir(tmp_path)
    for name, start in (("reads/P1-T_1.fq.gz", FASTQ_START), ("reads/P1-T_2.fq.gz", FASTQ_START),
                        ("bams/P1-N.bam", None), ("calls/P2.vcf.gz", VCF_START),
                        ("img/P1.nii.gz", b""), ("img/P1_mask.nii.gz", b"")):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        if start is None:
            write_header_only_bam(Path(name))
        else:
            Path(name).write_bytes(start)
    return tmp_path


def good_sample_rows() -> list[list[str]]:
    return [
        ["P1", "P1-T", "tumour", "reads/P1-T_1.fq.gz", "reads/P1-T_2.fq.gz", "", "", "0.6"],
        ["P1", "P1-N", "normal", "", "", "bams/P1-N.bam", "", ""],
        ["P2", "P2-T", "tumour", "", "", "", "calls/P2.vcf.gz", ""],
        ["P2", "P2-N", "normal", "", "", "", "calls/P2.vcf.gz", ""],
    ]


def samples_error(sheet: Path, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        load_samples(sheet, SAMPLES_SCHEMA, **kwargs)
    return str(caught.value)


def test_good_sample_sheet_loads_as_strings(cohort_dir):
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, good_sample_rows())
    samples = load_samples(sheet, SAMPLES_SCHEMA)
    assert list(samples["sample"]) == ["P1-T", "P1-N", "P2-T", "P2-N"]
    assert list(samples["purity"]) == ["0.6", "", "", ""]
    assert all(samples[column].map(type).eq(str).all() for column in samples.columns)


def test_absent_optional_columns_are_added_empty(cohort_dir):
    rows = [[patient, sample, kind, bam] for patient, sample, kind, _, _, bam, _, _ in
            good_sample_rows()[:2]]
    rows[0][3] = "bams/P1-N.bam"
    sheet = write_tsv(cohort_dir / "samples.tsv", ["patient", "sample", "type", "bam"], rows)
    samples = load_samples(sheet, SAMPLES_SCHEMA)
    assert list(samples.columns) == SAMPLE_HEADER
    assert list(samples["vcf"]) == ["", ""]


def test_generated_fastq_need_not_exist_yet(cohort_dir):
    rows = good_sample_rows()
    rows[0][3:5] = ["toy/P1-T_1.fq.gz", "toy/P1-T_2.fq.gz"]
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    assert "toy/P1-T_1.fq.gz" in samples_error(sheet)
    generated = {"toy/P1-T_1.fq.gz", "./toy/P1-T_2.fq.gz"}
    assert len(load_samples(sheet, SAMPLES_SCHEMA, generated=generated)) == 4


def test_unknown_column_is_named(cohort_dir):
    rows = [row + ["x"] for row in good_sample_rows()]
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER + ["tissue"], rows)
    assert samples_error(sheet).startswith(
        f"{sheet}: line 1 (header): unknown column 'tissue'; allowed columns: patient, sample")


@pytest.mark.parametrize("header, expected", [
    (["patient", "sample", "bam"], "required column 'type' is missing"),
    (["patient", "sample", "type", "bam", "bam"], "column 'bam' appears twice"),
])
def test_bad_header(cohort_dir, header, expected):
    row = ["P1", "P1-T", "tumour", "bams/P1-N.bam", "bams/P1-N.bam"][:len(header)]
    sheet = write_tsv(cohort_dir / "samples.tsv", header, [row])
    assert samples_error(sheet) == f"{sheet}: line 1 (header): {expected}"


def test_bad_type_names_file_row_line_and_column(cohort_dir):
    rows = good_sample_rows()
    rows[2][2] = "tmour"
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    assert samples_error(sheet) == (f"{sheet}: row 3 (line 4): column 'type': 'tmour' is not "
                                    "one of ['tumour', 'normal']")


@pytest.mark.parametrize("column, value, expected", [
    ("sample", "P1 T", "does not match"),
    ("purity", "1.5", "greater than the maximum of 1"),
    ("purity", "high", "'high' is not of type 'number'"),
    ("patient", "", "is empty but required"),
])
def test_schema_violations_name_row_and_column(cohort_dir, column, value, expected):
    rows = good_sample_rows()
    rows[1][SAMPLE_HEADER.index(column)] = value
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    message = samples_error(sheet)
    assert f"{sheet}: row 2 (line 3): column '{column}'" in message
    assert expected in message


def test_duplicate_sample_names_both_rows(cohort_dir):
    rows = good_sample_rows()
    rows[3][1] = "P2-T"
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    message = samples_error(sheet)
    assert message.startswith(f"{sheet}: row 4 (line 5): column 'sample': 'P2-T' repeats row 3")


def test_patient_with_two_normals(cohort_dir):
    rows = good_sample_rows() + [["P1", "P1-N2", "normal", "", "", "bams/P1-N.bam", "", ""]]
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    message = samples_error(sheet)
    assert message.startswith(f"{sheet}: row 5 (line 6): column 'type': ")
    assert "patient 'P1' has a second normal (the first is row 2)" in message


def test_patient_with_two_tumours(cohort_dir):
    rows = good_sample_rows() + [["P1", "P1-T2", "tumour", "", "", "bams/P1-N.bam", "", ""]]
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    message = samples_error(sheet)
    assert message.startswith(f"{sheet}: row 5 (line 6): column 'type': ")
    assert "patient 'P1' has a second tumour (the first is row 1)" in message


def test_patient_with_only_a_normal(cohort_dir):
    rows = good_sample_rows() + [["P3", "P3-N", "normal", "", "", "bams/P1-N.bam", "", ""]]
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    assert "row 5 (line 6): column 'type': patient 'P3' has a normal but no tumour" in \
        samples_error(sheet)


def test_missing_file_names_row_column_and_path(cohort_dir):
    rows = good_sample_rows()
    rows[1][5] = "bams/absent.bam"
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    message = samples_error(sheet)
    assert message.startswith(f"{sheet}: row 2 (line 3): column 'bam': file not found: "
                              "bams/absent.bam")
    assert str(cohort_dir) in message


@pytest.mark.parametrize("change, expected", [
    ({5: "bams/P1-N.bam"}, "gives fastq1+fastq2 and bam; give exactly one of"),
    ({3: "", 4: ""}, "gives none; give exactly one of"),
    ({4: ""}, "column 'fastq2': is empty but the other mate is given"),
])
def test_each_row_gives_exactly_one_input(cohort_dir, change, expected):
    rows = good_sample_rows()
    for index, value in change.items():
        rows[0][index] = value
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    message = samples_error(sheet)
    assert message.startswith(f"{sheet}: row 1 (line 2): ")
    assert expected in message


@pytest.mark.parametrize("row, column, make, expected", [
    (0, 3, lambda path: path.mkdir(), "column 'fastq1': folder is a folder, not a file"),
    (0, 3, lambda path: path.write_bytes(b""), "column 'fastq1': folder is empty (0 bytes)"),
    (2, 6, lambda path: path.write_bytes(FASTQ_START),
     "column 'vcf': folder is not a VCF or BCF file (a VCF starts with its '##fileformat=VCF' "
     "header line; it looks like a FASTQ file)"),
    (1, 5, lambda path: path.write_text("sample\tvalue\n"),
     "column 'bam': folder is not a BAM or CRAM file (no BAM/CRAM magic bytes; it is a text file "
     "of another kind)"),
    (1, 5, lambda path: path.write_bytes(VCF_START),
     "column 'bam': folder is not a BAM or CRAM file (no BAM/CRAM magic bytes; it looks like a "
     "VCF)"),
    (0, 3, lambda path: path.write_bytes(gzip.compress(b"\x00\x01binary")),
     "column 'fastq1': folder is not a FASTQ file (a FASTQ record starts with '@'; it is "
     "gzip-compressed data of another kind)"),
    (0, 3, lambda path: path.write_bytes(b"\x1f\x8b\x08\x00garbage-after-a-gzip-header"),
     "column 'fastq1': folder starts as gzip but its first block does not decompress"),
], ids=["folder", "empty", "fastq-as-vcf", "text-as-bam", "vcf-as-bam", "not-fastq", "corrupt"])
def test_read_input_of_the_wrong_kind_is_named_at_planning(cohort_dir, row, column, make,
                                                           expected):
    make(cohort_dir / "folder")
    rows = good_sample_rows()
    rows[row][column] = "folder"
    if column == 6:
        rows[3][6] = "folder"  # the pair's normal names the same VCF
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    message = samples_error(sheet)
    assert message.startswith(f"{sheet}: row {row + 1} (line {row + 2}): {expected}")


def test_inputs_of_their_kind_pass_whatever_their_compression(cohort_dir):
    import pysam

    Path("reads/P1-T_1.fq.gz").write_bytes(gzip.decompress(FASTQ_START))  # plain FASTQ
    pysam.tabix_compress(str(write_tsv(cohort_dir / "plain.vcf", ["##fileformat=VCFv4.2"], [])),
                         "calls/P2.vcf.gz", force=True)  # bgzip
    rows = good_sample_rows()
    assert list(load_samples(write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows),
                             SAMPLES_SCHEMA)["sample"]) == ["P1-T", "P1-N", "P2-T", "P2-N"]


def test_the_same_file_as_both_mates_is_refused(cohort_dir):
    rows = good_sample_rows()
    rows[0][4] = "./reads/P1-T_1.fq.gz"
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    assert samples_error(sheet) == (
        f"{sheet}: row 1 (line 2): column 'fastq2': is the same file as fastq1 "
        "(reads/P1-T_1.fq.gz); give the second mate's file")


def test_paired_vcf_must_be_named_on_both_rows(cohort_dir):
    rows = good_sample_rows()
    rows[3][5:7] = ["bams/P1-N.bam", ""]
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    message = samples_error(sheet)
    assert message.startswith(f"{sheet}: row 3 (line 4): column 'vcf': ")
    assert "its normal (row 4) gives reads" in message


def test_ragged_row_is_reported(cohort_dir):
    sheet = cohort_dir / "samples.tsv"
    write_tsv(sheet, SAMPLE_HEADER, good_sample_rows())
    sheet.write_text(sheet.read_text() + "P9\tP9-T\ttumour\n")
    assert samples_error(sheet) == (f"{sheet}: row 5 (line 6): has 3 fields but the header has "
                                    "8 (tab-separated)")


def test_header_only_sample_sheet_is_refused(cohort_dir):
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, [])
    assert samples_error(sheet) == f"{sheet}: lists no samples (a header and one row per " \
                                   "sample are needed)"


def test_missing_sample_sheet(cohort_dir):
    assert samples_error(cohort_dir / "nope.tsv") == f"{cohort_dir / 'nope.tsv'}: file not found"


IMAGE_HEADER = ["patient", "image", "mask", "modality", "label"]


@pytest.mark.parametrize("path", [None, ""])
def test_no_image_sheet_gives_empty_frame(path):
    images = load_images(path, IMAGES_SCHEMA)
    assert images.empty and list(images.columns) == ["patient", "lesion", *IMAGE_HEADER[1:]]


def test_header_only_image_sheet_is_empty(cohort_dir):
    sheet = write_tsv(cohort_dir / "images.tsv", IMAGE_HEADER, [])
    assert load_images(sheet, IMAGES_SCHEMA).empty


def test_image_label_defaults_to_one(cohort_dir):
    rows = [["P1", "img/P1.nii.gz", "img/P1_mask.nii.gz", "CT", ""],
            ["P1", "img/P1.nii.gz", "img/P1_mask.nii.gz", "PT", "2"]]
    images = load_images(write_tsv(cohort_dir / "images.tsv", IMAGE_HEADER, rows), IMAGES_SCHEMA)
    assert list(images["label"]) == ["1", "2"]
    assert list(images["lesion"]) == ["L1", "L2"]  # the default lesion id follows the label


def test_repeated_lesion_is_refused(cohort_dir):
    rows = [["P1", "img/P1.nii.gz", "img/P1_mask.nii.gz", "CT", "1"],
            ["P1", "img/P1.nii.gz", "img/P1_mask.nii.gz", "CT", "1"]]
    sheet = write_tsv(cohort_dir / "images.tsv", IMAGE_HEADER, rows)
    with pytest.raises(InputError) as caught:
        load_images(sheet, IMAGES_SCHEMA)
    assert str(caught.value) == (
        f"{sheet}: row 2 (line 3): column 'lesion': patient 'P1' lesion 'L1' repeats row 1 (line 2); "
        "give each lesion of a patient its own id in the 'lesion' column")


def test_image_that_is_not_an_image_file_is_refused(cohort_dir):
    (cohort_dir / "img" / "P1.png").write_bytes(b"\x89PNG")
    sheet = write_tsv(cohort_dir / "images.tsv", IMAGE_HEADER,
                      [["P1", "img/P1.png", "img/P1_mask.nii.gz", "CT", "1"]])
    with pytest.raises(InputError, match=r"row 1 \(line 2\): column 'image': 'img/P1.png' is "
                       r"neither a DICOM series folder nor a \.nii, \.nii\.gz, \.nrrd file"):
        load_images(sheet, IMAGES_SCHEMA)


@pytest.mark.parametrize("row, expected", [
    (["P1", "img/P1.nii.gz", "img/P1_mask.nii.gz", "XR", "1"],
     "row 1 (line 2): column 'modality': 'XR' is not one of ['CT', 'MR', 'PT']"),
    (["P1", "img/P1.nii.gz", "img/P1_mask.nii.gz", "CT", "0"],
     "row 1 (line 2): column 'label': 0 is less than the minimum of 1"),
    (["P1", "img/P1.nii.gz", "img/none.nrrd", "CT", "1"],
     "row 1 (line 2): column 'mask': file not found: img/none.nrrd"),
])
def test_bad_image_rows(cohort_dir, row, expected):
    sheet = write_tsv(cohort_dir / "images.tsv", IMAGE_HEADER, [row])
    with pytest.raises(InputError, match="^" + str(sheet)) as caught:
        load_images(sheet, IMAGES_SCHEMA)
    assert expected in str(caught.value)


def test_mask_is_optional_per_row(cohort_dir):
    """A row may leave its mask empty (the segmenter proposes one); the image stays required."""
    rows = [["P1", "img/P1.nii.gz", "img/P1_mask.nii.gz", "CT", "1"],
            ["P1", "img/P1.nii.gz", "", "CT", "2"]]
    images = load_images(write_tsv(cohort_dir / "images.tsv", IMAGE_HEADER, rows), IMAGES_SCHEMA)
    assert list(images["mask"]) == ["img/P1_mask.nii.gz", ""]
    assert list(images["lesion"]) == ["L1", "L2"]


def test_mask_column_may_be_left_out(cohort_dir):
    header = ["patient", "image", "modality"]
    images = load_images(write_tsv(cohort_dir / "images.tsv", header,
                                   [["P1", "img/P1.nii.gz", "CT"]]), IMAGES_SCHEMA)
    assert list(images["mask"]) == [""] and list(images["label"]) == ["1"]


def test_row_without_image_is_one_error_naming_file_and_row(cohort_dir):
    rows = [["P1", "img/P1.nii.gz", "", "CT", "1"], ["P1", "", "img/P1_mask.nii.gz", "CT", "2"]]
    sheet = write_tsv(cohort_dir / "images.tsv", IMAGE_HEADER, rows)
    with pytest.raises(InputError) as caught:
        load_images(sheet, IMAGES_SCHEMA)
    assert str(caught.value) == f"{sheet}: row 2 (line 3): column 'image': is empty but required"


CLINICAL_HEADER = ["patient", "age", "sex", "os_months", "os_event", "smoking"]


def test_clinical_keeps_extra_columns(cohort_dir):
    rows = [["P1", "61", "F", "12.5", "1", "former"], ["P2", "", "M", "30", "0", "never"]]
    clinical = load_clinical(write_tsv(cohort_dir / "clinical.tsv", CLINICAL_HEADER, rows),
                             CLINICAL_SCHEMA)
    assert list(clinical["smoking"]) == ["former", "never"]
    assert list(clinical["age"]) == ["61", ""]
    assert "response" in clinical.columns


@pytest.mark.parametrize("rows, expected", [
    ([["P1", "NA", "F", "1", "1", ""]],
     "row 1 (line 2): column 'age': 'NA' is not of type 'number' (leave the cell empty"),
    ([["P1", "50", "F", "1", "2", ""]], "row 1 (line 2): column 'os_event': 2 is not one of"),
    ([["P1", "50", "F", "1", "1", ""], ["P1", "50", "F", "1", "1", ""]],
     "row 2 (line 3): column 'patient': 'P1' repeats row 1"),
])
def test_bad_clinical_rows(cohort_dir, rows, expected):
    sheet = write_tsv(cohort_dir / "clinical.tsv", CLINICAL_HEADER, rows)
    with pytest.raises(InputError) as caught:
        load_clinical(sheet, CLINICAL_SCHEMA)
    assert str(caught.value).startswith(f"{sheet}: {expected}")


def test_validate_sheet_with_schema_fills_defaults(cohort_dir):
    sheet = write_tsv(cohort_dir / "images.tsv", IMAGE_HEADER[:4],
                      [["P1", "a.nii", "b.nii", "MR"]])
    validated = validate_sheet_with_schema(read_sheet(sheet), IMAGES_SCHEMA, sheet)
    assert validated.loc[0, "label"] == "1"


def test_a_maf_makes_a_header_only_sheet_legal_and_adds_its_tumours(cohort_dir):
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, [])
    df = load_samples(sheet, SAMPLES_SCHEMA, maf="c.maf", maf_barcodes=["TCGA-A1", "TCGA-A2"])
    assert df[["patient", "sample", "type", "vcf"]].values.tolist() == [
        ["TCGA-A1", "TCGA-A1", "tumour", ""], ["TCGA-A2", "TCGA-A2", "tumour", ""]]
    assert maf_samples(df) == {"TCGA-A1", "TCGA-A2"}


def test_the_sheet_may_name_a_maf_tumour_with_its_patient_id(cohort_dir):
    rows = good_sample_rows() + [["P9", "TCGA-A1", "tumour", "", "", "", "", "0.4"]]
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, rows)
    df = load_samples(sheet, SAMPLES_SCHEMA, maf="c.maf", maf_barcodes=["TCGA-A1", "TCGA-A2"])
    named = df.set_index("sample").loc[["TCGA-A1", "TCGA-A2"], ["patient", "purity"]]
    assert named.values.tolist() == [["P9", "0.4"], ["TCGA-A2", ""]]
    assert maf_samples(df) == {"TCGA-A1", "TCGA-A2"}


@pytest.mark.parametrize("row, barcodes, expected", [
    (["P9", "TCGA-A1", "tumour", "", "", "", "calls/P2.vcf.gz", ""], ["TCGA-A1"],
     "row 5 (line 6): sample 'TCGA-A1' is a Tumor_Sample_Barcode of the MAF and gives vcf too"),
    (["P9", "TCGA-A1", "normal", "", "", "", "", ""], ["TCGA-A1"],
     ("row 5 (line 6): column 'type': sample 'TCGA-A1' is a Tumor_Sample_Barcode of the MAF: "
      "its type must be tumour")),
    (["P1", "TCGA-A1", "tumour", "", "", "", "", ""], ["TCGA-A1"],
     "patient 'P1' has a second tumour"),
    (["P9", "P9-T", "tumour", "", "", "", "", ""], ["TCGA-A1"],
     ("gives none; give exactly one of fastq1+fastq2, bam or vcf (or name a "
      "Tumor_Sample_Barcode of the MAF)")),
])
def test_maf_rows_of_the_sheet_are_checked(cohort_dir, row, barcodes, expected):
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, good_sample_rows() + [row])
    assert expected in samples_error(sheet, maf="c.maf", maf_barcodes=barcodes)


def test_a_barcode_that_cannot_be_a_patient_id_is_named(cohort_dir):
    sheet = write_tsv(cohort_dir / "samples.tsv", SAMPLE_HEADER, good_sample_rows())
    message = samples_error(sheet, maf="c.maf", maf_barcodes=["TCGA A1"])
    assert message.startswith("c.maf: Tumor_Sample_Barcode 'TCGA A1' cannot be a patient id")
    message = samples_error(sheet, maf="c.maf", maf_barcodes=["P2"])
    assert "Tumor_Sample_Barcode 'P2' is also a patient or sample of the sample sheet" in message
