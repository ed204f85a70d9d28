"""Annotation and features of known variants (oncoweave.drivers.features)."""

import csv

import pandas as pd
import pytest

from oncoweave.drivers.defaults import DRIVERS_RESOURCE_DIR
from oncoweave.drivers.features import (
    annotate_genomic,
    annotate_protein_change,
    describe,
    feature_table,
)


def _features(knowledge, *annotations):
    return feature_table(pd.DataFrame(list(annotations)), knowledge)


def _hotspot_count(gene, position):
    with (DRIVERS_RESOURCE_DIR / "hotspots_v2_snv_4genes.tsv").open() as handle:
        return next(int(row["Mutation_Count"]) for row in csv.DictReader(handle, delimiter="\t")
                    if row["Hugo_Symbol"] == gene and row["Amino_Acid_Position"] == str(position))


def test_tp53_r175h_is_a_dna_binding_domain_hotspot(knowledge):
    annotation = annotate_protein_change("TP53", "p.R175H", knowledge)
    row = _features(knowledge, annotation).iloc[0]
    assert row["missense"] == 1 and row["in_domain"] == 1
    assert row["hotspot_residue_count"] == _hotspot_count("TP53", 175)
    assert describe("in_domain", 1.0, annotation, knowledge) == "inside the DNA-binding domain"
    assert describe("hotspot_residue_count", row["hotspot_residue_count"], annotation,
                    knowledge).startswith("recurrent hotspot")


def test_early_brca1_frameshift_is_truncating_with_nmd_late_one_escapes(knowledge):
    early, late = _features(knowledge, annotate_protein_change("BRCA1", "p.E23fs", knowledge),
                            annotate_protein_change("BRCA1", "p.L1850fs", knowledge)).to_dict(
        "records")
    assert early["truncating"] == 1 and early["nmd_predicted"] == 1
    assert early["protein_fraction_lost"] > 0.98
    assert late["truncating"] == 1 and late["nmd_predicted"] == 0  # last exon: escapes NMD


@pytest.mark.parametrize("genomic, protein", [
    (("chr17", 7675088, "C", "T"), ("TP53", "p.R175H")),  # minus strand
    (("chr7", 55191822, "T", "G"), ("EGFR", "p.L858R")),  # plus strand
    (("chr13", 32333310, "C", "G"), ("BRCA2", "p.S611*")),
])
def test_genomic_and_protein_input_agree(knowledge, genomic, protein):
    from_genome = annotate_genomic(*genomic, knowledge)
    from_protein = annotate_protein_change(*protein, knowledge)
    for key in ("gene", "consequence", "protein_position", "ref_aa", "alt_aa", "hgvs_p"):
        assert from_genome[key] == from_protein[key]


def test_indels_and_splice_sites_from_alleles(knowledge):
    assert annotate_genomic("chr17", 43124027, "ACT", "A", knowledge)["consequence"] == \
        "frameshift"  # BRCA1 c.68_69del
    exon19 = annotate_genomic("chr7", 55174771, "AGGAATTAAGAGAAGC", "A", knowledge)
    assert exon19["consequence"] == "inframe_deletion" and exon19["protein_position"] == 745
    # EGFR is on '+': the base after an exon's last base is the donor +1.
    structure = knowledge.genes["EGFR"]
    exon_last = structure.exons[3][1]
    chrom, pos = knowledge.contig_map.to_genomic(structure.transcript.contig, exon_last + 1)
    ref = knowledge.fasta.fetch(structure.transcript.contig, exon_last, exon_last + 1)
    alt = "A" if ref != "A" else "C"
    donor = annotate_genomic(chrom, pos, ref, alt, knowledge)
    assert (donor["consequence"], donor["splice_distance"]) == ("splice_donor", 1)


@pytest.mark.parametrize("call, message", [
    (lambda k: annotate_genomic("chr17", 7675088, "G", "T", k), "does not match"),
    (lambda k: annotate_genomic("chr1", 1000, "A", "T", k), "outside"),
    (lambda k: annotate_protein_change("KRAS", "p.G12D", k), "not scored"),
    (lambda k: annotate_protein_change("TP53", "p.G175H", k), "residue 175 is R"),
    (lambda k: annotate_protein_change("TP53", "p.R999H", k), "outside TP53"),
])
def test_bad_variants_give_reasons(knowledge, call, message):
    with pytest.raises(ValueError, match=message):
        call(knowledge)
