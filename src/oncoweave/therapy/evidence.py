"""The therapy evidence table: CIViC predictive evidence plus a small curated table of standards.

Each row says which variants it applies to (``matcher`` + ``matcher_value``), the drug, the evidence
level (CIViC A-E) and the AMP/ASCO/CAP tier it earns in the same or another tumour type.

Tiers follow Li et al. 2017 (J Mol Diagn 19:4-23, PMID:27993330), "Standards and Guidelines for the
Interpretation and Reporting of Sequence Variants in Cancer": tier I = strong clinical significance
(level A: FDA-approved therapy or professional guideline; level B: well-powered studies with
expert consensus), tier II = potential clinical significance (level C: FDA-approved therapy for a
different tumour type, or investigational therapies with multiple small studies; level D:
preclinical trials or a few case reports), tier III = unknown significance. CIViC levels map
onto these as ``AMP_TIERS`` says: evidence in another (or an unknown) tumour type drops a step, as
level A/B evidence in another tumour type is exactly the guideline's level C.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import require_columns, schema_field

MATCHERS = ("protein", "codon", "exon_deletion", "exon_insertion", "truncating_or_pathogenic",
            "pathogenic", "protein_altering", "tmb_high", "amplification", "deletion")
# amplification and deletion are matched on copy-number driver calls
# (oncoweave.therapy.copy_number_matching), never on variants.
DIRECTIONS = ("sensitivity", "resistance", "reduced_sensitivity", "no_approved_therapy")
ORIGINS = ("somatic", "germline", "any")
DISEASE_MATCHES = ("exact", "other", "unknown")

# (CIViC level, evidence in the patient's tumour type?) -> AMP/ASCO/CAP tier and level.
AMP_TIERS = {
    ("A", True): "IA", ("A", False): "IIC",
    ("B", True): "IB", ("B", False): "IIC",
    ("C", True): "IIC", ("C", False): "IID",
    ("D", True): "IID", ("D", False): "III",
    ("E", True): "III", ("E", False): "III",  # E: inferential, indirect evidence only
}

# Codons of exons named by variant classes, on the canonical transcript (EGFR ENST00000275493:
# exon 19 = c.2185-2283, exon 20 = c.2284-2469; test_evidence checks them against the bundled GFF3).
EXON_CODONS = {("EGFR", 19): (729, 761), ("EGFR", 20): (762, 823)}

# Genes whose truncation is loss of function, so a truncating call counts as pathogenic without a
# driver score. For oncogenes (EGFR) only a driver score or a named variant class says "pathogenic".
LOSS_OF_FUNCTION_GENES = frozenset({"TP53", "BRCA1", "BRCA2"})


EVIDENCE_SCHEMA = pa.schema([
    schema_field("evidence_id", pa.string(), "CIViC evidence id (EID123) or curated id (CUR01)"),
    schema_field("source", pa.string(), "civic or curated"),
    schema_field("gene", pa.string(), "Gene symbol; null for gene-independent biomarkers (TMB)",
                 True),
    schema_field("variant", pa.string(),
                 "Variant as the source names it (L858R, EXON 19 DELETION ...)"),
    schema_field("matcher", pa.string(), "How calls are matched: " + ", ".join(MATCHERS)),
    schema_field("matcher_value", pa.string(),
                 "p.L858R (protein), G719 (codon), exon number (exon_*), mut/Mb threshold "
                 "(tmb_high); null for class matchers", True),
    schema_field("drug", pa.string(), "Drug(s), ', '-joined as the source lists them; null when "
                 "direction is no_approved_therapy", True),
    schema_field("evidence_level", pa.string(),
                 "CIViC evidence level A-E; null for no_approved_therapy", True),
    schema_field("amp_tier_same_disease", pa.string(),
                 "AMP/ASCO/CAP tier when the patient has this disease (Li et al. 2017)", True),
    schema_field("amp_tier_other_disease", pa.string(),
                 "AMP/ASCO/CAP tier in another or an unknown tumour type", True),
    schema_field("direction", pa.string(), "One of " + ", ".join(DIRECTIONS)),
    schema_field("disease", pa.string(),
                 "Disease the evidence was gathered in ('Solid Tumor': any)"),
    schema_field("variant_origin", pa.string(), "somatic, germline or any"),
    schema_field("source_ids", pa.string(), "'; '-joined ids: CIViC:EID/VID, PMID:, FDA: label"),
    schema_field("citation", pa.string(), "Short citation of the supporting publication", True),
    schema_field("rating", pa.int64(), "CIViC trust rating (1-5 stars); null when curated", True),
])


def amp_tier(level: str | None, same_disease: bool) -> str | None:
    """AMP/ASCO/CAP tier of evidence of CIViC ``level`` in the patient's tumour type or another."""
    if level is None:
        return None
    try:
        return AMP_TIERS[(level, same_disease)]
    except KeyError:
        raise ValueError(f"evidence level must be one of A-E, got {level!r}") from None


# ---------------------------------------------------------------------------------------------
# Disease matching: coarse tumour groups, so "lung adenocarcinoma" meets NSCLC evidence.

# Tumour-agnostic approvals (the curated TMB-high row) apply in every tumour type. CIViC's generic
# "Cancer" is not one: it labels pan-cancer or cell-line studies, so it counts as another disease.
TUMOUR_AGNOSTIC = frozenset({"solid tumor", "solid tumour"})

# First group whose keyword occurs in the lower-cased name wins: NSCLC before small cell ("non-small
# cell lung" contains "small cell lung"), and a bare "lung" counts as NSCLC, ~85% of lung cancers.
_DISEASE_GROUPS = (
    ("nsclc", ("non-small cell", "nsclc", "lung adenocarcinoma", "lung squamous",
               "lung large cell")),
    ("sclc", ("small cell lung", "lung small cell", "sclc")),
    ("nsclc", ("lung",)),
    ("breast", ("breast",)),
    ("ovarian", ("ovar", "fallopian", "primary peritoneal")),
    ("prostate", ("prostat",)),
    ("pancreatic", ("pancrea",)),
    ("colorectal", ("colorectal", "colon", "rectal", "rectum")),
    ("gastric", ("stomach", "gastric")),
    ("oesophageal", ("esophag", "oesophag")),
    ("glioma", ("glioma", "glioblastoma")),
    ("mesothelioma", ("mesothelioma",)),
    ("head_and_neck", ("head and neck",)),
    ("leukaemia", ("leukemia", "leukaemia")),
)


def disease_group(name: str) -> str | None:
    lowered = name.lower()
    for group, keywords in _DISEASE_GROUPS:
        if any(keyword in lowered for keyword in keywords):
            return group
    return None


def disease_match(evidence_disease: str, cancer_type: str | None) -> str:
    """'exact' (same tumour group, or a tumour-agnostic approval), 'other', or 'unknown' (no
    cancer type given)."""
    if cancer_type is None or not str(cancer_type).strip():
        return "unknown"
    if evidence_disease.strip().lower() in TUMOUR_AGNOSTIC:
        return "exact"
    evidence_group, patient_group = disease_group(evidence_disease), disease_group(cancer_type)
    if evidence_group is not None and evidence_group == patient_group:
        return "exact"
    same_name = evidence_disease.strip().lower() == str(cancer_type).strip().lower()
    return "exact" if same_name else "other"


# ---------------------------------------------------------------------------------------------
# CIViC

CIVIC_COLUMNS = ("gene", "variant", "disease", "drugs", "evidence_type", "evidence_direction",
                 "evidence_level", "clinical_significance", "pubmed_id", "citation", "rating",
                 "evidence_status", "evidence_id", "variant_id", "variant_origin")

_CIVIC_DIRECTIONS = {"Sensitivity/Response": "sensitivity", "Resistance": "resistance",
                     "Reduced Sensitivity": "reduced_sensitivity"}
_CIVIC_ORIGINS = {"Somatic Mutation": "somatic", "Germline Mutation": "germline",
                  "Germline Polymorphism": "germline"}
_GENE_LEVEL_TERMS = frozenset({"MUTATION", "LOSS-OF-FUNCTION", "DELETERIOUS MUTATION",
                               "ALTERATION"})
_POINT_CHANGE = re.compile(r"^([A-Z])(\d+)([A-Z*X])$")
_CODON = re.compile(r"^[A-Z]\d+$")
# CIViC appends the duplicated residues (A767_V769dupASV); HGVS does not, hence the trailing [A-Z]*.
_INDEL = re.compile(r"^([A-Z]\d+(?:_[A-Z]\d+)?(?:delins[A-Z]+|del|ins[A-Z]+|dup))[A-Z]*$")
_EXON_CLASS = re.compile(r"^EXON (\d+) (DELETION|INSERTION)$")
# CIViC's copy-number names. "COPY NUMBER VARIATION" of an oncogene is read as an increase (the
# EGFR items: increased gene copy number by FISH), matched by amplification calls only.
_AMPLIFICATION_TERMS = frozenset({"AMPLIFICATION", "COPY NUMBER GAIN", "COPY NUMBER VARIATION"})
_DELETION_TERMS = frozenset({"DELETION", "LOSS", "HOMOZYGOUS DELETION", "DEEP DELETION",
                             "COPY NUMBER LOSS", "BIALLELIC INACTIVATION"})


def civic_matcher(gene: str, variant: str) -> tuple[str, str | None] | None:
    """(matcher, matcher_value) for a CIViC variant name; None for what calls cannot show
    (expression, fusions, compound or vaguely named variants). Amplification names become the
    ``amplification`` matcher, deletion and biallelic-loss names of a loss-of-function gene the
    ``deletion`` matcher: both are matched on copy-number driver calls."""
    name = variant.strip()
    if name.upper() in _AMPLIFICATION_TERMS and gene not in LOSS_OF_FUNCTION_GENES:
        return "amplification", None
    if name.upper() in _DELETION_TERMS and gene in LOSS_OF_FUNCTION_GENES:
        return "deletion", None
    point = _POINT_CHANGE.match(name)
    if point:
        alt = "*" if point[3] == "X" else point[3]  # CIViC writes nonsense as W1815X
        return "protein", f"p.{point[1]}{point[2]}{alt}"
    if _CODON.match(name):
        return "codon", name
    indel = _INDEL.match(name)
    if indel:
        return "protein", f"p.{indel[1]}"
    exon_class = _EXON_CLASS.match(name.upper())
    if exon_class and (gene, int(exon_class[1])) in EXON_CODONS:
        kind = "exon_deletion" if exon_class[2] == "DELETION" else "exon_insertion"
        return kind, exon_class[1]
    if name.upper() in _GENE_LEVEL_TERMS:
        if gene in LOSS_OF_FUNCTION_GENES:
            return "truncating_or_pathogenic", None
        return "pathogenic", None
    return None


def read_civic(path: str | Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """Predictive, accepted, supporting CIViC evidence as EVIDENCE_SCHEMA rows, and counts of the
    items left out by reason."""
    raw = _read_tsv(path, CIVIC_COLUMNS)
    rows, skipped = [], {}
    for item in raw.to_dict("records"):
        reason = _civic_skip_reason(item)
        if reason is None:
            matcher = civic_matcher(item["gene"], item["variant"])
            if matcher is None:
                # (nor on copy-number calls; the key predates them, the workflow records it)
                reason = "variant not matchable on small-variant calls"
            else:
                rows.append(_civic_row(item, *matcher))
                continue
        skipped[reason] = skipped.get(reason, 0) + 1
    return pd.DataFrame(rows, columns=EVIDENCE_SCHEMA.names), skipped


def _civic_skip_reason(item: dict) -> str | None:
    if item["evidence_type"] != "Predictive":
        return "not predictive"
    if item["evidence_status"] != "accepted":
        return "not accepted"
    if item["evidence_direction"] != "Supports":
        return "does not support"  # negative findings are not a recommendation either way
    if item["clinical_significance"] not in _CIVIC_DIRECTIONS:
        return "no therapeutic significance"
    if not item["drugs"]:
        return "no drug"
    return None


def _civic_row(item: dict, matcher: str, matcher_value: str | None) -> dict:
    level = item["evidence_level"]
    ids = [f"CIViC:EID{item['evidence_id']}", f"CIViC:VID{item['variant_id']}"]
    if item["pubmed_id"]:
        ids.append(f"PMID:{item['pubmed_id']}")
    return {
        "evidence_id": f"EID{item['evidence_id']}", "source": "civic", "gene": item["gene"],
        "variant": item["variant"], "matcher": matcher, "matcher_value": matcher_value,
        "drug": item["drugs"].replace(",", ", "), "evidence_level": level,
        "amp_tier_same_disease": amp_tier(level, True),
        "amp_tier_other_disease": amp_tier(level, False),
        "direction": _CIVIC_DIRECTIONS[item["clinical_significance"]],
        "disease": item["disease"],
        "variant_origin": _CIVIC_ORIGINS.get(item["variant_origin"], "any"),
        "source_ids": "; ".join(ids), "citation": item["citation"] or None,
        "rating": int(item["rating"]) if item["rating"] else None,
    }


# ---------------------------------------------------------------------------------------------
# Curated table

CURATED_COLUMNS = ("evidence_id", "gene", "variant", "matcher", "matcher_value", "drug",
                   "evidence_level", "direction", "disease", "variant_origin", "source_ids",
                   "citation")


def read_curated(path: str | Path) -> pd.DataFrame:
    """The curated TSV as EVIDENCE_SCHEMA rows; every row must be cited and well-formed."""
    raw = _read_tsv(path, CURATED_COLUMNS)
    rows = [_curated_row(item, path, line) for line, item in enumerate(raw.to_dict("records"), 2)]
    return pd.DataFrame(rows, columns=EVIDENCE_SCHEMA.names)


def _curated_row(item: dict, path: str | Path, line: int) -> dict:
    def check(ok: bool, column: str, message: str) -> None:
        if not ok:
            raise InputError(message, path=path, row=line, column=column)

    check(item["matcher"] in MATCHERS, "matcher", f"must be one of {', '.join(MATCHERS)}")
    check(item["direction"] in DIRECTIONS, "direction", f"must be one of {', '.join(DIRECTIONS)}")
    check(item["variant_origin"] in ORIGINS, "variant_origin",
          f"must be one of {', '.join(ORIGINS)}")
    check(bool(item["source_ids"]), "source_ids", "every curated row needs a citation")
    check(_valid_matcher_value(item["gene"], item["matcher"], item["matcher_value"]),
          "matcher_value", f"{item['matcher_value']!r} does not suit matcher {item['matcher']}")
    check(bool(item["gene"]) or item["matcher"] == "tmb_high", "gene", "empty")
    therapy = item["direction"] != "no_approved_therapy"
    check(item["evidence_level"] in ("A", "B", "C", "D", "E") if therapy
          else not item["evidence_level"], "evidence_level",
          "must be A-E (empty only for no_approved_therapy)")
    check(bool(item["drug"]) == therapy, "drug", "needed unless direction is no_approved_therapy")
    level = item["evidence_level"] or None
    return {
        "evidence_id": item["evidence_id"], "source": "curated", "gene": item["gene"] or None,
        "variant": item["variant"], "matcher": item["matcher"],
        "matcher_value": item["matcher_value"] or None, "drug": item["drug"] or None,
        "evidence_level": level, "amp_tier_same_disease": amp_tier(level, True),
        "amp_tier_other_disease": amp_tier(level, False), "direction": item["direction"],
        "disease": item["disease"], "variant_origin": item["variant_origin"],
        "source_ids": item["source_ids"], "citation": item["citation"] or None, "rating": None,
    }


def _valid_matcher_value(gene: str, matcher: str, value: str) -> bool:
    if matcher == "protein":
        return value.startswith("p.")
    if matcher == "codon":
        return bool(_CODON.match(value))
    if matcher in ("exon_deletion", "exon_insertion"):
        return value.isdigit() and (gene, int(value)) in EXON_CODONS
    if matcher == "tmb_high":
        return bool(re.fullmatch(r"\d+(\.\d+)?", value))
    return not value


# ---------------------------------------------------------------------------------------------

def _read_tsv(path: str | Path, required: tuple[str, ...]) -> pd.DataFrame:
    path = Path(path)
    try:
        # Free-text columns hold quotes: no quoting. Empty cells stay "" (not NaN).
        df = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read TSV ({err})", path=path) from None
    require_columns(df, required, path)
    return df


def build_evidence(civic_tsv: str | Path, curated_tsv: str | Path
                   ) -> tuple[pd.DataFrame, dict[str, int]]:
    """The evidence table (curated rows first, then CIViC) and CIViC's left-out counts by reason."""
    civic, skipped = read_civic(civic_tsv)
    table = pd.concat([read_curated(curated_tsv), civic], ignore_index=True)
    duplicated = table["evidence_id"].duplicated()
    if duplicated.any():
        raise InputError(f"evidence id {table['evidence_id'][duplicated].iloc[0]} is used twice",
                         path=curated_tsv, column="evidence_id")
    return table, skipped
