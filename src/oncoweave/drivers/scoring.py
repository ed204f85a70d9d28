"""Scoring with the driver model: the variants table (with clonality), a TSV or VCF of changes
typed in by hand, and the in-silico saturation of every SNV of the four canonical CDS; each
score comes with its top feature contributions in words."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.io import open_vcf
from oncoweave.core.tables import schema_field
from oncoweave.drivers.defaults import DRIVER_GENES
from oncoweave.drivers.features import (
    ANNOTATION_COLUMNS,
    DriverKnowledge,
    annotate_genomic,
    annotate_protein_change,
    describe,
    feature_table,
)
from oncoweave.drivers.model import DriverModel
from oncoweave.drivers.schema import DRIVERS_SCHEMA, SCORE_FIELDS

TOP_CONTRIBUTIONS = 3
CLONAL_CCF = 0.8  # cancer cell fraction from which a somatic variant is called clonal


def score_annotations(annotations: pd.DataFrame, model: DriverModel,
                      knowledge: DriverKnowledge) -> pd.DataFrame:
    """driver_score, top_features (JSON list) and driver_reasons (text) per annotation row."""
    if annotations.empty:
        return pd.DataFrame({"driver_score": [], "top_features": [], "driver_reasons": []},
                            index=annotations.index)
    features = feature_table(annotations, knowledge)
    contributions = model.contributions(features)
    tops, reasons = [], []
    for (index, row), annotation in zip(contributions.iterrows(),
                                        annotations.to_dict("records")):
        top = _top_reasons(row, features.loc[index], annotation, knowledge)
        tops.append(json.dumps(top))
        reasons.append("; ".join(f"{t['reason']} ({'+' if t['contribution'] >= 0 else '-'})"
                                 for t in top))
    return pd.DataFrame({"driver_score": model.predict_proba(features), "top_features": tops,
                         "driver_reasons": reasons}, index=annotations.index)


def _top_reasons(contributions: pd.Series, values: pd.Series, annotation: dict,
                 knowledge: DriverKnowledge) -> list[dict]:
    """The largest contributions, features that read the same in words merged into one entry
    (e.g. the substitution properties of a frameshift are all 'not a single amino-acid
    substitution'), so a report never says one thing twice."""
    merged: dict[str, dict] = {}
    for name in contributions.abs().sort_values(ascending=False).index:
        reason = describe(name, values[name], annotation, knowledge)
        entry = merged.setdefault(reason, {"feature": name, "value": _json_number(values[name]),
                                           "contribution": 0.0, "reason": reason})
        if entry["feature"] != name:
            entry["feature"] += f",{name}"
        entry["contribution"] += float(contributions[name])
    ranked = sorted(merged.values(), key=lambda e: abs(e["contribution"]), reverse=True)
    return [{**e, "contribution": round(e["contribution"], 4)} for e in ranked[:TOP_CONTRIBUTIONS]]


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _scored(annotations: list[dict | None], model: DriverModel,
            knowledge: DriverKnowledge) -> pd.DataFrame:
    """Annotation + score columns for rows that annotated; all-null rows elsewhere."""
    frame = pd.DataFrame([a or {} for a in annotations], columns=ANNOTATION_COLUMNS)
    ok = np.array([a is not None for a in annotations], dtype=bool)
    scores = score_annotations(frame[ok], model, knowledge)
    return pd.concat([frame, scores.reindex(frame.index)], axis=1)


def _annotate_or_reason(annotate, *args) -> tuple[dict | None, str | None]:
    try:
        return annotate(*args), None
    except ValueError as err:
        return None, str(err)


def read_variant_input(path: str | Path) -> tuple[pd.DataFrame, str]:
    """The rows of a TSV (gene + hgvs_p, or chrom + pos + ref + alt) or a VCF, and which kind."""
    path = Path(path)
    if not path.exists():
        raise InputError("input not found", path=path)
    if path.name.endswith((".vcf", ".vcf.gz", ".bcf")):
        with open_vcf(path) as vcf:
            rows = [{"chrom": r.chrom, "pos": str(r.pos), "ref": r.ref, "alt": alt}
                    for r in vcf for alt in (r.alts or ())]
        return pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]), "genomic"
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    if {"gene", "hgvs_p"} <= set(table.columns):
        return table, "protein"
    if {"chrom", "pos", "ref", "alt"} <= set(table.columns):
        return table, "genomic"
    raise InputError("needs columns gene + hgvs_p, or chrom + pos + ref + alt; found "
                     f"{', '.join(table.columns)}", path=path)


def score_variants(table: pd.DataFrame, kind: str, model: DriverModel,
                   knowledge: DriverKnowledge) -> pd.DataFrame:
    """The input rows in order with gene, consequence, hgvs_p, driver_score, top_features,
    driver_reasons and a per-row `reason` where the row could not be scored."""
    results = []
    for row in table.to_dict("records"):
        if kind == "protein":
            results.append(_annotate_or_reason(annotate_protein_change, row["gene"].strip(),
                                               row["hgvs_p"].strip(), knowledge))
        elif not str(row["pos"]).strip().isdigit():
            results.append((None, f"position {row['pos']!r} is not a positive integer"))
        else:
            results.append(_annotate_or_reason(annotate_genomic, row["chrom"].strip(),
                                               int(row["pos"]), row["ref"].strip(),
                                               row["alt"].strip(), knowledge))
    scored = _scored([a for a, _ in results], model, knowledge)
    output = table.drop(columns=[f.name for f in SCORE_FIELDS if f.name in table.columns])
    for field in SCORE_FIELDS:
        values = scored[field.name].astype(object)
        if field.name in table.columns:  # keep what the user wrote where nothing was derived
            values = values.where(values.notna(), table[field.name])
        output[field.name] = values.to_numpy()
    output["reason"] = [reason for _, reason in results]
    return output


def score_variants_schema(table: pd.DataFrame) -> pa.Schema:
    inputs = [schema_field(name, pa.string(), "input column") for name in table.columns
              if name not in {f.name for f in SCORE_FIELDS} | {"reason"}]
    return pa.schema(inputs + SCORE_FIELDS + [
        schema_field("reason", pa.string(), "why the row was not scored; null when scored", True)])


def clonality(status: str, t_vaf: float, purity: float | None) -> tuple[float | None, str]:
    """(cancer cell fraction, clonality) of one variant; heterozygous diploid assumption."""
    if status == "germline":
        return None, "germline"
    if status == "loh":
        return None, "germline_loh"
    if purity is None or pd.isna(purity) or purity <= 0:
        return None, "unknown"
    fraction = min(1.0, 2 * float(t_vaf) / float(purity))
    return fraction, "clonal" if fraction >= CLONAL_CCF else "subclonal"


def score_drivers(variants: pd.DataFrame, model: DriverModel,
                  knowledge: DriverKnowledge | None = None) -> pd.DataFrame:
    """The variants table plus driver_score, top_features, driver_reasons (rows of the four
    genes; null elsewhere or where the alleles cannot be annotated), CCF and clonality."""
    knowledge = knowledge or DriverKnowledge.load()
    annotations = [
        _annotate_or_reason(annotate_genomic, row["chrom"], int(row["pos"]), row["ref"],
                            row["alt"], knowledge)[0] if row["gene"] in DRIVER_GENES else None
        for row in variants.to_dict("records")]
    scored = _scored(annotations, model, knowledge)
    output = variants.reset_index(drop=True).copy()
    for name in ("driver_score", "top_features", "driver_reasons"):
        output[name] = scored[name].to_numpy()
    context = [clonality(s, v, p) for s, v, p in zip(output["status"], output["t_vaf"],
                                                     output["purity"])]
    output["cancer_cell_fraction"] = [c for c, _ in context]
    output["clonality"] = [label for _, label in context]
    return output[DRIVERS_SCHEMA.names]


def saturation_positions(structure) -> list[int]:
    """Contig positions of the CDS and of the +-1..2 intronic bases at every exon junction."""
    transcript = structure.transcript
    step = 1 if transcript.strand == "+" else -1
    positions = set(structure.cds_index)
    for upstream, downstream in zip(structure.exons, structure.exons[1:]):
        exon_last = upstream[1] if step == 1 else upstream[0]
        exon_first = downstream[0] if step == 1 else downstream[1]
        positions |= {exon_last + step, exon_last + 2 * step, exon_first - step,
                      exon_first - 2 * step}
    return sorted(positions)


def score_saturation(model: DriverModel, knowledge: DriverKnowledge,
                     genes: tuple[str, ...] = DRIVER_GENES) -> pd.DataFrame:
    """Every SNV of the canonical CDS and +-2 splice sites of `genes`, annotated and scored."""
    rows, annotations = [], []
    for gene in genes:
        structure = knowledge.genes[gene]
        contig = structure.transcript.contig
        for position in saturation_positions(structure):
            chrom, genomic = knowledge.contig_map.to_genomic(contig, position)
            ref = knowledge.fasta.fetch(contig, position - 1, position).upper()
            for alt in "ACGT".replace(ref, ""):
                rows.append({"gene": gene, "chrom": chrom, "pos": genomic, "ref": ref,
                             "alt": alt})
                annotations.append(annotate_genomic(chrom, genomic, ref, alt, knowledge))
    frame = pd.DataFrame(annotations)
    scores = score_annotations(frame, model, knowledge)
    table = pd.DataFrame(rows)
    for name in ("consequence", "hgvs_p", "protein_position"):
        table[name] = frame[name].to_numpy()
    table["protein_position"] = table["protein_position"].astype("Int64")
    table["driver_score"] = scores["driver_score"].to_numpy()
    table["driver_reasons"] = scores["driver_reasons"].to_numpy()
    return table
