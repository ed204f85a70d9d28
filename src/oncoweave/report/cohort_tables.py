"""The cohort report's tables and pages (``snakemake --report``): therapy matches by tier, the
radiomics summary, and the index of the exported cohort tables with a check of the MAF, each one
self-contained HTML page made from the stages' Parquet tables.

The rules in workflow/rules/report.smk wrap each page in ``report(...)``. Nothing here reads the
sheets' free text or image headers: the pages carry only the pseudonymous patient ids and lesion
ids the tables already hold.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.core.tables import schema_field
from oncoweave.report.cohort_figures import NONSILENT_CLASSES
from oncoweave.therapy.therapy_table import TIER_ORDER

TIERS = tuple(TIER_ORDER)  # strongest first

# The GDC MAF vocabulary (maftools and cBioPortal read these).
MAF_REQUIRED = ("Hugo_Symbol", "Chromosome", "Start_Position", "End_Position",
                "Reference_Allele", "Tumor_Seq_Allele2", "Variant_Classification",
                "Variant_Type", "Tumor_Sample_Barcode")
MAF_CLASSES = frozenset(NONSILENT_CLASSES) | {
    "Silent", "Splice_Region", "Intron", "5'UTR", "3'UTR", "5'Flank", "3'Flank", "IGR", "RNA",
    "Targeted_Region", "De_novo_Start_InFrame", "De_novo_Start_OutOfFrame"}
MAF_TYPES = frozenset({"SNP", "DNP", "TNP", "ONP", "INS", "DEL"})

# Radiomics shown per lesion: (pyradiomics name, column title, scale).
RADIOMICS_SUMMARY_FEATURES = (
    ("original_shape_MeshVolume", "volume (mL)", 1e-3),
    ("original_shape_Maximum3DDiameter", "max 3D diameter (mm)", 1.0),
    ("original_shape_Sphericity", "sphericity", 1.0),
    ("original_shape_Elongation", "elongation", 1.0),
    ("original_firstorder_Mean", "mean intensity", 1.0),
    ("original_firstorder_Entropy", "entropy", 1.0),
    ("original_glcm_Contrast", "GLCM contrast", 1.0),
)


THERAPY_TIERS_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("biomarker", pa.string(), "What matched: 'EGFR p.L858R', 'TMB 12.0 mut/Mb'"),
    schema_field("variant_status", pa.string(), "Call status; null for TMB", True),
    schema_field("drug", pa.string(), "Drug(s)"),
    schema_field("direction", pa.string(), "sensitivity, resistance or reduced_sensitivity"),
    schema_field("amp_tier", pa.string(), "Best AMP/ASCO/CAP tier of the evidence rows", True),
    schema_field("evidence_levels", pa.string(), "CIViC levels of the evidence rows, ','-joined"),
    schema_field("disease_match", pa.string(), "Disease match of the best-tier evidence row"),
    schema_field("evidence_rows", pa.int64(), "Evidence rows behind this match"),
    schema_field("source_ids", pa.string(), "Sources of every evidence row, '; '-joined"),
])


# ---------------------------------------------------------------------------------------------
# Therapy tiers.

def therapy_tiers(therapies: pd.DataFrame) -> pd.DataFrame:
    """One row per patient x biomarker x drug x direction, at its best AMP/ASCO/CAP tier, with
    the CIViC levels and the sources of every evidence row behind it; best tier first."""
    matched = therapies[therapies["drug"].notna()].copy()
    matched["tier_rank"] = matched["amp_tier"].map(TIER_ORDER) \
        .fillna(len(TIER_ORDER))
    keys = ["patient", "biomarker", "variant_status", "drug", "direction"]
    if matched.empty:
        return pd.DataFrame(columns=THERAPY_TIERS_SCHEMA.names)
    matched = matched.sort_values(keys[:1] + ["tier_rank"])
    grouped = matched.groupby(keys, sort=False, dropna=False)
    table = grouped.agg(
        amp_tier=("amp_tier", "first"), tier_rank=("tier_rank", "first"),
        evidence_levels=("evidence_level", lambda c: ",".join(sorted(set(c.dropna())))),
        disease_match=("disease_match", "first"), evidence_rows=("drug", "size"),
        source_ids=("source_ids", lambda c: "; ".join(dict.fromkeys(
            part for value in c.dropna() for part in value.split("; ")))),
    ).reset_index()
    table = table.sort_values(["patient", "tier_rank", "biomarker", "drug"], kind="stable")
    return table[THERAPY_TIERS_SCHEMA.names].reset_index(drop=True)


def patient_tier_summary(tiers: pd.DataFrame, patients: Sequence[str]) -> pd.DataFrame:
    """Per patient: the best sensitivity tier, its biomarkers and drugs, and the number of
    tier I/II matches for sensitivity and for resistance. Patients without a match get '—'."""
    rows = []
    for patient in patients:
        mine = tiers[tiers["patient"] == patient]
        sensitive = mine[mine["direction"] == "sensitivity"]
        best = sensitive["amp_tier"].dropna()
        best_tier = min(best, key=TIERS.index) if len(best) else None
        at_best = sensitive[sensitive["amp_tier"] == best_tier]
        tier_one_two = mine["amp_tier"].isin(TIERS[:4])
        rows.append({
            "patient": patient,
            "best_tier": best_tier or "—",
            "biomarkers": "; ".join(dict.fromkeys(at_best["biomarker"])) or "—",
            "drugs": "; ".join(dict.fromkeys(at_best["drug"])) or "—",
            "tier_I_II_sensitivity": int((tier_one_two & (mine["direction"] == "sensitivity"))
                                         .sum()),
            "tier_I_II_resistance": int((tier_one_two & (mine["direction"] == "resistance"))
                                        .sum()),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Radiomics summary.

def radiomics_summary(radiomics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per lesion: size, shape and intensity features in readable units; per modality: lesions,
    features and the median [min–max] of each of them."""
    present = [(name, title, scale) for name, title, scale in RADIOMICS_SUMMARY_FEATURES
               if name in radiomics.columns]
    lesions = radiomics[["patient", "lesion", "modality"]].copy()
    if "mask_source" in radiomics.columns:  # given by the sheet, or proposed by the segmenter
        lesions["mask"] = radiomics["mask_source"]
    for name, title, scale in present:
        lesions[title] = pd.to_numeric(radiomics[name], errors="coerce") * scale
    features = [c for c in radiomics.columns
                if c not in ("patient", "lesion", "modality", "mask_source")]
    summary = []
    for modality, rows in lesions.groupby("modality"):
        entry = {"modality": modality, "lesions": len(rows), "patients": rows["patient"].nunique(),
                 "features extracted": len(features)}
        for _, title, _ in present:
            values = rows[title].dropna()
            entry[title] = (f"{values.median():.3g} [{values.min():.3g}–{values.max():.3g}]"
                            if len(values) else "")
        summary.append(entry)
    return lesions.sort_values(["patient", "lesion"]).reset_index(drop=True), pd.DataFrame(summary)


# ---------------------------------------------------------------------------------------------
# MAF check and the cohort-table index.

def check_maf(maf: pd.DataFrame) -> list[str]:
    """What makes ``maf`` unreadable for maftools/cBioPortal; [] when it is valid.

    Required columns (maftools read.maf's, plus cBioPortal's allele columns), the GDC
    Variant_Classification and Variant_Type vocabularies, non-empty sample barcodes, and
    coordinates that agree with the alleles (SNP/DNP/...: End - Start + 1 = allele length;
    INS: Reference_Allele '-', End = Start + 1; DEL: Tumor_Seq_Allele2 '-').
    """
    # maftools matches column names regardless of case (TCGA MAFs spell 'End_position').
    canonical = {name.lower(): name for name in MAF_REQUIRED}
    maf = maf.rename(columns={c: canonical.get(str(c).lower(), c) for c in maf.columns})
    missing = [c for c in MAF_REQUIRED if c not in maf.columns]
    if missing:
        return [f"missing required column(s) {missing}"]
    problems = []

    def flag(mask: pd.Series, what: str) -> None:
        if mask.any():
            rows = [int(i) + 2 for i in np.flatnonzero(mask.to_numpy())[:5]]  # file lines
            problems.append(f"{what}: {int(mask.sum())} row(s), first at line(s) {rows}")

    flag(~maf["Variant_Classification"].isin(MAF_CLASSES), "unknown Variant_Classification")
    flag(~maf["Variant_Type"].isin(MAF_TYPES), "unknown Variant_Type")
    flag(maf["Tumor_Sample_Barcode"].fillna("").astype(str).str.strip() == "",
         "empty Tumor_Sample_Barcode")
    flag(maf["Hugo_Symbol"].fillna("").astype(str).str.strip() == "", "empty Hugo_Symbol")
    start = pd.to_numeric(maf["Start_Position"], errors="coerce")
    end = pd.to_numeric(maf["End_Position"], errors="coerce")
    flag(start.isna() | end.isna() | (start < 1) | (end < start), "bad Start/End_Position")
    ref = maf["Reference_Allele"].fillna("").astype(str)
    alt = maf["Tumor_Seq_Allele2"].fillna("").astype(str)
    substitution = maf["Variant_Type"].isin(["SNP", "DNP", "TNP", "ONP"])
    flag(substitution & ((end - start + 1 != ref.str.len()) | (ref.str.len() != alt.str.len())
                         | ~ref.str.fullmatch("[ACGTN]+") | ~alt.str.fullmatch("[ACGTN]+")),
         "substitution alleles do not match the coordinates")
    insertion = maf["Variant_Type"] == "INS"
    flag(insertion & ((ref == "-") & ((end != start + 1) | ~alt.str.fullmatch("[ACGTN]+"))),
         "insertion coordinates or allele")
    deletion = maf["Variant_Type"] == "DEL"
    flag(deletion & (alt == "-") & (end - start + 1 != ref.str.len()),
         "deletion span does not match the deleted allele")
    return problems


def read_maf(path: str | Path) -> pd.DataFrame:
    """A MAF as written by oncoweave.variants.maf.write_maf (tab-separated, empty cells for
    missing)."""
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"not a tab-separated MAF ({err})", path=path) from None


def validated_maf(path: str | Path) -> pd.DataFrame:
    """The MAF at ``path``; InputError naming the first problem when maftools could not read it."""
    maf = read_maf(path)
    problems = check_maf(maf)
    if problems:
        raise InputError(f"invalid MAF: {problems[0]}", path=path)
    return maf


def maf_summary(maf: pd.DataFrame) -> pd.DataFrame:
    """Variant_Classification x Hugo_Symbol counts, with the sample count per gene."""
    if maf.empty:
        return pd.DataFrame()
    counts = pd.crosstab(maf["Variant_Classification"], maf["Hugo_Symbol"])
    counts.loc["tumours with a call"] = maf.groupby("Hugo_Symbol")["Tumor_Sample_Barcode"] \
        .nunique().reindex(counts.columns).to_numpy()
    return counts.reset_index().rename(columns={"Variant_Classification": "class"})


def table_index(tables: Mapping[str, str | Path]) -> pd.DataFrame:
    """Per exported table (name -> path): path, rows, columns and the first column names."""
    import pyarrow.parquet as pq

    rows = []
    for name, path in tables.items():
        if str(path).endswith(".parquet"):
            metadata = pq.ParquetFile(path).metadata
            columns = pq.read_schema(path).names
            n_rows = metadata.num_rows
        else:
            frame = read_maf(path)
            columns, n_rows = list(frame.columns), len(frame)
        rows.append({"table": name, "path": str(path), "rows": n_rows, "columns": len(columns),
                     "first columns": ", ".join(columns[:8])
                     + (" …" if len(columns) > 8 else "")})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The report pages.

def therapy_tiers_page(tiers: pd.DataFrame, patients: Sequence[str]) -> str:
    summary = patient_tier_summary(tiers, patients)
    counts = pd.DataFrame()
    if len(tiers):
        counts = pd.crosstab(tiers["amp_tier"], tiers["direction"]).reindex(
            [t for t in TIERS if t in set(tiers["amp_tier"])]).rename_axis(
            index="AMP tier", columns=None).reset_index()
    return html_page("Therapy matches by AMP/ASCO/CAP tier", [
        ("Best tier per patient",
         "The best sensitivity tier of each patient, the biomarkers and drugs at that tier, and "
         "how many tier I-II matches point to sensitivity or to resistance.", summary),
        ("Matches per tier", "Patient x biomarker x drug matches, by best tier and direction.",
         counts),
        ("Every match",
         "One row per patient, biomarker, drug and direction at its best tier, with the CIViC "
         "levels and sources of the evidence behind it (results/cohort/therapy_tiers.parquet).",
         tiers),
    ])


def radiomics_page(radiomics: pd.DataFrame) -> str:
    lesions, summary = radiomics_summary(radiomics)
    return html_page("Radiomics summary", [
        ("Per modality", "Lesions and patients imaged, features extracted per lesion (pyradiomics"
         "), and the median [min–max] of a few readable features.", summary),
        ("Per lesion", "Volume and diameter from the mask's mesh; intensities in the image's "
         "units (HU for CT, SUV for PET, arbitrary for MR). Every feature is in "
         "results/cohort/radiomics.parquet.", lesions),
    ])


def cohort_tables_page(maf: pd.DataFrame, tables: Mapping[str, str | Path]) -> str:
    return html_page("Cohort tables", [
        ("Files", "Parquet (pandas.read_parquet, R arrow::read_parquet) and MAF "
         "(maftools::read.maf, cBioPortal mutation data). Paths are relative to the run "
         "directory.", table_index(tables)),
        ("MAF check", f"results/cohort/variants.maf: {len(maf)} rows, every required column "
         f"({', '.join(MAF_REQUIRED)}) present, Variant_Classification and Variant_Type in the "
         "GDC vocabulary, coordinates consistent with the alleles.", maf_summary(maf)),
    ])


# ---------------------------------------------------------------------------------------------
# The page template, and writing a page.

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; margin: 1.2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f0f0f0; }}
tr:nth-child(even) td {{ background: #fafafa; }}
</style></head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def html_page(title: str, sections: Sequence[tuple[str, str, pd.DataFrame | None]]) -> str:
    """A self-contained page: per section a heading, a paragraph (escaped) and a table."""
    body = []
    for heading, text, table in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if text:
            body.append(f"<p>{html.escape(text)}</p>")
        if table is not None:
            body.append(table.to_html(index=False, na_rep="", border=0, escape=True,
                                      float_format=lambda value: f"{value:.4g}")
                        if len(table) else "<p><em>none</em></p>")
    return _PAGE.format(title=html.escape(title), body="\n".join(body))


def write_html(text: str, path: str | Path) -> None:
    with replaced_on_success(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
