"""Copy number of a tumour from its aligned reads with CNVkit, as the per-gene COPY_NUMBER_SCHEMA
table (source ``cnvkit``) and a segments table (CNVKIT_SEGMENT_SCHEMA).

The steps are CNVkit's own (its Python API, the commands ``cnvkit.py batch`` chains), in one process
per tumour:

1. ``target --split --avg-size``: the workflow's targets cut into bins of about
   ``CnvkitSettings.bin_size`` bases (100: a 4-gene panel's small exons give each gene 16 (TP53) to
   ~110 (BRCA2) bins). Targets only, no antitargets: the amplicon mode of ``batch``, right for a
   panel whose reads barely leave the targets;
2. ``coverage`` of the tumour (and of the normals) over the bins, reads of mapping quality >=
   ``min_mapping_quality``;
3. ``reference``: the patient's normal when it has one; else a pooled reference of the cohort's
   normals (:func:`pooled_reference`); a flat reference when the cohort has no normal at all;
4. ``fix`` -> the bins' log2 ratios (``.cnr``), without CNVkit's GC, repeat-mask and edge
   corrections (``--no-gc --no-rmask --no-edge``, also for the reference): they fit a trend across
   all bins, and on a panel of a few genes each gene has its own GC content, so the trend absorbed
   a real copy-number change (a synthetic EGFR amplification to 8 copies pushed a neutral TP53 to
   log2 -1.4 with them); a paired or pooled normal of the same panel carries the target biases;
5. ``segment -m hmm-tumor`` with the tumour's B-allele fractions: CNVkit's HMM, pure Python (SciPy)
   in CNVkit 0.9.14. CBS needs R's DNAcopy (no R here); ``haar`` split the 16 TP53 bins of a
   neutral toy tumour into pieces down to log2 -0.30 (a false loss by the log2 cut-offs), the HMM
   kept one segment per gene region;
6. ``call``: with the sample sheet's purity, ``--method clonal --purity`` rescales the log2 ratios
   and B-allele fractions for the normal cells and rounds them to integer total (``cn``) and allele
   copy numbers (``cn1``/``cn2``); without a purity, ``--method threshold`` and the documented log2
   cut-offs (:data:`oncoweave.variants.copy_number.LOG2_THRESHOLDS`) give the call, and the
   absolute copy numbers stay null.

B-allele fractions come from the germline heterozygous SNPs the workflow already calls: the
patient's VCF as the caller wrote it (``called/``: tumour and normal columns, the normal's
genotypes; read before classification so CNVkit stays upstream of the shard's light stages); CNVkit
keeps the sites heterozygous in the normal at depth >= ``min_variant_depth`` (tumour-only: heterozygous in the tumour, so copy-neutral
LOH cannot be seen there). A gene's row takes the segment holding most of its bins (a segment of
copy number 0 anywhere in the gene makes it a deep deletion, as for .seg files); its log2 ratio is
the bin-weighted mean of its segments' log2 ratios; the call is
:func:`oncoweave.variants.copy_number.call_from_copy_numbers` of its copy numbers (total 2, minor
0: copy-neutral LOH).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import schema_field
from oncoweave.variants.copy_number import (
    LOG2_THRESHOLDS,
    Log2Thresholds,
    call_from_copy_numbers,
    copy_number_rows,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SEGMENT_METHODS = ("hmm-tumor", "hmm", "haar", "none")
# The segment's log2 ratio as segmented, before ``call --purity`` rescales it.
OBSERVED_LOG2 = "log2_observed"
# Bins that name no gene (CNVkit writes "-" or "Antitarget").
NO_GENE = frozenset({"", "-", ".", "Antitarget", "Background"})


@dataclass(frozen=True)
class CnvkitSettings:
    """How CNVkit runs (config ``copy_number_reads``); the defaults are the toy panel's."""

    bin_size: int = 100
    segment_method: str = "hmm-tumor"
    min_mapping_quality: int = 20
    min_variant_depth: int = 20

    def __post_init__(self):
        if self.segment_method not in SEGMENT_METHODS:
            raise InputError(f"copy_number_reads: segment_method '{self.segment_method}' is not "
                             f"one of {', '.join(SEGMENT_METHODS)} (cbs needs R)")
        if self.bin_size < 20:
            raise InputError(f"copy_number_reads: bin_size must be >= 20, got {self.bin_size}")


CNVKIT_SEGMENT_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("sample", pa.string(), "Tumour sample id"),
    schema_field("contig", pa.string(), "Reference contig of the segment (the BAM's)"),
    schema_field("start", pa.int64(), "0-based start on the contig (CNVkit's, BED-like)"),
    schema_field("end", pa.int64(), "End on the contig"),
    schema_field("genes", pa.string(), "Genes of its bins, comma-separated"),
    schema_field("bins", pa.int64(), "Bins (CNVkit probes) in the segment"),
    schema_field("log2_ratio", pa.float64(), "Segment log2 copy ratio (before purity rescaling)"),
    schema_field("baf", pa.float64(), "B-allele fraction of its heterozygous SNPs (purity-"
                 "rescaled with a purity); null without SNPs", True),
    schema_field("total_copy_number", pa.int64(), "Integer copy number (CNVkit call cn); null "
                 "without purity", True),
    schema_field("minor_copy_number", pa.int64(), "Minor allele copy number (min of cn1, cn2); "
                 "null without purity or SNPs", True),
])


# ---------------------------------------------------------------------------------------------
# Running CNVkit


def split_targets(targets_bed: str | Path, output: str | Path, bin_size: int) -> Path:
    """``cnvkit.py target --split --avg-size``: the targets as bins of about ``bin_size``."""
    from cnvlib import target
    from skgenome import tabio

    try:
        baits = tabio.read_auto(str(targets_bed))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the targets ({err})", path=str(targets_bed)) from None
    if not len(baits):
        raise InputError("no target intervals", path=str(targets_bed))
    tabio.write(target.do_target(baits, do_split=True, avg_size=bin_size), str(output), "bed4")
    return Path(output)


def sample_coverage(bam: str | Path, bins_bed: str | Path, output: str | Path,
                    settings: CnvkitSettings) -> Path:
    """``cnvkit.py coverage``: one sample's read depth over the bins, written as .cnn."""
    from cnvlib import coverage
    from skgenome import tabio

    try:
        cnarr = coverage.do_coverage(str(bins_bed), str(bam),
                                     min_mapq=settings.min_mapping_quality)
    except (OSError, ValueError) as err:
        raise InputError(f"CNVkit coverage failed ({err})", path=str(bam)) from None
    tabio.write(cnarr, str(output))
    return Path(output)


def build_reference(normal_coverages: Sequence[str | Path], bins_bed: str | Path, fasta: str | Path,
                    output: str | Path) -> Path:
    """``cnvkit.py reference``: from the normals' coverage (one: a paired reference; several: a
    pooled one), or flat (``--targets``) when there is none."""
    from cnvlib import reference
    from skgenome import tabio

    if normal_coverages:
        ref = reference.do_reference([str(path) for path in normal_coverages], None, str(fasta),
                                     do_gc=False, do_edge=False, do_rmask=False)
    else:
        ref = reference.do_reference_flat(str(bins_bed), None, str(fasta))
    tabio.write(ref, str(output))
    return Path(output)


@dataclass(frozen=True)
class CnvkitResult:
    bins: pd.DataFrame      # the .cnr: chromosome, start, end, gene, log2, depth, weight
    segments: pd.DataFrame  # the called .cns: + cn, cn1, cn2, baf when known
    purity: float | None


def call_tumour(coverage_cnn: str | Path, reference_cnn: str | Path, out_prefix: str | Path, *,
                purity: float | None, vcf: str | Path | None = None, tumour_id: str | None = None,
                normal_id: str | None = None,
                settings: CnvkitSettings = CnvkitSettings()) -> CnvkitResult:
    """``fix``, ``segment`` and ``call`` of one tumour; writes ``<out_prefix>.cnr``, ``.cns`` and
    ``.call.cns`` (CNVkit's own files, for its plots) and returns the bins and called segments."""
    import cnvlib
    from cnvlib import call, fix, segmentation
    from cnvlib.cmdutil import load_het_snps
    from skgenome import tabio

    if purity is not None and not 0 < purity <= 1:
        raise InputError(f"purity must be in (0, 1], got {purity}")
    tumour = cnvlib.read(str(coverage_cnn))
    ref = cnvlib.read(str(reference_cnn))
    no_antitargets = tumour.as_dataframe(tumour.data.iloc[:0])
    cnr = fix.do_fix(tumour, no_antitargets, ref, do_gc=False, do_edge=False, do_rmask=False)
    variants = None
    if vcf is not None:
        try:
            variants = load_het_snps(str(vcf), tumour_id, normal_id, settings.min_variant_depth)
        except (ValueError, KeyError, IndexError) as err:
            # A VCF without a usable heterozygous SNP: copy number without B-allele fractions.
            log.warning("no B-allele fractions from %s (%s)", vcf, err)
            variants = None
        if variants is not None and not len(variants):
            variants = None
        log.info("%s heterozygous SNPs for B-allele fractions",
                 0 if variants is None else len(variants))
    segments = segmentation.do_segmentation(cnr, settings.segment_method, variants=variants)
    if purity is not None:
        called = call.do_call(segments, variants, method="clonal", purity=purity)
    else:
        called = call.do_call(segments, variants, method="threshold")
    prefix = str(out_prefix)
    tabio.write(cnr, f"{prefix}.cnr")
    tabio.write(segments, f"{prefix}.cns")
    tabio.write(called, f"{prefix}.call.cns")
    called_rows = called.data.copy()
    if len(called_rows) == len(segments):
        # call --purity rewrites log2 for the tumour cells; the table keeps the observed ratio.
        called_rows[OBSERVED_LOG2] = segments.data["log2"].to_numpy()
    return CnvkitResult(cnr.data.copy(), called_rows, purity)


# ---------------------------------------------------------------------------------------------
# CNVkit's tables -> the workflow's schemas

_BIN_COLUMNS = ("chromosome", "start", "end", "gene", "log2")
_SEGMENT_COLUMNS = ("chromosome", "start", "end", "log2")


def read_cnvkit_table(path: str | Path, required: Sequence[str]) -> pd.DataFrame:
    """A CNVkit .cnr/.cns (tab-separated, header line) with its ``required`` columns checked;
    an InputError names the file, line and column of the first bad value."""
    import numpy as np
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read the CNVkit table ({err})", path=str(path)) from None
    missing = [name for name in required if name not in table.columns]
    if missing:
        raise InputError(f"line 1: missing column(s) {', '.join(missing)}", path=str(path))
    typed = table.copy()
    for column in ("start", "end", "log2", "cn", "cn1", "cn2", "baf", "probes", "weight"):
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column].replace("", np.nan), errors="coerce")
        bad = values.isna() & (table[column] != "")
        if column in ("start", "end", "log2"):
            bad |= values.isna()
        if bad.any():
            line = int(np.argmax(bad.to_numpy())) + 2
            raise InputError(f"line {line}, column '{column}': '{table[column].iat[line - 2]}' is "
                             "not a number", path=str(path))
        typed[column] = values
    bad = (typed["end"] <= typed["start"]).to_numpy()
    if bad.any():
        line = int(bad.argmax()) + 2
        raise InputError(f"line {line}, column 'end': end {table['end'].iat[line - 2]} is not "
                         f"after start {table['start'].iat[line - 2]}", path=str(path))
    return typed


def _gene_names(cell: str) -> list[str]:
    return [name for name in str(cell).split(",") if name not in NO_GENE]


def _int_or_na(value):
    import pandas as pd

    return pd.NA if pd.isna(value) else int(round(float(value)))


def gene_copy_number(bins: pd.DataFrame, segments: pd.DataFrame, patient: str, sample: str, *,
                     purity_known: bool,
                     thresholds: Log2Thresholds = LOG2_THRESHOLDS) -> pd.DataFrame:
    """COPY_NUMBER_SCHEMA rows (source cnvkit) of each gene named in the bins' ``gene`` column.

    A gene's segments are those holding its bins (same chromosome, bin inside the segment). Its
    log2 ratio is their log2 (``log2_observed`` when there: the ratio before purity rescaling)
    weighted by the bins each holds; with ``purity_known`` its total and
    minor copy numbers are those of the segment holding most of its bins (the first such on
    ties), except that a segment of copy number 0 makes it 0 (a homozygous deletion of some exons
    loses the gene), and the call is :func:`call_from_copy_numbers`; without, the call is the log2
    ``thresholds``' (any segment at or below the deep-deletion cut-off: deep deletion) and the
    copy numbers are null. A gene no segment holds gets no row.
    """
    import numpy as np
    import pandas as pd

    rows = []
    genes: dict[str, list[int]] = {}
    for index, cell in enumerate(bins["gene"]):
        for name in _gene_names(cell):
            genes.setdefault(name, []).append(index)
    has_cn = purity_known and "cn" in segments.columns
    log2_column = OBSERVED_LOG2 if OBSERVED_LOG2 in segments.columns else "log2"
    for gene, indexes in genes.items():
        gene_bins = bins.iloc[indexes]
        held = np.full(len(gene_bins), -1)
        for position, (chrom, start, end) in enumerate(zip(
                gene_bins["chromosome"], gene_bins["start"], gene_bins["end"])):
            inside = np.flatnonzero((segments["chromosome"].to_numpy() == chrom)
                                    & (segments["start"].to_numpy() <= start)
                                    & (segments["end"].to_numpy() >= end))
            if len(inside):
                held[position] = inside[0]
        held = held[held >= 0]
        if not len(held):
            continue
        counts = pd.Series(held).value_counts(sort=False)
        mine = segments.iloc[counts.index.to_numpy()]
        log2 = round(float(np.average(mine[log2_column], weights=counts.to_numpy())), 6)
        row = {"patient": patient, "sample": sample, "gene": gene, "log2_ratio": log2,
               "total_copy_number": pd.NA, "minor_copy_number": pd.NA}
        if has_cn:
            main = segments.iloc[int(counts.idxmax())]
            zero = mine[mine["cn"] == 0]
            chosen = zero.iloc[0] if len(zero) else main
            total = _int_or_na(chosen["cn"])
            minor = pd.NA
            if {"cn1", "cn2"} <= set(segments.columns) and not (
                    pd.isna(chosen["cn1"]) or pd.isna(chosen["cn2"])):
                minor = min(_int_or_na(chosen["cn1"]), _int_or_na(chosen["cn2"]))
            total = max(0, total) if total is not pd.NA else total
            if total is pd.NA:
                call = thresholds.call(log2)
            else:
                minor = pd.NA if minor is pd.NA else min(max(0, minor), total)
                call = call_from_copy_numbers(total, None if minor is pd.NA else minor)
            row.update(total_copy_number=total, minor_copy_number=minor, call=call)
        else:
            deep = bool((mine[log2_column] <= thresholds.deep_deletion).any())
            row["call"] = "deep_deletion" if deep else thresholds.call(log2)
        rows.append(row)
    columns = ["patient", "sample", "gene", "log2_ratio", "total_copy_number",
               "minor_copy_number", "call"]
    table = pd.DataFrame(rows, columns=columns)
    return copy_number_rows(table, "cnvkit")


def segment_rows(segments: pd.DataFrame, patient: str, sample: str, *,
                 purity_known: bool) -> pd.DataFrame:
    """CNVKIT_SEGMENT_SCHEMA rows of the called segments."""
    import pandas as pd

    def column(name, integer=False):
        if name not in segments.columns or (not purity_known and name.startswith("cn")):
            return pd.array([pd.NA] * len(segments), dtype="Int64" if integer else "Float64")
        values = pd.to_numeric(segments[name], errors="coerce")
        return pd.array(values.round() if integer else values,
                        dtype="Int64" if integer else "Float64")

    minor = pd.array([pd.NA] * len(segments), dtype="Int64")
    if purity_known and {"cn1", "cn2"} <= set(segments.columns):
        minor = pd.array(pd.concat([pd.to_numeric(segments["cn1"], errors="coerce"),
                                    pd.to_numeric(segments["cn2"], errors="coerce")], axis=1)
                         .min(axis=1, skipna=False).round(), dtype="Int64")
    genes = [",".join(dict.fromkeys(_gene_names(cell))) for cell in
             segments.get("gene", pd.Series([""] * len(segments)))]
    return pd.DataFrame({
        "patient": patient, "sample": sample,
        "contig": segments["chromosome"].astype(str).to_numpy(),
        "start": segments["start"].astype("int64").to_numpy(),
        "end": segments["end"].astype("int64").to_numpy(),
        "genes": genes,
        "bins": (segments["probes"].astype("int64").to_numpy() if "probes" in segments
                 else pd.array([0] * len(segments), dtype="int64")),
        "log2_ratio": segments[OBSERVED_LOG2 if OBSERVED_LOG2 in segments.columns
                               else "log2"].astype(float).to_numpy(),
        "baf": column("baf").astype(float),
        "total_copy_number": column("cn", integer=True),
        "minor_copy_number": minor,
    })


def write_segments(table: pd.DataFrame, path: str | Path,
                   metadata: dict[str, str] | None = None) -> pa.Table:
    from oncoweave.core.tables import write_parquet

    return write_parquet(table, path, CNVKIT_SEGMENT_SCHEMA, metadata)


# ---------------------------------------------------------------------------------------------
# One tumour, one cohort reference: what the rules run


def settings_of(config: dict, min_mapping_quality: int) -> CnvkitSettings:
    """CnvkitSettings from the config's ``calling.copy_number`` (``enabled`` is the rules')."""
    known = {"bin_size", "segment_method", "min_variant_depth"}
    unknown = sorted(set(config) - known - {"enabled"})
    if unknown:
        raise InputError(f"calling.copy_number: unknown key(s) {', '.join(unknown)}")
    return CnvkitSettings(min_mapping_quality=min_mapping_quality,
                          **{key: value for key, value in config.items() if key in known})


def pooled_reference(normal_bams: Sequence[str | Path], targets: str | Path, fasta: str | Path,
                     output: str | Path, *, settings: dict, min_mapping_quality: int,
                     workdir: str | Path) -> Path:
    """The pooled reference of the cohort's normals (flat without normals), on the bins
    :func:`call_patient` cuts from the same targets."""
    cnvkit = settings_of(settings, min_mapping_quality)
    work = Path(workdir)
    bins = split_targets(targets, work / "bins.bed", cnvkit.bin_size)
    coverages = [sample_coverage(bam, bins, work / f"normal{index}.targetcoverage.cnn", cnvkit)
                 for index, bam in enumerate(normal_bams)]
    return build_reference(coverages, bins, fasta, output)


# A tumour's files (call_patient's ``outputs``), in its own folder of the shard's output.
CNVKIT_OUTPUT_FILES = {"genes": "genes.parquet", "segments": "segments.parquet",
                       "cnr": "cnvkit.cnr", "cns": "cnvkit.call.cns"}


def call_patient(*, patient: str, tumour: str, tumour_bam: str | Path, normal: str | None,
                 normal_bam: str | Path | None, pooled_reference: str | Path | None,
                 vcf: str | Path | None, purity: float | None, targets: str | Path,
                 fasta: str | Path, settings: dict, min_mapping_quality: int,
                 workdir: str | Path, outputs: dict) -> pd.DataFrame:
    """CNVkit of one tumour, against its normal when ``normal_bam`` is given, else against
    ``pooled_reference``; writes ``outputs`` genes (COPY_NUMBER_SCHEMA), segments
    (CNVKIT_SEGMENT_SCHEMA), cnr and cns (CNVkit's .cnr and .call.cns) and returns the genes."""
    import shutil

    from cnvlib import __version__ as cnvkit_version

    from oncoweave.variants.copy_number import write_copy_number

    cnvkit = settings_of(settings, min_mapping_quality)
    work = Path(workdir)
    bins = split_targets(targets, work / "bins.bed", cnvkit.bin_size)
    coverage = sample_coverage(tumour_bam, bins, work / "tumour.targetcoverage.cnn", cnvkit)
    if normal_bam:
        normal_coverage = sample_coverage(normal_bam, bins, work / "normal.targetcoverage.cnn",
                                          cnvkit)
        reference_cnn = build_reference([normal_coverage], bins, fasta, work / "reference.cnn")
        against = f"paired normal {normal}"
    elif pooled_reference:
        reference_cnn, against = Path(pooled_reference), "pooled reference of the cohort's normals"
    else:
        raise InputError(f"patient {patient}: neither a normal nor a pooled reference to call "
                         "copy number against")
    if vcf is not None and not Path(vcf).is_file():
        vcf = None
    result = call_tumour(coverage, reference_cnn, work / "cnvkit", purity=purity, vcf=vcf,
                         tumour_id=tumour, normal_id=normal if normal_bam else None,
                         settings=cnvkit)
    known = purity is not None
    genes = gene_copy_number(result.bins, result.segments, patient, tumour, purity_known=known)
    metadata = {"cnvkit_version": cnvkit_version, "reference": against,
                "purity": "" if purity is None else f"{purity:g}",
                "segment_method": cnvkit.segment_method, "bin_size": str(cnvkit.bin_size),
                "b_allele_fractions": "yes" if vcf is not None else "no"}
    write_copy_number(genes, outputs["genes"], metadata)
    write_segments(segment_rows(result.segments, patient, tumour, purity_known=known),
                   outputs["segments"], metadata)
    shutil.copyfile(work / "cnvkit.cnr", outputs["cnr"])
    shutil.copyfile(work / "cnvkit.call.cns", outputs["cns"])
    return genes
