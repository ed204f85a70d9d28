"""The variants table's schema, which every later stage reads: one row per classified,
consequence-annotated variant of a tumour sample."""

from __future__ import annotations

import pyarrow as pa

from oncoweave.core.tables import schema_field
from oncoweave.variants.identity import PAIR_IDENTITY_VALUES

VARIANTS_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id from the sample sheet"),
    schema_field("sample", pa.string(), "Tumour sample id"),
    schema_field("normal_sample", pa.string(), "Matched normal sample id; null without one", True),
    schema_field("chrom", pa.string(), "GRCh38 chromosome, e.g. chr17"),
    schema_field("pos", pa.int64(),
                 "GRCh38 1-based position (VCF convention, anchor base of indels)"),
    schema_field("ref", pa.string(), "Reference allele (VCF, left-normalised)"),
    schema_field("alt", pa.string(), "Alternate allele (VCF, left-normalised)"),
    schema_field("contig", pa.string(), "Contig of the reference that ran"),
    schema_field("contig_pos", pa.int64(), "1-based position on that contig"),
    schema_field("variant_type", pa.string(), "SNV, MNV, INS or DEL"),
    schema_field("gene", pa.string(), "Gene of the canonical transcript hit; null outside genes",
                 True),
    schema_field("transcript", pa.string(), "Canonical transcript id (no version)", True),
    schema_field("consequence", pa.string(),
                 "bcftools csq term(s) on the canonical transcript ('&'-joined when several); "
                 "'intron' inside it without a csq entry; null outside genes", True),
    schema_field("hgvs_p", pa.string(),
                 "HGVS protein change, one-letter (p.R175H, p.E746_A750del, "
                 "p.L22Yfs*22, p.R196*, p.R175=)", True),
    schema_field("hgvs_c", pa.string(), "HGVS coding DNA change on the canonical transcript", True),
    schema_field("t_depth", pa.int64(), "Tumour depth"),
    schema_field("t_alt", pa.int64(), "Tumour ALT reads"),
    schema_field("t_vaf", pa.float64(), "Tumour ALT fraction"),
    schema_field("n_depth", pa.int64(), "Normal depth; null when no normal was analysed", True),
    schema_field("n_alt", pa.int64(), "Normal ALT reads; null when no normal was analysed", True),
    schema_field("n_vaf", pa.float64(), "Normal ALT fraction; null when no normal was analysed",
                 True),
    schema_field("status", pa.string(), "somatic, germline, loh or tumour_only"),
    schema_field("filter", pa.string(), "PASS or ';'-joined failed filters"),
    schema_field("quality", pa.float64(), "VCF QUAL", True),
    schema_field("fisher_p", pa.float64(), "Fisher exact p of tumour vs normal counts", True),
    schema_field("pair_identity", pa.string(),
                 "Tumour/normal identity check: " + ", ".join(PAIR_IDENTITY_VALUES)),
    schema_field("purity", pa.float64(), "Tumour purity from the sample sheet", True),
])
