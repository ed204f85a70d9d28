"""The per-gene copy-number table: GISTIC/cBioPortal discrete tables, segments and wide <GENE>_cnv
tables, from small hand-written files; each bad input's one-line error; the CLI entry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.genome.builds import DRIVER_GENE_SPANS
from oncoweave.variants.copy_number import (
    COPY_NUMBER_SCHEMA,
    LOG2_THRESHOLDS,
    call_from_copy_numbers,
    gene_spans,
    read_gistic_table,
    read_sample_map,
    read_segments,
)
from oncoweave.variants.copy_number_tables import read_cnv_columns

SHARED = Path("/work/shared/data")
UCEC = SHARED / "tcga_ucec_mcat" / "tcga_ucec_all_clean_full.csv.gz"
BLCA = SHARED / "tcga_blca_mcat" / "tcga_blca_all_clean_sig.csv.gz"
SAMPLE_MAP = {"S1": "P1", "S2": "P2"}


def write(path: Path, rows: list[list]) -> Path:
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))
    return path


def cna(tmp_path: Path, rows: list[list] | None = None) -> Path:
    return write(tmp_path / "data_cna.txt", [["Hugo_Symbol", "Entrez_Gene_Id", "S1", "S2"]]
                 + (rows or [["EGFR", 1956, 2, 1], ["BRCA2", 675, -2, -1],
                             ["TP53", 7157, 0, "NA"], ["MYC", 4609, 2, 2]]))


def calls(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    return {(row.patient, row.gene): row.call for row in table.itertuples()}


def test_gistic_values_become_calls_of_the_mapped_patients(tmp_path):
    table = read_gistic_table(cna(tmp_path), SAMPLE_MAP)
    assert list(table.columns) == COPY_NUMBER_SCHEMA.names
    assert calls(table) == {("P1", "EGFR"): "amplification", ("P2", "EGFR"): "gain",
                            ("P1", "BRCA2"): "deep_deletion", ("P2", "BRCA2"): "loss",
                            ("P1", "TP53"): "neutral"}  # NA: no row; MYC: not a bundled gene
    assert set(table["source"]) == {"gistic"} and table["log2_ratio"].isna().all()
    assert table["total_copy_number"].isna().all() and table["minor_copy_number"].isna().all()
    every_gene = read_gistic_table(cna(tmp_path), SAMPLE_MAP, genes=None)
    assert calls(every_gene)[("P2", "MYC")] == "amplification"


def test_a_sample_named_as_its_patient_needs_no_mapping(tmp_path):
    table = read_gistic_table(cna(tmp_path), {"S1": "P1", "X": "S2"})
    assert set(table["patient"]) == {"P1", "S2"}
    assert set(read_gistic_table(cna(tmp_path))["patient"]) == {"S1", "S2"}  # no map at all


def test_absolute_copy_numbers_give_each_call_kind_including_loh():
    assert [call_from_copy_numbers(total, minor) for total, minor in
            ((0, 0), (1, 0), (2, 1), (2, 0), (3, 1), (4, 2), (9, None))] == [
        "deep_deletion", "loss", "neutral", "loh", "gain", "amplification", "amplification"]
    with pytest.raises(ValueError, match="0 <= minor <= total"):
        call_from_copy_numbers(2, 3)


@pytest.mark.parametrize("rows, message", [
    ([["EGFR", 1956, 3, 0]], "line 2, column 'S1': value '3' is not a GISTIC call "
                             "(-2, -1, 0, 1, 2 or NA)"),
    ([["EGFR", 1956, 0, 0], ["TP53", 7157, 1, "x"]],
     "line 3, column 'S2': value 'x' is not a GISTIC call (-2, -1, 0, 1, 2 or NA)"),
    ([["EGFR", 1956, 0, 0], ["TP53", 7157, 1, 1], ["EGFR", 1956, 1, 1]],
     "line 4: gene EGFR is repeated (first on line 2): one row per gene"),
    ([["", 1956, 0, 0]], "line 2: Hugo_Symbol is empty"),
    ([["EGFR", 1956, 0]], "line 2: has 3 tab-separated fields but the header has 4"),
])
def test_bad_gistic_tables_get_one_line_naming_file_line_and_column(tmp_path, rows, message):
    path = cna(tmp_path, rows)
    with pytest.raises(InputError) as error:
        read_gistic_table(path, SAMPLE_MAP)
    assert str(error.value) == f"{path}: {message}"


def test_lines_are_counted_in_the_file_past_blank_lines(tmp_path):
    path = tmp_path / "data_cna.txt"
    path.write_text("Hugo_Symbol\tS1\n\nEGFR\t2\n\nTP53\t5\n")
    with pytest.raises(InputError, match="^.*: line 5, column 'S1': value '5' is not"):
        read_gistic_table(path)


def test_a_sample_matching_no_patient_or_a_missing_gene_column_is_refused(tmp_path):
    path = cna(tmp_path)
    with pytest.raises(InputError) as error:
        read_gistic_table(path, {"S1": "P1"})
    assert str(error.value) == (f"{path}: line 1, column 'S2': sample 'S2' matches no patient "
                                "(neither a sample of the sample map nor a patient id)")
    with pytest.raises(InputError, match="samples 'S1' and 'S2' are both of patient 'P1'"):
        read_gistic_table(path, {"S1": "P1", "S2": "P1"})
    no_gene = write(tmp_path / "genes.txt", [["Gene", "S1"], ["EGFR", 2]])
    with pytest.raises(InputError) as error:
        read_gistic_table(no_gene)
    assert str(error.value).startswith(f"{no_gene}: line 1: no Hugo_Symbol column")


def test_the_sample_map_takes_tumour_rows_of_the_sample_sheet(tmp_path):
    sheet = write(tmp_path / "samples.tsv", [["patient", "sample", "type"], ["P1", "S1", "tumour"],
                                             ["P1", "N1", "normal"], ["P2", "S2", "tumour"]])
    assert read_sample_map(sheet) == SAMPLE_MAP
    with pytest.raises(InputError, match="needs 'patient' and 'sample'"):
        read_sample_map(write(tmp_path / "bad.tsv", [["id", "who"], ["S1", "P1"]]))


# --- segments --------------------------------------------------------------------------------

SEG_HEADER = ["ID", "chrom", "loc.start", "loc.end", "num.mark", "seg.mean"]


def test_gene_spans_are_the_canonical_transcripts_on_grch38():
    spans = gene_spans()
    for gene, (chrom, first, last) in spans.items():
        reference_chrom, *_, start38, end38 = DRIVER_GENE_SPANS[gene]
        assert chrom == reference_chrom and start38 <= first < last <= end38
    assert spans["BRCA2"] == ("13", 32315480, 32399672)


@pytest.mark.parametrize("seg_mean, expected", [
    (1.0, "amplification"), (0.99, "gain"), (0.2, "gain"), (0.19, "neutral"), (-0.29, "neutral"),
    (-0.3, "loss"), (-1.19, "loss"), (-1.2, "deep_deletion")])
def test_segments_are_called_at_the_documented_thresholds(tmp_path, seg_mean, expected):
    path = write(tmp_path / "x.seg", [SEG_HEADER, ["S1", "chr7", 50_000_000, 60_000_000, 900,
                                                   seg_mean]])
    table = read_segments(path, SAMPLE_MAP)
    assert calls(table) == {("P1", "EGFR"): expected}
    assert table["log2_ratio"].tolist() == [seg_mean] and set(table["source"]) == {"segments"}
    assert LOG2_THRESHOLDS.call(seg_mean) == expected


def test_a_gene_takes_the_overlap_weighted_mean_and_a_focal_homozygous_deletion(tmp_path):
    first, last = gene_spans()["BRCA2"][1:]
    middle = (first + last) // 2
    rows = [SEG_HEADER,
            # TP53: a quarter of the gene at 0.6, three quarters at 0.0 -> 0.15, neutral.
            ["S2", "17", 7_000_000, 7_673_187, 20, 0.6], ["S2", "17", 7_673_188, 8_000_000, 20, 0],
            # BRCA2: one-copy loss with an intragenic homozygous deletion of 1 kb.
            ["S1", "13", 30_000_000, middle, 40, -0.5], ["S1", "13", middle + 1, middle + 1000, 3,
                                                         -2.5],
            ["S1", "13", middle + 1001, 40_000_000, 40, -0.5]]
    table = read_segments(write(tmp_path / "x.seg", rows), SAMPLE_MAP)
    assert calls(table) == {("P2", "TP53"): "neutral", ("P1", "BRCA2"): "deep_deletion"}
    tp53 = table.set_index("gene").loc["TP53", "log2_ratio"]
    tp53_first, tp53_last = gene_spans()["TP53"][1:]
    share = (7_673_187 - tp53_first + 1) / (tp53_last - tp53_first + 1)
    assert tp53 == pytest.approx(0.6 * share, abs=1e-6)  # rounded to 6 decimals


@pytest.mark.parametrize("row, message", [
    (["S1", "7", 200, 100, 3, 0.1], "line 3, column 'loc.end': end 100 is before start 200"),
    (["S1", "chrUn", 1, 100, 3, 0.1], "line 3, column 'chrom': 'Un' is not a GRCh38 chromosome "
                                      "(1-22, X, Y, with or without 'chr')"),
    (["S1", "7", "x", 100, 3, 0.1], "line 3, column 'loc.start': 'x' is not a positive integer"),
    (["S1", "7", 1, 100, 3, "NA"], "line 3, column 'seg.mean': 'NA' is not a number"),
    (["S1", "21", 1, 50_000_000, 3, 0.1], "line 3, column 'loc.end': 50000000 is beyond the end "
                                         "of chromosome 21 on GRCh38 (another build?)"),
    (["S9", "7", 1, 100, 3, 0.1], "line 3, column 'ID': sample 'S9' matches no patient (neither "
                                  "a sample of the sample map nor a patient id)"),
])
def test_bad_segments_get_one_line_naming_the_first_bad_row(tmp_path, row, message):
    path = write(tmp_path / "x.seg", [SEG_HEADER, ["S1", "7", 1, 100, 3, 0.1], row])
    with pytest.raises(InputError) as error:
        read_segments(path, SAMPLE_MAP)
    assert str(error.value) == f"{path}: {message}"


def test_a_segments_file_without_seg_mean_is_refused(tmp_path):
    path = write(tmp_path / "x.seg", [SEG_HEADER[:5], ["S1", "7", 1, 100, 3]])
    with pytest.raises(InputError, match=r"line 1: missing segment column\(s\) seg.mean"):
        read_segments(path)


# --- wide <GENE>_cnv tables and the CLI --------------------------------------------------------

def test_wide_cnv_columns_give_one_row_per_patient_and_refuse_conflicts(tmp_path):
    path = tmp_path / "wide.csv"
    pd.DataFrame({"case_id": ["C1", "C1", "C2"], "slide_id": ["a", "b", "c"],
                  "EGFR_cnv": [2, 2, 0], "BRCA2_cnv": [-1, -1, -2]}).to_csv(path, index=False)
    assert calls(read_cnv_columns(path)) == {
        ("C1", "EGFR"): "amplification", ("C2", "EGFR"): "neutral", ("C1", "BRCA2"): "loss",
        ("C2", "BRCA2"): "deep_deletion"}
    pd.DataFrame({"case_id": ["C1", "C1"], "EGFR_cnv": [2, 1]}).to_csv(path, index=False)
    with pytest.raises(InputError) as error:
        read_cnv_columns(path)
    assert str(error.value) == (f"{path}: line 3, column 'EGFR_cnv': patient C1 has two "
                                "different values in its rows")
    pd.DataFrame({"case_id": ["C1"], "EGFR_cnv": [3]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="line 2, column 'EGFR_cnv': value '3' is not a GISTIC"):
        read_cnv_columns(path)


def test_cli_import_writes_the_table_and_leaves_nothing_on_bad_input(tmp_path, capsys):
    output = tmp_path / "genes.parquet"
    assert main(["copy-number", "import", "--cna", str(cna(tmp_path)),
                 "--output", str(output)]) == 0
    table, metadata = read_parquet(output, expected_schema=COPY_NUMBER_SCHEMA)
    assert len(table) == 5 and metadata["input"] == "data_cna.txt"
    assert "EGFR: amplification 1, gain 1" in capsys.readouterr().out
    bad, output = cna(tmp_path, [["EGFR", 1956, 3, 0]]), tmp_path / "bad.parquet"
    assert main(["copy-number", "import", "--cna", str(bad), "--output", str(output)]) == 2
    assert "value '3' is not a GISTIC call" in capsys.readouterr().err
    assert not output.exists() and not list(tmp_path.glob(".tmp*"))


@pytest.mark.skipif(not UCEC.exists(), reason="shared TCGA MCAT tables absent")
def test_the_published_tcga_tables_read_as_gistic_calls():
    ucec = read_cnv_columns(UCEC, genes=None)
    # 480 cases x 935 genes, no NA; the four bundled genes have no _cnv column there.
    assert ucec["patient"].nunique() == 480 and len(ucec) == 480 * 935
    assert read_cnv_columns(UCEC).empty
    erbb2 = ucec[ucec["gene"] == "ERBB2"]["call"].value_counts().to_dict()
    assert erbb2 == {"neutral": 348, "loss": 67, "amplification": 33, "gain": 31,
                     "deep_deletion": 1}
    blca = read_cnv_columns(BLCA, genes=("CDKN2A", "ERBB2"))
    assert blca["patient"].nunique() == 373
    assert set(blca["call"]) <= set(COPY_NUMBER_SCHEMA.field("call").metadata[b"description"]
                                    .decode().removeprefix("One of ").split(", "))
