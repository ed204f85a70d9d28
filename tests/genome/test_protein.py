"""HGVS p. parsing, substitution properties and domains (oncoweave.genome.protein)."""

import pytest

from oncoweave.drivers.defaults import DRIVERS_RESOURCE_DIR
from oncoweave.genome.protein import (
    blosum62,
    charge_change,
    domain_at,
    grantham,
    load_domains,
    parse_hgvs_p,
)


@pytest.mark.parametrize("one_letter, three_letter", [
    ("p.R175H", "p.Arg175His"),
    ("p.R175=", "p.Arg175="),
    ("p.R196*", "p.Arg196Ter"),
    ("p.L22Yfs*22", "p.Leu22TyrfsTer22"),
    ("p.E746_A750del", "p.Glu746_Ala750del"),
])
def test_one_and_three_letter_forms_parse_alike(one_letter, three_letter):
    assert parse_hgvs_p(one_letter) == parse_hgvs_p(three_letter)


@pytest.mark.parametrize("text, consequence, position, ref, alt, normalised", [
    ("p.R175H", "missense", 175, "R", "H", "p.R175H"),
    ("p.A119A", "synonymous", 119, "A", "A", "p.A119="),
    ("p.(Arg175=)", "synonymous", 175, "R", "R", "p.R175="),
    ("p.R196*", "stop_gained", 196, "R", "*", "p.R196*"),
    ("p.V31X", "stop_gained", 31, "V", "*", "p.V31*"),
    ("p.E23fs", "frameshift", 23, "E", None, "p.E23fs"),
    ("p.Glu23ValfsTer17", "frameshift", 23, "E", None, "p.E23fs"),
    ("p.E746_A750del", "inframe_deletion", 746, "E", None, "p.E746_A750del"),
    ("p.T3310del", "inframe_deletion", 3310, "T", None, "p.T3310del"),
    ("p.Y1125_Q1126insS", "inframe_insertion", 1125, "Y", None, "p.Y1125_Q1126ins"),
    ("p.M1V", "start_lost", 1, "M", "V", "p.M1V"),
    ("p.*3419Lext*?", "stop_lost", 3419, "*", "L", "p.*3419L"),
])
def test_parsed_values(text, consequence, position, ref, alt, normalised):
    change = parse_hgvs_p(text)
    assert (change.consequence, change.position, change.ref_aa, change.alt_aa) == \
        (consequence, position, ref, alt)
    assert change.hgvs_p == normalised


@pytest.mark.parametrize("text, message", [
    ("R175H", "does not start with 'p.'"),
    ("p.R175", "cannot parse"),
    ("p.Xyz175His", "cannot parse"),
    ("p.?", "cannot parse"),
])
def test_bad_changes_give_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_hgvs_p(text)


def test_grantham_reproduces_the_published_1974_table_within_rounding():
    # The published table was computed by hand from the same formula: within 1 unit.
    for ref, alt, published in (("R", "H", 29), ("C", "W", 215), ("L", "I", 5), ("S", "R", 110),
                                ("D", "E", 45)):
        assert abs(grantham(ref, alt) - published) <= 1
    assert grantham("R", "*") != grantham("R", "*")  # NaN: not a substitution


def test_blosum62_and_charge_come_out_of_the_right_tables():
    assert blosum62("W", "C") == -2 and blosum62("R", "K") == 2
    assert charge_change("R", "H") == -1 and charge_change("D", "K") == 2


def test_shipped_domains():
    domains = load_domains(DRIVERS_RESOURCE_DIR / "protein_domains.tsv")
    assert domain_at(domains, "TP53", 175).name == "DNA-binding domain"
    assert domain_at(domains, "EGFR", 858).name == "tyrosine kinase domain"
    assert domain_at(domains, "BRCA1", 1700).name == "first BRCT domain"
    assert domain_at(domains, "TP53", 60) is None
