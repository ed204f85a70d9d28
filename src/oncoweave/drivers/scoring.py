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
    MSA_FEATURES,
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
    """driver_score, top_features (JSON list) and driver_reasons (text) per annotation row.

    Identical annotations get identical scores and reasons, so each distinct annotation is
    featurised, predicted and explained once and its results copied to its rows."""
    if annotations.empty:
        return pd.DataFrame({"driver_score": [], "top_features": [], "driver_reasons": []},
                            index=annotations.index)
    first, inverse = _distinct_rows(annotations)
    distinct = annotations.iloc[first]
    features = feature_table(distinct, knowledge)
    scores = model.predict_proba(features)
    tops = top_reasons(model.contributions(features), features, distinct, knowledge)
    top_json = np.array([json.dumps(top) for top in tops], dtype=object)
    reasons = np.array(["; ".join(f"{t['reason']} ({'+' if t['contribution'] >= 0 else '-'})"
                                  for t in top) for top in tops], dtype=object)
    return pd.DataFrame({"driver_score": scores[inverse], "top_features": top_json[inverse],
                         "driver_reasons": reasons[inverse]}, index=annotations.index)


def _distinct_rows(annotations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(position of each distinct annotation's first row, each row's distinct annotation);
    missing values (None, NaN, NA) count as one value."""
    columns = [annotations[c].astype(object).tolist() for c in annotations.columns]
    seen: dict[tuple, int] = {}
    first, inverse = [], np.empty(len(annotations), dtype=np.intp)
    for row, key in enumerate(zip(*columns)):
        key = tuple(None if _is_missing(v) else v for v in key)
        index = seen.setdefault(key, len(first))
        if index == len(first):
            first.append(row)
        inverse[row] = index
    return np.asarray(first, dtype=np.intp), inverse


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def top_reasons(contributions: pd.DataFrame, features: pd.DataFrame,
                annotations: pd.DataFrame, knowledge: DriverKnowledge) -> list[list[dict]]:
    """Per row, the largest contributions, features that read the same in words merged into
    one entry (e.g. the substitution properties of a frameshift are all 'not a single amino-acid
    substitution'), so a report never says one thing twice.

    Features are visited by descending |contribution| in the order pandas' (quicksort)
    ``sort_values(ascending=False)`` gives, ties included, so merged names and sums are those of
    a per-row sort; each distinct (feature, value) is put in words once."""
    names = list(contributions.columns)
    raw = contributions.to_numpy()
    order = _descending_order(np.abs(raw)).tolist()
    values = features[names].to_numpy(dtype=float)
    phrases = _phrases(names, values, annotations, knowledge)
    numbers = [[_json_number(v) for v in row] for row in values.tolist()]
    result = []
    for row_order, row_contributions, row_phrases, row_numbers in zip(
            order, raw.tolist(), phrases, numbers):
        merged: dict[str, dict] = {}
        for j in row_order:
            reason = row_phrases[j]
            entry = merged.get(reason)
            if entry is None:
                entry = merged[reason] = {"feature": names[j], "value": row_numbers[j],
                                          "contribution": 0.0, "reason": reason}
            else:
                entry["feature"] += f",{names[j]}"
            entry["contribution"] += row_contributions[j]
        ranked = sorted(merged.values(), key=lambda e: abs(e["contribution"]), reverse=True)
        result.append([{**e, "contribution": round(e["contribution"], 4)}
                       for e in ranked[:TOP_CONTRIBUTIONS]])
    return result


def _descending_order(magnitudes: np.ndarray) -> np.ndarray:
    """Per row, the column indices pandas' ``Series.sort_values(ascending=False)`` (quicksort,
    NaN last) returns: argsort of the reversed row, mapped back and reversed."""
    n = magnitudes.shape[1]
    order = (n - 1 - np.argsort(np.ascontiguousarray(magnitudes[:, ::-1]), axis=1,
                                kind="quicksort"))[:, ::-1]
    for row in np.flatnonzero(np.isnan(magnitudes).any(axis=1)):
        values = magnitudes[row]
        missing = np.isnan(values)
        kept = np.flatnonzero(~missing)[::-1]
        order[row] = np.concatenate([kept[np.argsort(values[kept], kind="quicksort")][::-1],
                                     np.flatnonzero(missing)])
    return order


def _phrases(names: list[str], values: np.ndarray, annotations: pd.DataFrame,
             knowledge: DriverKnowledge) -> list[list[str]]:
    """describe() of every (row, feature), computed once per distinct value of a feature
    (bit pattern, so -0.0 and NaN payloads stay apart) and, for in_domain, once per distinct
    (gene, protein position)."""
    columns = []
    for j, name in enumerate(names):
        if name == "in_domain" or name in MSA_FEATURES:
            # These read the residue (domain name, homolog count, residues), not just the value.
            cache: dict = {}
            column = []
            for i, (gene, position, ref, alt) in enumerate(zip(
                    annotations["gene"].tolist(),
                    annotations["protein_position"].astype(object).tolist(),
                    annotations["ref_aa"].astype(object).tolist(),
                    annotations["alt_aa"].astype(object).tolist())):
                position = None if _is_missing(position) else int(position)
                key = (gene, position, ref, alt, values[i, j].tobytes())
                if key not in cache:
                    cache[key] = describe(name, values[i, j], {
                        "gene": gene, "protein_position": position, "ref_aa": ref,
                        "alt_aa": alt}, knowledge)
                column.append(cache[key])
        else:
            bits, first, inverse = np.unique(values[:, j].view(np.uint64), return_index=True,
                                             return_inverse=True)
            words = [describe(name, values[i, j], None, knowledge) for i in first.tolist()]
            column = [words[i] for i in inverse.reshape(-1).tolist()]
        columns.append(column)
    return [list(row) for row in zip(*columns)]


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
    # A cohort repeats alleles (hotspots, common germline SNPs): annotate each once.
    cache: dict[tuple, dict | None] = {}
    annotations = []
    for gene, chrom, pos, ref, alt in zip(variants["gene"].tolist(), variants["chrom"].tolist(),
                                          variants["pos"].tolist(), variants["ref"].tolist(),
                                          variants["alt"].tolist()):
        if gene not in DRIVER_GENES:
            annotations.append(None)
            continue
        key = (chrom, int(pos), ref, alt)
        if key not in cache:
            cache[key] = _annotate_or_reason(annotate_genomic, *key, knowledge)[0]
        annotations.append(cache[key])
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
