"""Somatic / germline / LOH / tumour-only classification of joint tumour+normal candidates.

The candidates come from ``bcftools mpileup -a AD,ADF,ADR,DP ... | bcftools call -m -A | bcftools
norm -m -any``: every allele seen, most of them sequencing errors. bcftools' diploid genotype model
misses tumour variants at 10-15 % VAF, so the calls are made here from read counts instead,
following VarScan 2's somatic logic (Koboldt et al. 2012): the normal's allele fraction says whether
the allele is inherited; a one-sided Fisher exact test of tumour against normal read counts says
whether the tumour carries it (somatic) or lost the other allele (LOH). Depth is FORMAT/DP (all
high-quality reads at the site, so a second ALT allele does not inflate the VAF), falling back to
the sum of AD; the ALT count is AD[1].

scipy and pysam are imported where used: the variants export takes only allele_fraction from
here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import indexed_vcf_on_success, open_vcf
from oncoweave.variants.statuses import GERMLINE, LOH, SOMATIC, STATUSES, TUMOUR_ONLY

if TYPE_CHECKING:
    import pysam


# FILTER id -> header description; every reason classify_counts can give.
FILTER_DESCRIPTIONS = {
    "low_tumour_depth": "Tumour depth below min_tumour_depth",
    "low_normal_depth": "Normal depth below min_normal_depth",
    "low_alt_reads": "ALT reads (tumour; normal for germline calls) below min_alt_reads",
    "low_vaf": "Tumour VAF below min_vaf",
    "high_normal_vaf": "Normal VAF above max_normal_vaf but below germline_min_vaf",
    "not_significant": "Fisher exact test of tumour vs normal not below somatic_pvalue",
    "strand_bias": "Tumour ALT reads on one strand (Fisher p < strand_bias_pvalue and "
                   "minor-strand ALT fraction < min_strand_fraction)",
}

# INFO id -> (Number, Type, Description) added to the output header.
INFO_FIELDS = {
    "STATUS": ("1", "String", "Classification: somatic, germline, loh or tumour_only"),
    "FISHER_P": ("1", "Float", "Fisher exact p of tumour vs normal read counts (one-sided)"),
    "T_DP": ("1", "Integer", "Tumour depth"),
    "T_ALT": ("1", "Integer", "Tumour ALT reads"),
    "T_VAF": ("1", "Float", "Tumour ALT fraction"),
    "N_DP": ("1", "Integer", "Normal depth"),
    "N_ALT": ("1", "Integer", "Normal ALT reads"),
    "N_VAF": ("1", "Float", "Normal ALT fraction"),
}


@dataclass(frozen=True)
class CallingThresholds:
    """Read-count thresholds of the classification (workflow config ``calling: thresholds:``).

    With the defaults, 13 simulated pairs (dwgsim, 1-2 % sequencing errors all at Q30, ~200x
    tumour / ~100x normal, 42 somatic SNVs/indels at VAF 0.1-0.5 each, bcftools mpileup as in
    the workflow) gave somatic recall 0.995 and precision 1.0; germline and LOH 0.99-1.0.
    """

    #: Tumour reads needed for any PASS call made on tumour reads.
    min_tumour_depth: int = 10
    #: Normal reads needed to call the normal reference (somatic) or carrier (germline, LOH).
    min_normal_depth: int = 8
    #: ALT reads needed in the sample the call rests on (tumour; normal for germline/LOH).
    min_alt_reads: int = 4
    #: Lowest tumour VAF of a PASS somatic / tumour-only call (half the 10 % target).
    min_vaf: float = 0.05
    #: Highest normal VAF of a somatic call (tolerates some tumour-in-normal contamination).
    max_normal_vaf: float = 0.05
    #: Normal VAF from which the allele is inherited (VarScan's min-var-freq).
    germline_min_vaf: float = 0.2
    #: One-sided Fisher p (tumour ALT fraction > normal) below which a call is somatic.
    somatic_pvalue: float = 0.05
    #: Major-allele fraction from which the tumour of a heterozygous normal (both alleles at
    #: >= germline_min_vaf) has lost the other allele: copy-neutral LOH at purity >= 0.4; a
    #: single-copy gain (2:1, 0.67) stays below it.
    loh_min_vaf: float = 0.7
    #: Fisher p (tumour VAF moved away from the normal's) below which a germline het is LOH.
    loh_pvalue: float = 0.01
    #: Two-sided Fisher p of (ref, alt) x (forward, reverse) tumour reads flagging strand bias ...
    strand_bias_pvalue: float = 0.001
    #: ... when also fewer than this fraction of the ALT reads lie on the minor strand.
    min_strand_fraction: float = 0.1
    #: Reporting floor: a site is written only if the tumour has this many ALT reads and
    #: report_min_vaf, or the normal carries the allele as germline (this many ALT reads and
    #: germline_min_vaf). Anything less is sequencing noise, and keeping it bloats the output.
    report_min_alt_reads: int = 2
    report_min_vaf: float = 0.02

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            allowed = int if field.type == "int" else (int, float)
            if isinstance(value, bool) or not isinstance(value, allowed):
                raise InputError(f"calling threshold {field.name} must be {field.type}, "
                                 f"got {value!r}")
            if value < 0 or (field.type == "float" and value > 1):
                raise InputError(f"calling threshold {field.name} out of range: {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, object] | None,
                     source: str = "calling.thresholds") -> "CallingThresholds":
        """Thresholds from a config mapping; an unknown key is an InputError listing valid ones."""
        values = dict(values or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{source}: unknown threshold(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(sorted(known))}")
        return cls(**values)


@dataclass(frozen=True)
class StrandCounts:
    ref_forward: int
    ref_reverse: int
    alt_forward: int
    alt_reverse: int


@dataclass(frozen=True)
class Classification:
    status: str
    filters: tuple[str, ...]  # empty: PASS
    fisher_p: float | None  # None without a normal

    @property
    def passed(self) -> bool:
        return not self.filters

    @property
    def filter_value(self) -> str:
        return ";".join(self.filters) if self.filters else "PASS"


def allele_fraction(depth: int, alt: int) -> float:
    return alt / depth if depth > 0 else 0.0


def fisher_p(t_depth: int, t_alt: int, n_depth: int, n_alt: int, alternative: str) -> float:
    """Fisher exact p of tumour vs normal (ALT, other) counts; 'greater': tumour ALT-richer."""
    from scipy.stats import fisher_exact

    table = [[t_alt, max(t_depth - t_alt, 0)], [n_alt, max(n_depth - n_alt, 0)]]
    return float(fisher_exact(table, alternative=alternative).pvalue)


def has_strand_bias(strands: StrandCounts, thresholds: CallingThresholds) -> bool:
    from scipy.stats import fisher_exact

    alt = strands.alt_forward + strands.alt_reverse
    if alt == 0:
        return False
    minor_fraction = min(strands.alt_forward, strands.alt_reverse) / alt
    table = [[strands.ref_forward, strands.ref_reverse], [strands.alt_forward, strands.alt_reverse]]
    return (minor_fraction < thresholds.min_strand_fraction
            and fisher_exact(table).pvalue < thresholds.strand_bias_pvalue)


def classify_counts(t_depth: int, t_alt: int, n_depth: int | None, n_alt: int | None,
                    thresholds: CallingThresholds, *,
                    strands: StrandCounts | None = None) -> Classification:
    """Status, failed filters and Fisher p of one allele from its read counts.

    ``n_depth``/``n_alt`` None: no normal (or one that may not be used) -> tumour_only.
    ``strands``: the tumour's per-strand counts, for the strand-bias filter.
    """
    tumour_filters = _tumour_filters(t_depth, t_alt, thresholds, strands)
    if n_depth is None or n_alt is None:
        return Classification(TUMOUR_ONLY, tumour_filters, None)
    n_vaf = allele_fraction(n_depth, n_alt)
    if n_vaf >= thresholds.germline_min_vaf:
        return _classify_inherited(t_depth, t_alt, n_depth, n_alt, thresholds)
    filters = list(tumour_filters)
    if n_depth < thresholds.min_normal_depth:
        filters.append("low_normal_depth")
    if n_vaf > thresholds.max_normal_vaf:
        filters.append("high_normal_vaf")
    p = fisher_p(t_depth, t_alt, n_depth, n_alt, "greater")
    if p >= thresholds.somatic_pvalue:
        filters.append("not_significant")
    return Classification(SOMATIC, _in_header_order(filters), p)


def _tumour_filters(t_depth: int, t_alt: int, thresholds: CallingThresholds,
                    strands: StrandCounts | None) -> tuple[str, ...]:
    filters = []
    if t_depth < thresholds.min_tumour_depth:
        filters.append("low_tumour_depth")
    if t_alt < thresholds.min_alt_reads:
        filters.append("low_alt_reads")
    if allele_fraction(t_depth, t_alt) < thresholds.min_vaf:
        filters.append("low_vaf")
    if strands is not None and has_strand_bias(strands, thresholds):
        filters.append("strand_bias")
    return tuple(filters)


def _classify_inherited(t_depth: int, t_alt: int, n_depth: int, n_alt: int,
                        thresholds: CallingThresholds) -> Classification:
    """The normal carries the allele: germline, or LOH if a het normal's tumour lost an allele."""
    t_vaf, n_vaf = allele_fraction(t_depth, t_alt), allele_fraction(n_depth, n_alt)
    filters = []
    if n_depth < thresholds.min_normal_depth:
        filters.append("low_normal_depth")
    if n_alt < thresholds.min_alt_reads:
        filters.append("low_alt_reads")
    # LOH can go either way: the tumour keeps the ALT allele (VAF up) or the REF allele (VAF down).
    p = fisher_p(t_depth, t_alt, n_depth, n_alt, "greater" if t_vaf >= n_vaf else "less")
    normal_het = n_vaf <= 1.0 - thresholds.germline_min_vaf
    tumour_hom = max(t_vaf, 1.0 - t_vaf) >= thresholds.loh_min_vaf
    if normal_het and tumour_hom and p < thresholds.loh_pvalue:
        if t_depth < thresholds.min_tumour_depth:
            filters.append("low_tumour_depth")
        return Classification(LOH, _in_header_order(filters), p)
    return Classification(GERMLINE, _in_header_order(filters), p)


def _in_header_order(filters: list[str]) -> tuple[str, ...]:
    order = list(FILTER_DESCRIPTIONS)
    return tuple(sorted(set(filters), key=order.index))


def above_reporting_floor(t_depth: int, t_alt: int, n_depth: int | None, n_alt: int | None,
                          thresholds: CallingThresholds) -> bool:
    """False for sequencing noise: neither the tumour nor (as germline) the normal has it."""
    floor = thresholds.report_min_alt_reads
    in_tumour = t_alt >= floor and allele_fraction(t_depth, t_alt) >= thresholds.report_min_vaf
    in_normal = (n_depth is not None and n_alt is not None and n_alt >= floor
                 and allele_fraction(n_depth, n_alt) >= thresholds.germline_min_vaf)
    return in_tumour or in_normal


# ---------------------------------------------------------------------------------------------
# VCF in, classified VCF out.

@dataclass(frozen=True)
class _SampleCounts:
    depth: int
    alt: int
    strands: StrandCounts | None


def classify_vcf(input_vcf: str | Path, output_vcf: str | Path, tumour_sample: str,
                 normal_sample: str | None, thresholds: CallingThresholds,
                 pair_ok: bool = True, published: bool = False) -> dict[str, int]:
    """Classify every biallelic record of ``input_vcf``; write bgzipped VCF + .tbi; return counts.

    Records under the reporting floor are dropped. A pair that failed the identity check
    (``pair_ok`` False) is analysed as tumour-only and its normal's counts are not reported.
    ``published``: calls a published caller already made and filtered (a MAF's rows): each is
    kept as PASS with the status its INFO/STATUS gives (somatic without one), whatever its depth.
    The summary has ``records_in``, ``records_out``, ``dropped_noise`` and, per status,
    ``<status>`` and ``<status>_pass``.
    """
    import pysam

    input_vcf, output_vcf = Path(input_vcf), Path(output_vcf)
    use_normal = normal_sample is not None and pair_ok
    summary = dict.fromkeys(["records_in", "records_out", "dropped_noise"]
                            + [key for status in STATUSES for key in (status, f"{status}_pass")], 0)
    with open_vcf(input_vcf) as vcf_in:
        if not published:
            _check_input(vcf_in, input_vcf, tumour_sample, normal_sample)
        header = _output_header(vcf_in.header, thresholds)
        with indexed_vcf_on_success(output_vcf) as temporary:
            with pysam.VariantFile(str(temporary), "wz", header=header) as vcf_out:
                for record in vcf_in:
                    summary["records_in"] += 1
                    if not record.alts:  # a reference-only site: nothing to classify
                        summary["dropped_noise"] += 1
                        continue
                    if published:
                        annotated = _published_record(record, tumour_sample, header)
                    else:
                        annotated = _classify_record(record, input_vcf, tumour_sample,
                                                     normal_sample if use_normal else None,
                                                     thresholds, header)
                    if annotated is None:
                        summary["dropped_noise"] += 1
                        continue
                    vcf_out.write(annotated)
                    status = annotated.info["STATUS"]
                    summary["records_out"] += 1
                    summary[status] += 1
                    summary[f"{status}_pass"] += int("PASS" in annotated.filter)
    return summary


def _check_input(vcf: pysam.VariantFile, path: Path, tumour_sample: str,
                 normal_sample: str | None) -> None:
    samples = list(vcf.header.samples)
    for sample in filter(None, (tumour_sample, normal_sample)):
        if sample not in samples:
            raise InputError(f"sample {sample!r} not in the VCF (samples: {', '.join(samples)})",
                             path=path)
    if "AD" not in vcf.header.formats:
        raise InputError("FORMAT/AD missing (run bcftools mpileup with -a AD)", path=path)


def _output_header(header: pysam.VariantHeader,
                   thresholds: CallingThresholds) -> pysam.VariantHeader:
    header = header.copy()
    # Provenance in the bcftools style (##<tool>Version=), read back by the Parquet export.
    header.add_meta("oncoweave_classifyVersion", __version__)
    header.add_meta("oncoweave_classifyThresholds", ",".join(
        f"{key}={value}" for key, value in dataclasses.asdict(thresholds).items()))
    for key, (number, kind, description) in INFO_FIELDS.items():
        if key not in header.info:
            header.info.add(key, number, kind, description)
    for key, description in FILTER_DESCRIPTIONS.items():
        if key not in header.filters:
            header.filters.add(key, None, None, description)
    return header


def _classify_record(record: pysam.VariantRecord, path: Path, tumour_sample: str,
                     normal_sample: str | None, thresholds: CallingThresholds,
                     header: pysam.VariantHeader) -> pysam.VariantRecord | None:
    if len(record.alts) > 1:
        raise InputError(f"record {record.chrom}:{record.pos} has {len(record.alts)} ALT alleles; "
                         "split them first (bcftools norm -m -any)", path=path)
    tumour = _sample_counts(record, tumour_sample)
    normal = _sample_counts(record, normal_sample) if normal_sample else None
    if not above_reporting_floor(tumour.depth, tumour.alt, normal.depth if normal else None,
                                 normal.alt if normal else None, thresholds):
        return None
    result = classify_counts(tumour.depth, tumour.alt, normal.depth if normal else None,
                             normal.alt if normal else None, thresholds, strands=tumour.strands)
    record.translate(header)
    info = {"STATUS": result.status, "T_DP": tumour.depth, "T_ALT": tumour.alt,
            "T_VAF": round(allele_fraction(tumour.depth, tumour.alt), 4)}
    if result.fisher_p is not None:
        info["FISHER_P"] = float(f"{result.fisher_p:.4g}")
    if normal is not None:
        info.update(N_DP=normal.depth, N_ALT=normal.alt,
                    N_VAF=round(allele_fraction(normal.depth, normal.alt), 4))
    for key in INFO_FIELDS:
        record.info.pop(key, None)  # a re-classified input keeps no stale value
    record.info.update(info)
    record.filter.clear()
    for name in result.filters or ("PASS",):
        record.filter.add(name)
    return record


def _published_record(record: pysam.VariantRecord, tumour_sample: str,
                      header: pysam.VariantHeader) -> pysam.VariantRecord:
    """A published call as it was made: its status, PASS, and its read counts where it has any."""
    status = record.info.get("STATUS", SOMATIC) if "STATUS" in record.header.info else SOMATIC
    tumour = _sample_counts(record, tumour_sample) if "AD" in record.format else None
    record.translate(header)
    for key in INFO_FIELDS:
        record.info.pop(key, None)
    record.info["STATUS"] = status
    if tumour is not None and tumour.depth > 0:
        record.info.update(T_DP=tumour.depth, T_ALT=tumour.alt,
                           T_VAF=round(allele_fraction(tumour.depth, tumour.alt), 4))
    record.filter.clear()
    record.filter.add("PASS")
    return record


def _sample_counts(record: pysam.VariantRecord, sample: str) -> _SampleCounts:
    """Depth (FORMAT/DP, else sum of AD), ALT reads (AD[1]) and strand counts of one sample."""
    call = record.samples[sample]
    ad = [count or 0 for count in (call.get("AD") or (0, 0))]
    alt = ad[1] if len(ad) > 1 else 0
    dp = call.get("DP") if "DP" in record.format else None
    depth = max(dp or 0, sum(ad))
    return _SampleCounts(depth, alt, _strand_counts(record, sample))


def _strand_counts(record: pysam.VariantRecord, sample: str) -> StrandCounts | None:
    if "ADF" not in record.format or "ADR" not in record.format:
        return None
    forward, reverse = record.samples[sample].get("ADF"), record.samples[sample].get("ADR")
    if not forward or not reverse or None in forward[:2] or None in reverse[:2]:
        return None
    return StrandCounts(forward[0], reverse[0], forward[1], reverse[1])
