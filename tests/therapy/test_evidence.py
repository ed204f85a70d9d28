"""The evidence table: CIViC subset + curated standards, tier mapping, disease matching."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from helpers import REPO
from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.genome.gene_models import canonical_models
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR
from oncoweave.therapy.evidence import (
    EVIDENCE_SCHEMA,
    EXON_CODONS,
    amp_tier,
    build_evidence,
    civic_matcher,
    disease_match,
    read_curated,
)

EVIDENCE_DIR = REPO / "resources" / "evidence"
CIVIC = EVIDENCE_DIR / "civic_evidence_4genes.tsv"
CURATED = EVIDENCE_DIR / "curated.tsv"


@pytest.fixture(scope="module")
def evidence() -> pd.DataFrame:
    return build_evidence(CIVIC, CURATED)[0]


def _rows(evidence: pd.DataFrame, **where) -> pd.DataFrame:
    mask = pd.Series(True, index=evidence.index)
    for column, value in where.items():
        mask &= evidence[column] == value
    return evidence[mask]


def test_civic_l858r_erlotinib_level_a_sensitivity(evidence):
    rows = _rows(evidence, source="civic", gene="EGFR", matcher_value="p.L858R",
                 drug="Erlotinib", evidence_level="A", direction="sensitivity")
    assert "EID2994" in set(rows["evidence_id"])
    assert (rows["amp_tier_same_disease"] == "IA").all()
    assert (rows["amp_tier_other_disease"] == "IIC").all()
    assert rows["source_ids"].str.contains("PMID:24868098").any()


def test_t790m_and_c797s_resistance_are_kept(evidence):
    t790m = _rows(evidence, gene="EGFR", matcher_value="p.T790M", direction="resistance")
    assert {"Erlotinib", "Gefitinib"} <= set(t790m["drug"])
    c797s = _rows(evidence, gene="EGFR", matcher_value="p.C797S", direction="resistance")
    assert "Osimertinib" in set(c797s["drug"])


def test_negative_non_predictive_and_unmatchable_items_are_left_out(evidence):
    _, skipped = build_evidence(CIVIC, CURATED)
    ids = set(evidence["evidence_id"])
    assert "EID6183" not in ids  # "Does Not Support"
    assert not evidence["variant"].isin(["VIII", "EXPRESSION"]).any()
    assert skipped["does not support"] > 0 and skipped["not predictive"] > 0
    assert skipped["variant not matchable on small-variant calls"] > 0


def test_every_row_is_cited_and_schema_complete(evidence):
    assert list(evidence.columns) == EVIDENCE_SCHEMA.names
    assert evidence["source_ids"].str.len().gt(0).all()
    assert evidence["evidence_id"].is_unique
    therapy = evidence["direction"] != "no_approved_therapy"
    assert evidence.loc[therapy, "evidence_level"].isin(list("ABCDE")).all()


def test_curated_standards_present(evidence):
    curated = evidence[evidence["source"] == "curated"]
    def drugs(**where) -> set:
        return set(_rows(curated, **where)["drug"])
    assert {"Osimertinib", "Erlotinib", "Gefitinib", "Afatinib"} <= drugs(
        gene="EGFR", matcher="exon_deletion", matcher_value="19", evidence_level="A")
    assert "Amivantamab" in drugs(gene="EGFR", matcher="exon_insertion", matcher_value="20")
    assert "Pembrolizumab" in drugs(matcher="tmb_high", matcher_value="10")
    for gene in ("BRCA1", "BRCA2"):
        assert {"Olaparib", "Talazoparib", "Rucaparib"} <= drugs(gene=gene,
                                                                 direction="sensitivity")
    tp53 = _rows(curated, gene="TP53")
    assert list(tp53["direction"]) == ["no_approved_therapy"] and tp53["drug"].isna().all()


@pytest.mark.parametrize("level, same, tier", [
    ("A", True, "IA"), ("B", True, "IB"), ("A", False, "IIC"), ("B", False, "IIC"),
    ("C", True, "IIC"), ("C", False, "IID"), ("D", True, "IID"), ("D", False, "III"),
    ("E", True, "III"), (None, True, None)])
def test_amp_tier_mapping(level, same, tier):
    assert amp_tier(level, same) == tier


def test_amp_tier_rejects_unknown_level():
    with pytest.raises(ValueError, match="A-E"):
        amp_tier("Z", True)


@pytest.mark.parametrize("gene, name, expected", [
    ("EGFR", "L858R", ("protein", "p.L858R")),
    ("BRCA1", "W1815X", ("protein", "p.W1815*")),
    ("EGFR", "A767_V769dupASV", ("protein", "p.A767_V769dup")),
    ("EGFR", "L747_P753delinsS", ("protein", "p.L747_P753delinsS")),
    ("EGFR", "G719", ("codon", "G719")),
    ("EGFR", "EXON 19 DELETION", ("exon_deletion", "19")),
    ("EGFR", "EXON 20 INSERTION", ("exon_insertion", "20")),
    ("BRCA2", "LOSS-OF-FUNCTION", ("truncating_or_pathogenic", None)),
    ("EGFR", "MUTATION", ("pathogenic", None)),
    ("EGFR", "EXON 4 DELETION", None),
    ("EGFR", "AMPLIFICATION", ("amplification", None)),  # matched on copy-number calls
    ("EGFR", "COPY NUMBER VARIATION", ("amplification", None)),
    ("BRCA2", "DELETION", ("deletion", None)),
    ("BRCA2", "AMPLIFICATION", None),
    ("EGFR", "V769_770insASV", None),
])
def test_civic_variant_names_to_matchers(gene, name, expected):
    assert civic_matcher(gene, name) == expected


@pytest.mark.parametrize("evidence_disease, cancer_type, expected", [
    ("Non-small Cell Lung Carcinoma", "lung adenocarcinoma", "exact"),
    ("Lung Adenocarcinoma", "NSCLC", "exact"),
    ("Non-small Cell Lung Carcinoma", "small cell lung cancer", "other"),
    ("Her2-receptor Negative Breast Cancer", "Breast Cancer", "exact"),
    ("Ovarian Cancer", "lung adenocarcinoma", "other"),
    ("Solid Tumor", "melanoma", "exact"),
    ("Cancer", "breast cancer", "other"),
    ("Ovarian Cancer", None, "unknown"),
])
def test_disease_match(evidence_disease, cancer_type, expected):
    assert disease_match(evidence_disease, cancer_type) == expected


def test_exon_codons_agree_with_bundled_gene_models():
    egfr = canonical_models(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3",
                            BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv")["EGFR"]
    exons = sorted(egfr.exons, reverse=egfr.strand == "-")  # in transcript order
    cds = egfr.cds
    codons, coding_end = {}, 0
    for number, (start, end) in enumerate(exons, 1):
        coding = sum(max(0, min(end, c_end) - max(start, c_start) + 1) for c_start, c_end in cds)
        codons[("EGFR", number)] = (coding_end // 3 + 1, (coding_end + coding + 2) // 3)
        coding_end += coding
    assert EXON_CODONS == {key: codons[key] for key in EXON_CODONS}


def _write_curated(tmp_path: Path, edit) -> Path:
    table = pd.read_csv(CURATED, sep="\t", dtype=str, keep_default_na=False)
    path = tmp_path / "curated.tsv"
    edit(table).to_csv(path, sep="\t", index=False)
    return path


def test_curated_row_without_citation_is_refused(tmp_path):
    def uncite(table):
        table.loc[2, "source_ids"] = ""
        return table
    with pytest.raises(InputError, match=r"row 4, column 'source_ids'"):
        read_curated(_write_curated(tmp_path, uncite))


def test_curated_bad_matcher_value_is_refused(tmp_path):
    def exon_21(table):
        table.loc[table["matcher"] == "exon_deletion", "matcher_value"] = "21"
        return table
    with pytest.raises(InputError, match="matcher_value"):
        read_curated(_write_curated(tmp_path, exon_21))


def test_civic_missing_column_names_file_and_column(tmp_path):
    civic = pd.read_csv(CIVIC, sep="\t", dtype=str, quoting=3, keep_default_na=False)
    path = tmp_path / "civic.tsv"
    civic.drop(columns=["evidence_level"]).to_csv(path, sep="\t", index=False, quoting=3)
    with pytest.raises(InputError, match=r"civic\.tsv: missing column\(s\) evidence_level"):
        build_evidence(path, CURATED)


def test_cli_build_evidence(tmp_path, capsys):
    output = tmp_path / "evidence.parquet"
    assert main(["build-evidence", "--civic", str(CIVIC), "--curated", str(CURATED),
                 "--output", str(output)]) == 0
    table, metadata = read_parquet(output, expected_schema=EVIDENCE_SCHEMA)
    assert (table["source"] == "curated").sum() == len(read_curated(CURATED))
    assert "does not support" in metadata["civic_left_out"]
    assert "evidence rows" in capsys.readouterr().out
