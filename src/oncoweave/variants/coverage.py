"""Per-gene coverage QC of a patient's alignments: its mosdepth region and threshold beds
condensed into one row per sample x target gene x depth threshold
(results/qc/coverage/{patient}.parquet, which the patient report shows)."""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import schema_field, write_parquet

COVERAGE_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("sample", pa.string(), "Sample id"),
    schema_field("sample_type", pa.string(), "tumour or normal"),
    schema_field("gene", pa.string(), "Driver gene (the target BED's name column)"),
    schema_field("target_bp", pa.int64(), "Target bases of the gene"),
    schema_field("mean_depth", pa.float64(), "Length-weighted mean depth over the gene's targets"),
    schema_field("min_depth", pa.int64(), "Depth threshold (one of mosdepth --thresholds)"),
    schema_field("fraction_at_depth", pa.float64(), "Fraction of target bases at >= min_depth"),
])


def _read_bed(path: str | Path, what: str, columns: int) -> pd.DataFrame:
    path = Path(path)
    try:
        with gzip.open(path, "rt") as handle:
            table = pd.read_csv(handle, sep="\t", header=None, comment=None, dtype=str)
    except (OSError, EOFError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read mosdepth {what} bed ({err})", path=path) from None
    if table.shape[1] < columns:
        raise InputError(f"mosdepth {what} bed has {table.shape[1]} columns, not {columns}: "
                         "the targets BED needs a name column (the gene)", path=path)
    return table


def coverage_rows(patient: str, sample: str, sample_type: str, regions: str | Path,
                  thresholds: str | Path, genes: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows of COVERAGE_SCHEMA for one sample from its mosdepth regions and thresholds beds, for
    ``genes`` (default: every gene the targets BED names, in its order)."""
    region_table = _read_bed(regions, "regions", 5).iloc[:, :5]
    region_table.columns = ["chrom", "start", "end", "gene", "mean"]
    threshold_table = _read_bed(thresholds, "thresholds", 5)
    header = list(threshold_table.iloc[0])
    if not str(header[0]).startswith("#") or not all(
            re.fullmatch(r"\d+X", str(name)) for name in header[4:]):
        raise InputError("no '#chrom start end region <N>X ...' header line", path=thresholds)
    depths = [int(str(name)[:-1]) for name in header[4:]]
    threshold_table = threshold_table.iloc[1:].reset_index(drop=True)
    threshold_table.columns = ["chrom", "start", "end", "gene", *[f"d{d}" for d in depths]]
    try:
        for table in (region_table, threshold_table):
            table["length"] = table["end"].astype(np.int64) - table["start"].astype(np.int64)
        region_table["mean"] = region_table["mean"].astype(float)
        for depth in depths:
            threshold_table[f"d{depth}"] = threshold_table[f"d{depth}"].astype(np.int64)
    except ValueError as err:
        raise InputError(f"non-numeric coverage value ({err})", path=thresholds) from None
    rows = []
    for gene in region_table["gene"].unique() if genes is None else genes:
        in_regions = region_table[region_table["gene"] == gene]
        in_thresholds = threshold_table[threshold_table["gene"] == gene]
        bp = int(in_regions["length"].sum())
        if not bp:
            continue
        mean = float((in_regions["mean"] * in_regions["length"]).sum() / bp)
        for depth in depths:
            rows.append({"patient": patient, "sample": sample, "sample_type": sample_type,
                         "gene": gene, "target_bp": bp, "mean_depth": round(mean, 2),
                         "min_depth": depth,
                         "fraction_at_depth": float(in_thresholds[f"d{depth}"].sum()
                                                    / max(int(in_thresholds["length"].sum()), 1))})
    return pd.DataFrame(rows, columns=COVERAGE_SCHEMA.names)


def summarize_coverage(patient: str, output: str | Path,
                       samples: Sequence[tuple[str, str, str | Path, str | Path]],
                       genes: Sequence[str] | None = None,
                       metadata: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Write the patient's coverage per gene of ``genes`` (default: every gene its targets BED
    names): ``samples`` are (sample, type, regions bed, thresholds bed) of its tumour (and
    normal)."""
    table = pd.concat([coverage_rows(patient, sample, kind, regions, thresholds, genes)
                       for sample, kind, regions, thresholds in samples], ignore_index=True)
    write_parquet(table, output, COVERAGE_SCHEMA,
                  {"mosdepth_outputs": "regions.bed.gz, thresholds.bed.gz", **(metadata or {})})
    return table
