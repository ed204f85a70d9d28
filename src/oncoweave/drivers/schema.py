"""The schemas of the driver stage's tables, which later stages read without loading any model:
the scored variants table, the score columns of hand-typed changes, and the saturation table."""

from __future__ import annotations

import pyarrow as pa

from oncoweave.core.tables import schema_field
from oncoweave.variants.schema import VARIANTS_SCHEMA

SCORE_FIELDS = [
    schema_field("gene", pa.string(), "Gene scored (TP53, BRCA1, BRCA2, EGFR)", True),
    schema_field("consequence", pa.string(), "Consequence on the canonical transcript", True),
    schema_field("hgvs_p", pa.string(), "One-letter HGVS p. (normalised)", True),
    schema_field("driver_score", pa.float64(), "Calibrated probability of a damaging driver", True),
    schema_field("top_features", pa.string(), "JSON list of the top contributions: feature, value, "
                 "contribution (calibrated log-odds, SHAP), reason", True),
    schema_field("driver_reasons", pa.string(), "The top contributions in words, (+) raising and "
                 "(-) lowering the score", True),
]
DRIVERS_SCHEMA = pa.schema(list(VARIANTS_SCHEMA) + SCORE_FIELDS[3:] + [
    schema_field("cancer_cell_fraction", pa.float64(), "min(1, 2 * t_vaf / purity) for somatic and "
                 "tumour-only variants (heterozygous, diploid assumption); null otherwise", True),
    schema_field("clonality", pa.string(), "clonal (CCF >= 0.8), subclonal, germline, germline_loh "
                 "or unknown (no purity)", True),
])
SATURATION_SCHEMA = pa.schema([
    schema_field("gene", pa.string(), "Gene"),
    schema_field("chrom", pa.string(), "GRCh38 chromosome"),
    schema_field("pos", pa.int64(), "GRCh38 position"),
    schema_field("ref", pa.string(), "Reference base"),
    schema_field("alt", pa.string(), "Alternate base"),
    schema_field("consequence", pa.string(), "Consequence on the canonical transcript"),
    schema_field("hgvs_p", pa.string(), "One-letter HGVS p.", True),
    schema_field("protein_position", pa.int64(), "Residue", True),
    schema_field("driver_score", pa.float64(), "Calibrated driver probability"),
    schema_field("driver_reasons", pa.string(), "Top contributions in words"),
])
