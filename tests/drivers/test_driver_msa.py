"""Evolutionary features (oncoweave.drivers.msa), their use in the features and the TP53
functional validation (oncoweave.drivers.functional)."""

import math

import numpy as np
import pandas as pd
import pytest

from helpers import SHARED_DATA
from oncoweave.drivers.defaults import DRIVERS_RESOURCE_DIR
from oncoweave.drivers.features import annotate_protein_change, describe, feature_table
from oncoweave.drivers.msa import (
    AMINO_ACIDS,
    Alignment,
    BACKGROUND,
    MSA_TABLE,
    build_msa_table,
    column_profiles,
    load_msa_table,
    read_alignment,
    sequence_weights,
)
from oncoweave.genome.sequence import translate

MSA_DIR = SHARED_DATA / "protein_msas_3genes"
IARC_TP53 = SHARED_DATA / "iarc_tp53_functional_r21" / "tp53_FunctionIshioka_r21.csv"


def test_a2m_keeps_match_columns_and_numbers_residues_through_inserts(tmp_path):
    # Human row: 'mk' N-terminal inserts (residues 1-2), then match W3 A4, insert 'g' (5), V6.
    path = tmp_path / "toy.a2m"
    path.write_text(">HUMAN/1-6\nmkWAgV\n>h1\n..WA.V\n>h2\n..W-cL\n")
    alignment = read_alignment(path, "a2m")
    assert alignment.residues.tolist() == [3, 4, 6]
    assert alignment.human == "WAV"
    assert alignment.sequences[2].tolist() == [AMINO_ACIDS.index("W"), 20,
                                               AMINO_ACIDS.index("L")]


def test_fasta_drops_columns_where_human_has_a_gap(tmp_path):
    path = tmp_path / "toy.fasta"
    path.write_text(">human\nM-KV\n>dog\nMQKI\n")
    alignment = read_alignment(path, "fasta")
    assert alignment.residues.tolist() == [1, 2, 3] and alignment.human == "MKV"


def test_identical_sequences_share_one_weight_and_pseudocounts_follow_the_formula():
    codes = np.array([[AMINO_ACIDS.index(a) for a in row] for row in
                      ("ACDEFGHIKL", "ACDEFGHIKL", "ACDEFGHIKV", "WWWWWWWWWW")])
    # Rows 0-2 are >= 80 % identical to each other (9/10), row 3 to none.
    assert sequence_weights(codes).tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1])
    profile = column_profiles(Alignment(codes, np.arange(1, 11)), pseudocount=1.0)
    q = np.array([BACKGROUND[a] for a in AMINO_ACIDS])
    q = q / q.sum()
    last = profile["frequencies"][9]  # L weighs 2/3, V 1/3, W 1; Neff 2; + 1 pseudo-sequence
    assert last[AMINO_ACIDS.index("L")] == pytest.approx((2 / 3 + q[AMINO_ACIDS.index("L")]) / 3)
    assert last[AMINO_ACIDS.index("C")] == pytest.approx(q[AMINO_ACIDS.index("C")] / 3)
    assert profile["column_neff"][9] == pytest.approx(2)
    assert last.sum() == pytest.approx(1)


def test_shipped_table_covers_the_documented_residues():
    table = load_msa_table(DRIVERS_RESOURCE_DIR / MSA_TABLE)
    tp53 = sorted(p for g, p in table if g == "TP53")
    assert (tp53[0], tp53[-1], len(tp53)) == (45, 374, 329) and 60 not in tp53
    assert not any(g == "EGFR" for g, _ in table)
    assert len([1 for g, _ in table if g == "BRCA1"]) == 1863
    # The canonical residue is the reference even where the alignment's human row differs
    # (BRCA2 N372H polymorphism: the alignment has H).
    assert table[("BRCA2", 372)].ref_aa == "N" and table[("BRCA2", 372)].log_odds["N"] == 0


@pytest.mark.skipif(not MSA_DIR.is_dir(), reason=f"{MSA_DIR} absent")
def test_shipped_table_is_what_build_msa_features_makes(knowledge):
    wild_types = {gene: translate(s.cds_sequence) for gene, s in knowledge.genes.items()}
    rows, summaries = build_msa_table(MSA_DIR, wild_types)
    assert round(summaries["TP53"]["neff"]) == 449  # SOURCE.md: Neff 450 at 80 % identity
    shipped = pd.read_csv(DRIVERS_RESOURCE_DIR / MSA_TABLE, sep="\t")
    rebuilt = pd.DataFrame(rows)
    pd.testing.assert_frame_equal(shipped, rebuilt, check_dtype=False)


def test_conserved_hotspot_gets_evolutionary_features_egfr_and_uncovered_get_nan(knowledge):
    annotations = pd.DataFrame([annotate_protein_change(*change, knowledge) for change in (
        ("TP53", "p.R175H"), ("TP53", "p.P72R"), ("EGFR", "p.L858R"), ("TP53", "p.R175*"),
        ("TP53", "p.V10F"))])
    rows = feature_table(annotations, knowledge).to_dict("records")
    r175h, p72r, egfr, nonsense, uncovered = rows
    assert r175h["msa_conservation"] > p72r["msa_conservation"]
    assert r175h["msa_log_odds"] < -3
    assert r175h["msa_depth"] > 300
    assert all(math.isnan(egfr[f]) and math.isnan(uncovered[f])
               for f in ("msa_conservation", "msa_log_odds", "msa_depth"))
    assert math.isnan(nonsense["msa_log_odds"]) and not math.isnan(nonsense["msa_conservation"])
    annotation = annotations.iloc[0].to_dict()
    assert describe("msa_conservation", r175h["msa_conservation"], annotation, knowledge) == \
        f"residue conserved across {r175h['msa_depth']:.0f} effective homologs " \
        f"({r175h['msa_conservation']:.1f} bits)"
    assert describe("msa_log_odds", r175h["msa_log_odds"], annotation, knowledge).startswith(
        "H is rarely seen instead of R among")
    assert describe("msa_log_odds", math.nan, annotations.iloc[2].to_dict(), knowledge) == \
        "no homolog alignment covers this residue"


def test_functional_table_with_other_columns_is_refused(tmp_path, knowledge):
    from oncoweave.drivers.functional import read_tp53_functional

    path = tmp_path / "other.csv"
    path.write_text("AAchange,score\nR175H,3\n")
    with pytest.raises(ValueError, match="missing columns WAF1nWT"):
        read_tp53_functional(path, knowledge)


@pytest.mark.skipif(not IARC_TP53.is_file(), reason=f"{IARC_TP53} absent")
def test_msa_features_improve_the_held_out_tp53_functional_spearman(knowledge):
    """Residue-held-out scores of yeast-assayed TP53 missense variants (never trained on) rank
    loss of function better with the MSA features than with the old feature set."""
    from oncoweave.drivers.functional import functional_validation
    from oncoweave.drivers.labels import build_training_set

    result = functional_validation(IARC_TP53, build_training_set(knowledge=knowledge),
                                   knowledge, folds=3)
    for subset in ("all_missense", "msa_covered_missense"):
        figures = result[subset]
        assert figures["with_msa"]["spearman"] > figures["without_msa"]["spearman"], subset
        assert figures["with_msa_minus_without_msa"]["ci95"][0] > 0, subset
    assert result["all_missense"]["n_variants"] == 2314
