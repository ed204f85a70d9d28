"""The driver scorer's training set: labelled variants of TP53, BRCA1, BRCA2, EGFR, annotated.

Labels (1 = pathogenic/oncogenic driver, 0 = benign), in order of precedence when a variant has
several: ClinVar-derived sets (TP53/BRCA2 Calhoun 2025 truth sets, BRCA1 Findlay 2018 ClinVar
column, EGFR ClinVar VCF with ONC overriding CLNSIG), then cancerhotspots v2 hotspots (positives
only), then CIViC 2018 variant-level evidence (positives only). Hotspot labels are circular with
the recurrence features; the evaluation therefore scores ClinVar-labelled rows and shows the
leak with an ablation (see drivers.evaluation.evaluate).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa

from oncoweave.core.io import open_vcf
from oncoweave.core.tables import schema_field
from oncoweave.drivers.defaults import DRIVERS_RESOURCE_DIR
from oncoweave.drivers.features import DriverKnowledge, annotate_genomic, annotate_protein_change

CLINVAR_SOURCES = ("clinvar_calhoun2025", "clinvar_findlay2018", "clinvar_vcf_egfr")
TRAINING_SCHEMA = pa.schema([
    schema_field("gene", pa.string(), "TP53, BRCA1, BRCA2 or EGFR"),
    schema_field("consequence", pa.string(), "bcftools csq term on the canonical transcript"),
    schema_field("protein_position", pa.int64(), "first residue affected", True),
    schema_field("protein_end", pa.int64(), "last residue of a multi-residue change", True),
    schema_field("ref_aa", pa.string(), "reference residue (one letter)", True),
    schema_field("alt_aa", pa.string(), "new residue of a single-residue change", True),
    schema_field("splice_distance", pa.int64(), "nt to the nearest exon-intron junction", True),
    schema_field("hgvs_p", pa.string(), "one-letter HGVS p.", True),
    schema_field("chrom", pa.string(), "GRCh38 chromosome of genomic labels", True),
    schema_field("pos", pa.int64(), "GRCh38 position of genomic labels", True),
    schema_field("ref", pa.string(), "VCF REF of genomic labels", True),
    schema_field("alt", pa.string(), "VCF ALT of genomic labels", True),
    schema_field("label", pa.int64(), "1 pathogenic/oncogenic, 0 benign"),
    schema_field("label_source", pa.string(), "clinvar_calhoun2025, clinvar_findlay2018, "
           "clinvar_vcf_egfr, cancerhotspots_v2 or civic_2018"),
    schema_field("residue_group", pa.string(), "gene:residue (or gene:chrom:pos off the CDS); "
           "cross-validation keeps each group in one fold"),
])
_CLINVAR_PATHOGENIC = {"Pathogenic", "Likely pathogenic", "Pathogenic/Likely pathogenic"}
_CLINVAR_BENIGN = {"Benign", "Likely benign", "Benign/Likely benign"}
_CIVIC_ORIGINS = {"Somatic Mutation", "Germline Mutation"}  # not "Germline Polymorphism"


def _protein_rows(records, knowledge: DriverKnowledge, source: str) -> list[dict]:
    """(gene, hgvs_p, label) -> annotated rows; unparsable changes are skipped."""
    rows = []
    for gene, hgvs_p, label in records:
        try:
            annotation = annotate_protein_change(gene, hgvs_p, knowledge)
        except ValueError:
            continue
        rows.append({**annotation, "label": label, "label_source": source})
    return rows


def _genomic_rows(records, knowledge: DriverKnowledge, source: str) -> list[dict]:
    """(chrom, pos, ref, alt, label) -> annotated rows; variants off the transcripts skipped."""
    rows = []
    for chrom, pos, ref, alt, label in records:
        try:
            annotation = annotate_genomic(chrom, pos, ref, alt, knowledge)
        except ValueError:
            continue
        rows.append({**annotation, "chrom": chrom, "pos": pos, "ref": ref, "alt": alt,
                     "label": label, "label_source": source})
    return rows


def calhoun_records(path: Path, gene: str):
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            yield gene, row["hgvs_pro"], int(row["binary_clinvar_class"] == "P")


def findlay_records(path: Path):
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            significance = row["clinvar_simple"]
            if significance in _CLINVAR_PATHOGENIC | _CLINVAR_BENIGN:
                chrom, pos, alleles = row["variant_id"].split(":")
                ref, alt = alleles.split(">")
                yield chrom, int(pos), ref, alt, int(significance in _CLINVAR_PATHOGENIC)


def egfr_clinvar_records(path: Path):
    """ONC (oncogenicity) decides where present, else CLNSIG; VUS/conflicting are skipped."""
    with open_vcf(path) as vcf:
        for record in vcf:
            label = _egfr_label(record.info.get("ONC"), record.info.get("CLNSIG"))
            if label is not None and record.alts:
                yield record.chrom, record.pos, record.ref, record.alts[0], label


def _egfr_label(onc, clnsig) -> int | None:
    def words(value):
        return {v.replace("_", " ") for v in (value or ())}
    if words(onc) & {"Oncogenic", "Likely oncogenic"}:
        return 1
    if words(onc) & {"Benign", "Likely benign"}:
        return 0
    significance = words(clnsig)
    if significance and significance <= _CLINVAR_PATHOGENIC:
        return 1
    if significance and significance <= _CLINVAR_BENIGN:
        return 0
    return None


def hotspot_records(drivers_dir: Path):
    for name, indel in (("hotspots_v2_snv_4genes.tsv", False),
                        ("hotspots_v2_indel_4genes.tsv", True)):
        with (drivers_dir / name).open(newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                change = row["Variant_Amino_Acid"].partition(":")[0]
                if not indel:
                    change = f"{row['Reference_Amino_Acid'].partition(':')[0]}" \
                             f"{row['Amino_Acid_Position']}{change}"
                yield row["Hugo_Symbol"], f"p.{change}", 1


def civic_records(path: Path):
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["variant_origin"] in _CIVIC_ORIGINS and row["evidence_status"] == "accepted":
                yield row["gene"], f"p.{row['variant'].strip()}", 1


def build_training_set(drivers_dir: str | Path = DRIVERS_RESOURCE_DIR,
                       knowledge: DriverKnowledge | None = None) -> pd.DataFrame:
    """All labelled, annotated variants, one row per distinct variant, in TRAINING_SCHEMA."""
    drivers_dir = Path(drivers_dir)
    knowledge = knowledge or DriverKnowledge.load(drivers_dir)
    rows = (
        _protein_rows(calhoun_records(drivers_dir / "TP53_clinvar_truthset_calhoun2025.csv",
                                      "TP53"), knowledge, CLINVAR_SOURCES[0])
        + _protein_rows(calhoun_records(drivers_dir / "BRCA2_clinvar_truthset_calhoun2025.csv",
                                        "BRCA2"), knowledge, CLINVAR_SOURCES[0])
        + _genomic_rows(findlay_records(drivers_dir / "BRCA1_findlay2018_clinvar.tsv"),
                        knowledge, CLINVAR_SOURCES[1])
        + _genomic_rows(egfr_clinvar_records(drivers_dir / "clinvar_EGFR.grch38.vcf.gz"),
                        knowledge, CLINVAR_SOURCES[2])
        + _protein_rows(hotspot_records(drivers_dir), knowledge, "cancerhotspots_v2")
        + _protein_rows(civic_records(drivers_dir / "civic_evidence_4genes.tsv"), knowledge,
                        "civic_2018"))
    table = pd.DataFrame(rows).reindex(columns=TRAINING_SCHEMA.names)
    table["residue_group"] = [
        f"{g}:{int(p)}" if pd.notna(p) else f"{g}:{c}:{int(q)}"
        for g, p, c, q in zip(table["gene"], table["protein_position"], table["chrom"],
                              table["pos"])]
    # First source wins (ClinVar before hotspots before CIViC); protein-level identity where known.
    identity = table["hgvs_p"].fillna(table["chrom"] + ":" + table["pos"].astype("string")
                                      + table["ref"] + ">" + table["alt"])
    table = table[~(table["gene"] + " " + identity).duplicated()].reset_index(drop=True)
    return table.astype({c: "Int64" for c in ("protein_position", "protein_end",
                                              "splice_distance", "pos")})
