"""Cohort merge: per-sample variants tables -> one sorted Parquet with provenance, and a MAF."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.variants.cohort import merge_variants
from oncoweave.variants.schema import VARIANTS_SCHEMA

GENE_CHROM = {"TP53": "chr17", "BRCA2": "chr13", "EGFR": "chr7"}


def variant(patient: str, gene: str, pos: int, ref: str = "C", alt: str = "T",
            status: str = "somatic", **fields) -> dict:
    row = {name: None for name in VARIANTS_SCHEMA.names}
    row.update(patient=patient, sample=f"{patient}_T", normal_sample=f"{patient}_N",
               chrom=GENE_CHROM[gene], pos=pos, ref=ref, alt=alt, contig=f"x_{gene}",
               contig_pos=pos % 100_000, variant_type="SNV", gene=gene, consequence="missense",
               t_depth=200, t_alt=50, t_vaf=0.25, n_depth=100, n_alt=0, n_vaf=0.0,
               status=status, filter="PASS", pair_identity="pass")
    row.update(fields)
    return row


def write_table(path, rows, **metadata):
    write_parquet(pd.DataFrame(rows, columns=VARIANTS_SCHEMA.names), path, VARIANTS_SCHEMA,
                  {"config_hash": "abc123", "bcftools_callVersion": "1.16", **metadata})
    return path


@pytest.fixture
def inputs(tmp_path):
    p2 = write_table(tmp_path / "P2.parquet", [
        variant("P2", "TP53", 7675088),
        variant("P2", "EGFR", 55191822, "T", "G"),
        variant("P2", "BRCA2", 32340300, status="germline"),
    ], run="b")
    p1 = write_table(tmp_path / "P1.parquet", [
        variant("P1", "TP53", 7674220, "CA", "C", variant_type="DEL", consequence="frameshift"),
        variant("P1", "TP53", 7673802),
    ], run="a")
    empty = write_table(tmp_path / "P3.parquet", [], run="c")
    return [p2, p1, empty]


def test_rows_sorted_by_patient_then_karyotype_order(inputs, tmp_path):
    merged = merge_variants(inputs, tmp_path / "cohort.parquet")
    # chr7 before chr13 before chr17 (not the string order chr13, chr17, chr7).
    expected = [("P1", "chr17", 7673802), ("P1", "chr17", 7674220), ("P2", "chr7", 55191822),
                ("P2", "chr13", 32340300), ("P2", "chr17", 7675088)]
    assert list(zip(merged["patient"], merged["chrom"], merged["pos"])) == expected
    written, _ = read_parquet(tmp_path / "cohort.parquet", VARIANTS_SCHEMA)
    assert list(zip(written["patient"], written["chrom"], written["pos"])) == expected


def test_provenance_keeps_shared_keys_and_every_input(inputs, tmp_path):
    merge_variants(inputs, tmp_path / "cohort.parquet", metadata={"config_hash": "cohort99"})
    _, metadata = read_parquet(tmp_path / "cohort.parquet")
    assert metadata["bcftools_callVersion"] == "1.16"  # all inputs agree
    assert "run" not in metadata  # they disagree: kept per input only
    assert metadata["config_hash"] == "cohort99"  # the merge run's own value on top
    per_input = json.loads(metadata["inputs_provenance"])
    assert {path: meta["run"] for path, meta in per_input.items()} == {
        str(inputs[0]): "b", str(inputs[1]): "a", str(inputs[2]): "c"}
    assert per_input[str(inputs[1])]["config_hash"] == "abc123"


def test_same_inputs_in_any_order_give_identical_files(inputs, tmp_path):
    merge_variants(inputs, tmp_path / "a.parquet", tmp_path / "a.maf")
    merge_variants(inputs[::-1], tmp_path / "b.parquet", tmp_path / "b.maf")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert (tmp_path / "a.maf").read_text() == (tmp_path / "b.maf").read_text()


def test_maf_has_the_tumour_alterations_only(inputs, tmp_path):
    merge_variants(inputs, tmp_path / "cohort.parquet", tmp_path / "cohort.maf")
    maf = pd.read_csv(tmp_path / "cohort.maf", sep="\t")
    assert list(zip(maf["Tumor_Sample_Barcode"], maf["Start_Position"],
                    maf["Variant_Classification"])) == [
        ("P1_T", 7673802, "Missense_Mutation"), ("P1_T", 7674221, "Frame_Shift_Del"),
        ("P2_T", 55191822, "Missense_Mutation"), ("P2_T", 7675088, "Missense_Mutation")]


def test_table_with_another_schema_is_named_and_nothing_written(inputs, tmp_path):
    bad = tmp_path / "old.parquet"
    table = pa.Table.from_pandas(
        pd.DataFrame([variant("P9", "TP53", 1)]).drop(columns="purity"), preserve_index=False)
    pq.write_table(table, bad)
    with pytest.raises(InputError, match=r"old\.parquet.*purity: expected double, found nothing"):
        merge_variants(inputs + [bad], tmp_path / "cohort.parquet", tmp_path / "cohort.maf")
    assert not (tmp_path / "cohort.parquet").exists()
    assert not (tmp_path / "cohort.maf").exists()


def test_a_sample_merged_twice_is_refused(inputs, tmp_path):
    again = write_table(tmp_path / "P1_again.parquet", [variant("P1", "EGFR", 55181378)])
    with pytest.raises(InputError, match=r"P1_again\.parquet: sample 'P1_T' is already in "
                                         r".*P1\.parquet"):
        merge_variants(inputs + [again], tmp_path / "cohort.parquet")


def test_cli_writes_parquet_and_maf_and_reports_bad_input(inputs, tmp_path, capsys):
    out, maf = tmp_path / "out" / "cohort.parquet", tmp_path / "out" / "cohort.maf"
    argv = ["merge-variants", "--output", str(out), "--maf", str(maf),
            "--maf-statuses", "somatic,germline", *map(str, inputs)]
    assert main(argv) == 0
    assert "5 variants of 2 patients" in capsys.readouterr().out
    assert pd.read_csv(maf, sep="\t")["oncoweave_status"].tolist() == [
        "somatic", "somatic", "somatic", "germline", "somatic"]

    missing = tmp_path / "missing.parquet"
    assert main(["merge-variants", "--output", str(tmp_path / "x.parquet"), str(missing)]) == 2
    assert "missing.parquet" in capsys.readouterr().err
    assert main(argv[:5] + ["--maf-statuses", "somatc", *map(str, inputs)]) == 2
    assert "unknown status(es) ['somatc']" in capsys.readouterr().err
