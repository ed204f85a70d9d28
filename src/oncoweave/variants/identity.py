"""Sample-identity QC: checks that the tumour and the normal of a patient come from one person.

A swapped or mislabelled normal makes every somatic/germline call of the patient wrong, so the
workflow checks each pair on the germline sites it genotyped anyway (the joint tumour+normal
candidates VCF): at sites where the normal carries a non-reference allele, the tumour of the same
individual shows the same allele-fraction class; another individual's tumour agrees only by chance
(about half the time at common SNPs).

numpy, pandas and scikit-allel are imported where used: the command line and the variants schema
read PAIR_IDENTITY_VALUES from here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success, write_tsv

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# Allele-fraction classes from read counts (AD). Why classes and not the caller's GT: bcftools
# call genotypes the tumour with a diploid model, so purity, subclones and allelic imbalance flip
# its tumour GT between 0/1 and 1/1 even when the person is the same. An allele fraction in
# [0.1, 0.9] is "both alleles present", which stays true under copy-number imbalance and under LOH
# while normal cells (purity <= ~0.8) still contribute the lost allele; a hom-alt site in the
# normal stays hom-alt in any tumour of that person. An unrelated person's tumour is in a
# different class at roughly half of common germline sites, which is what makes a swap visible.
HOM_REF_MAX_FRACTION = 0.1
HOM_ALT_MIN_FRACTION = 0.9
HOM_REF, HET, HOM_ALT = 0, 1, 2

#: The statuses of the check (a pair that fails is analysed as tumour-only).
PAIR_IDENTITY_VALUES = ("pass", "fail", "no_normal", "insufficient_data")
IDENTITY_COLUMNS = ["patient", "tumour", "normal", "n_sites", "concordance", "status"]


@dataclass(frozen=True)
class IdentityResult:
    tumour: str
    normal: str | None
    n_sites: int
    concordance: float | None  # None when no site could be compared
    status: str  # one of PAIR_IDENTITY_VALUES


def check_pair_identity(vcf_path: str | Path, tumour_sample: str, normal_sample: str | None, *,
                        min_depth: int = 20, min_sites: int = 10,
                        min_concordance: float = 0.9,
                        purity: float | None = None) -> IdentityResult:
    """Allele-fraction-class concordance of tumour and normal at the normal's germline sites.

    A site counts when the normal's genotype is non-reference and both samples have a depth
    (FORMAT/DP, else the sum of AD) >= ``min_depth``; ``concordance`` is the fraction of counted
    sites where both samples fall in the same class (hom-ref / het / hom-alt, from AD). Fewer
    than ``min_sites`` sites gives ``insufficient_data``; no normal gives ``no_normal``.

    With the tumour's ``purity`` (the sample sheet's), the tumour's homozygous classes narrow to
    what LOH cannot reach (:func:`tumour_class_bounds`): at purity 0.9 an LOH of a germline het
    leaves the lost allele at 5 % (the normal cells'), which the fixed [0.1, 0.9] bounds would
    call homozygous, so a high-purity tumour with a large LOH region (a gene-wide deletion or
    copy-neutral LOH) failed its own normal.
    """
    import numpy as np

    if normal_sample is None:
        return IdentityResult(tumour_sample, None, 0, None, "no_normal")
    genotypes, depths, allele_depths = _read_pair(Path(vcf_path), tumour_sample, normal_sample)
    tumour_class = allele_fraction_class(allele_depths[:, 0], *tumour_class_bounds(purity))
    normal_class = allele_fraction_class(allele_depths[:, 1])
    normal_non_ref = genotypes[:, 1].is_called() & ~genotypes[:, 1].is_hom_ref()
    informative = (normal_non_ref & np.all(depths >= min_depth, axis=1)
                   & (tumour_class >= 0) & (normal_class >= 0))
    n_sites = int(informative.sum())
    if n_sites == 0:
        return IdentityResult(tumour_sample, normal_sample, 0, None, "insufficient_data")
    concordance = float(np.mean(tumour_class[informative] == normal_class[informative]))
    if n_sites < min_sites:
        status = "insufficient_data"
    else:
        status = "pass" if concordance >= min_concordance else "fail"
    return IdentityResult(tumour_sample, normal_sample, n_sites, concordance, status)


def tumour_class_bounds(purity: float | None) -> tuple[float, float]:
    """(hom-ref max, hom-alt min) fractions of a tumour: without a purity the fixed 0.1 and 0.9;
    with a purity p, the lost allele's bound halfway between where LOH of a het leaves it
    ((1 - p) / 2, its normal cells') and 0, never above 0.1 (p = 0.9: 0.025 and 0.975)."""
    if purity is None or not 0 < purity <= 1:
        return HOM_REF_MAX_FRACTION, HOM_ALT_MIN_FRACTION
    lost = min(HOM_REF_MAX_FRACTION, (1 - purity) / 4)
    return lost, 1 - lost


def allele_fraction_class(allele_depths: np.ndarray, hom_ref_max: float = HOM_REF_MAX_FRACTION,
                          hom_alt_min: float = HOM_ALT_MIN_FRACTION) -> np.ndarray:
    """Per site: HOM_REF, HET or HOM_ALT from (sites, alleles) read counts; -1 without reads.

    The non-reference fraction sums every ALT allele, so a multi-allelic record still classes
    correctly; missing AD entries (-1) count as zero reads.
    """
    import numpy as np

    counts = np.clip(allele_depths, 0, None).astype(np.int64)
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        non_ref_fraction = 1.0 - counts[:, 0] / total
    classes = np.full(len(counts), HET, dtype=np.int8)
    classes[non_ref_fraction < hom_ref_max] = HOM_REF
    classes[non_ref_fraction > hom_alt_min] = HOM_ALT
    classes[total == 0] = -1
    return classes


def _read_pair(vcf_path: Path, tumour_sample: str, normal_sample: str):
    """GenotypeArray, depth and AD of (tumour, normal), each with the sample axis in that order."""
    import allel
    import numpy as np

    if not vcf_path.exists():
        raise InputError("VCF not found", path=vcf_path)
    headers = _read_with_allel(allel.read_vcf_headers, vcf_path)
    missing = [field for field in ("GT", "AD") if field not in headers.formats]
    if missing:
        raise InputError(f"FORMAT field(s) {', '.join(missing)} missing (the identity check "
                         "needs bcftools mpileup -a AD,DP | bcftools call output)", path=vcf_path)
    samples = list(headers.samples)
    for sample in (tumour_sample, normal_sample):
        if sample not in samples:
            raise InputError(f"sample {sample!r} not in the VCF (samples: {', '.join(samples)})",
                             path=vcf_path)
    has_depth = "DP" in headers.formats
    fields = ["calldata/GT", "calldata/AD"] + (["calldata/DP"] if has_depth else [])
    # int32: allel's default int16 overflows at the depths of targeted panels.
    callset = _read_with_allel(allel.read_vcf, vcf_path, fields=fields,
                               types={"calldata/AD": "i4", "calldata/DP": "i4"})
    if callset is None:  # a header-only VCF: no site to compare
        return (allel.GenotypeArray(np.zeros((0, 2, 2), dtype=np.int8)),
                np.zeros((0, 2), dtype=np.int32), np.zeros((0, 2, 2), dtype=np.int32))
    order = [samples.index(tumour_sample), samples.index(normal_sample)]
    allele_depths = callset["calldata/AD"][:, order]
    # Like the classification: FORMAT/DP, else the sum of the allele depths.
    depths = (callset["calldata/DP"][:, order] if has_depth
              else np.clip(allele_depths, 0, None).sum(axis=2))
    return allel.GenotypeArray(callset["calldata/GT"][:, order]), depths, allele_depths


def _read_with_allel(reader, vcf_path: Path, **options):
    """Call an allel reader; unreadable files become an InputError naming the file."""
    try:
        with warnings.catch_warnings():
            # bcftools' INFO/VDB header carries Version="3", which allel cannot parse; no INFO
            # field is read here.
            warnings.filterwarnings("ignore", message="invalid INFO header", category=UserWarning)
            return reader(str(vcf_path), **options)
    except (OSError, RuntimeError, ValueError) as err:
        raise InputError(f"cannot read VCF ({err})", path=vcf_path) from None


def write_identity_tsv(result: IdentityResult, patient: str, path: str | Path) -> None:
    """One-row TSV (patient, tumour, normal, n_sites, concordance, status); NA where undefined."""
    write_identity_table({patient: result}, path)


def write_identity_table(results: Mapping[str, IdentityResult], path: str | Path) -> None:
    """One TSV row per patient (patient, tumour, normal, n_sites, concordance, status), sorted by
    patient; NA where undefined."""
    import pandas as pd

    rows = [{"patient": patient, "tumour": result.tumour, "normal": result.normal,
             "n_sites": result.n_sites, "concordance": result.concordance,
             "status": result.status} for patient, result in sorted(results.items())]
    table = pd.DataFrame(rows, columns=IDENTITY_COLUMNS)
    write_tsv(table, path, na_rep="NA", float_format="%.4f")


MULTIQC_HEADER = """\
# id: 'oncoweave_identity'
# section_name: 'Tumour/normal identity'
# description: 'Allele-fraction-class concordance of each tumour with its normal at the germline
#   sites of the normal (oncoweave.variants.identity). A failed pair is analysed as tumour-only.'
# plot_type: 'table'
"""


def summarize_identity(tsv_paths, table_path: str | Path, multiqc_path: str | Path) -> pd.DataFrame:
    """Cohort identity table (one row per patient) and the same as MultiQC custom content."""
    import pandas as pd

    table = pd.concat([pd.read_csv(p, sep="\t") for p in tsv_paths], ignore_index=True)
    table = table[IDENTITY_COLUMNS].sort_values("patient", kind="stable")
    write_tsv(table, table_path, na_rep="NA", float_format="%.4f")
    with replaced_on_success(multiqc_path) as temporary, temporary.open("w") as handle:
        handle.write(MULTIQC_HEADER)
        table.to_csv(handle, sep="\t", index=False, na_rep="NA", float_format="%.4f")
    return table
