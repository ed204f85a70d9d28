"""Tumour mutational burden: somatic coding mutations per megabase of callable territory.

The callable territory is what mosdepth's thresholds file counts at >= ``min_depth`` in the tumour
and, with a matched normal, in the normal too: per target region the smaller of the two counts
(the bases shallow in one sample are, in practice, the same capture edges as in the other). Coding
mutations are counted as FoundationOne CDx does for the KEYNOTE-158 cut-off (Chalmers et al. 2017,
PMID:28420421): coding SNVs and indels, synonymous included. A panel estimate is reportable only
over >= ``min_callable_mb`` of territory and with a matched normal (tumour-only calls keep germline
variants, which this pipeline cannot filter); a TMB from the clinical sheet takes precedence.

A MAF patient's calls were made by a published pipeline over a territory the MAF does not carry
(``tmb.maf_territory_mb``): its somatic rows inside the reference regions count by this
workflow's annotation, those outside by their Variant_Classification under the same rule
(oncoweave.variants.maf_import.MAF_TMB_CLASSES).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import require_columns, schema_field
from oncoweave.therapy.defaults import DEFAULT_MIN_CALLABLE_MB, DEFAULT_MIN_DEPTH

CODING_TERMS = frozenset({"missense", "synonymous", "stop_gained", "stop_lost", "start_lost",
                          "stop_retained", "start_retained", "frameshift", "inframe_deletion", "inframe_insertion",
                          "inframe_altering", "coding_sequence"})
VARIANT_COLUMNS = ("patient", "sample", "chrom", "pos", "ref", "alt", "consequence", "status",
                   "filter")


TMB_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("callable_mb", pa.float64(), "Megabases at >= min depth in tumour (and normal)"),
    schema_field("somatic_coding_mutations", pa.int64(),
                 "PASS somatic (tumour_only without a normal) coding SNVs/indels, synonymous "
                 "included"),
    schema_field("tmb", pa.float64(), "Mutations per Mb; null when not reportable", True),
    schema_field("tmb_source", pa.string(), "computed or clinical"),
    schema_field("reportable", pa.bool_(), "Whether tmb may be reported and acted on"),
    schema_field("reason", pa.string(), "Why not reportable, or where the value came from", True),
])


def read_thresholds(path: str | Path, min_depth: int) -> pd.DataFrame:
    """mosdepth ``*.thresholds.bed.gz`` -> chrom, start, end, bases (bases at >= ``min_depth``)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t")
    except (OSError, EOFError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read mosdepth thresholds ({err})", path=path) from None
    df = df.rename(columns={"#chrom": "chrom"})
    column = f"{min_depth}X"
    require_columns(df, ["chrom", "start", "end"], path)
    if column not in df.columns:
        depths = [name for name in df.columns if name.endswith("X")]
        raise InputError(f"no column for depth {min_depth} (has {', '.join(depths) or 'none'}; "
                         "run mosdepth with --thresholds including it)", path=path)
    return df[["chrom", "start", "end"]].assign(bases=df[column].astype("int64"))


def callable_bases(tumour_thresholds_bed: str | Path, normal_thresholds_bed: str | Path | None,
                   min_depth: int) -> int:
    tumour = read_thresholds(tumour_thresholds_bed, min_depth)
    if normal_thresholds_bed is None:
        return int(tumour["bases"].sum())
    normal = read_thresholds(normal_thresholds_bed, min_depth)
    same_regions = (len(tumour) == len(normal) and
                    (tumour[["chrom", "start", "end"]].values ==
                     normal[["chrom", "start", "end"]].values).all())
    if not same_regions:
        raise InputError("regions differ from the tumour's thresholds file "
                         f"{tumour_thresholds_bed} (run mosdepth with the same --by BED)",
                         path=normal_thresholds_bed)
    return int(tumour["bases"].clip(upper=normal["bases"]).sum())


def count_coding_mutations(variants_df: pd.DataFrame, status: str) -> int:
    """Distinct PASS coding variants of ``status`` (a variant seen in two samples counts once)."""
    def coding(consequence) -> bool:
        # bcftools csq marks consequences downstream of a stop with a leading '*'.
        return isinstance(consequence, str) and bool(
            {term.lstrip("*") for term in consequence.split("&")} & CODING_TERMS)

    kept = variants_df[(variants_df["filter"] == "PASS") & (variants_df["status"] == status)
                       & variants_df["consequence"].map(coding)]
    return len(kept.drop_duplicates(["chrom", "pos", "ref", "alt"]))


def compute_tmb(variants_df: pd.DataFrame, tumour_thresholds_bed: str | Path | None,
                normal_thresholds_bed: str | Path | None, *, patient: str,
                min_depth: int = DEFAULT_MIN_DEPTH,
                min_callable_mb: float = DEFAULT_MIN_CALLABLE_MB,
                clinical_tmb: float | None = None,
                maf_outside_mutations: int | None = None,
                maf_territory_mb: float | None = None) -> dict:
    """One TMB_SCHEMA row for ``patient`` (``variants_df`` may hold other patients' rows too).

    No tumour coverage (``tumour_thresholds_bed`` None: calls imported from a VCF) means no
    callable territory: only a TMB from the clinical sheet can be reported then.
    A MAF patient (``maf_outside_mutations`` given: its TMB-eligible MAF rows outside the
    reference regions, by Variant_Classification) counts its somatic calls inside the regions as
    any patient's plus those rows, over ``maf_territory_mb``, the territory the published calls
    were made over (a MAF does not carry it; None: not reportable).
    """
    require_columns(variants_df, VARIANT_COLUMNS)
    calls = variants_df[variants_df["patient"] == patient]
    paired = normal_thresholds_bed is not None
    problems = []
    if maf_outside_mutations is not None:
        callable_mb = float(maf_territory_mb or 0.0)
        mutations = count_coding_mutations(calls, "somatic") + int(maf_outside_mutations)
        if maf_territory_mb is None:
            problems.append("MAF calls: set tmb.maf_territory_mb to the megabases they were "
                            "made over (a MAF does not carry it)")
    elif tumour_thresholds_bed is None:
        callable_mb = 0.0
        problems.append("no read coverage (calls imported from a VCF)")
        mutations = count_coding_mutations(calls, "tumour_only")
    else:
        callable_mb = callable_bases(tumour_thresholds_bed, normal_thresholds_bed, min_depth) / 1e6
        mutations = count_coding_mutations(calls, "somatic" if paired else "tumour_only")
    territory_unknown = maf_outside_mutations is not None and maf_territory_mb is None
    if callable_mb < min_callable_mb and not territory_unknown:
        problems.append(f"callable territory {callable_mb:.3f} Mb < {min_callable_mb} Mb")
    if not paired and tumour_thresholds_bed is not None:
        problems.append("tumour-only: germline variants are not removed")
    estimate = (f"panel estimate {mutations} mutations / {callable_mb:.3f} Mb = "
                f"{mutations / callable_mb:.1f} mut/Mb" if callable_mb > 0
                else "no callable territory")
    row = {"patient": patient, "callable_mb": callable_mb, "somatic_coding_mutations": mutations}
    if clinical_tmb is not None:
        if not math.isfinite(clinical_tmb) or clinical_tmb < 0:
            raise InputError(f"clinical TMB must be a number >= 0, got {clinical_tmb}")
        verdict = f"not reportable: {'; '.join(problems)}" if problems else "reportable"
        return {**row, "tmb": float(clinical_tmb), "tmb_source": "clinical", "reportable": True,
                "reason": f"from the clinical sheet; {estimate} ({verdict})"}
    if problems:
        return {**row, "tmb": None, "tmb_source": "computed", "reportable": False,
                "reason": f"{'; '.join(problems)} ({estimate})"}
    return {**row, "tmb": mutations / callable_mb, "tmb_source": "computed", "reportable": True,
            "reason": None}


def clinical_tmb(clinical_tsv: str | Path, patient: str) -> float | None:
    """The patient's ``tmb`` cell of the clinical sheet; None without the column, row or value."""
    clinical_tsv = Path(clinical_tsv)
    try:
        sheet = pd.read_csv(clinical_tsv, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read clinical sheet ({err})", path=clinical_tsv) from None
    require_columns(sheet, ["patient"], clinical_tsv)
    if "tmb" not in sheet.columns:
        return None
    rows = sheet.index[sheet["patient"] == patient]
    if len(rows) == 0 or not sheet.at[rows[0], "tmb"].strip():
        return None
    cell = sheet.at[rows[0], "tmb"]
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InputError(f"TMB must be a number >= 0 (mut/Mb), got {cell!r}", path=clinical_tsv,
                         row=int(rows[0]) + 2, column="tmb")
    return value
