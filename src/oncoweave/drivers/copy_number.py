"""Copy-number driver calls: per patient and gene, whether its copy number drives the tumour, and
why in words, beside the point-mutation driver scores (read from the drivers table, not redone).

Rules (EGFR an oncogene; TP53, BRCA1, BRCA2 tumour suppressors, ``evidence.LOSS_OF_FUNCTION``):

- EGFR amplification is a driver; a gain is not (a low-level, often arm-level 7p gain);
- a tumour suppressor's deep deletion is a biallelic loss: a driver;
- its loss (one copy) or copy-neutral LOH with a damaging second hit, a PASS call of the same
  gene with ``driver_score`` >= the threshold (somatic, tumour-only, or germline: the classic
  germline BRCA carrier whose tumour lost the other allele), is a biallelic loss: a driver;
- a loss or LOH alone is "one copy lost; no second hit found", not a driver; nor is any other
  call.

The ``origin`` of a biallelic loss is germline when its second hit is germline (germline-only
therapy labels then apply), else somatic. :func:`fusion_columns` gives the per-patient
``gen_<GENE>_cn``, ``gen_<GENE>_loh`` and ``gen_<GENE>_biallelic`` columns fusion reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from oncoweave.core.tables import require_columns, schema_field
from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD, DRIVER_GENES
from oncoweave.variants.copy_number import CALL_LEVELS, COPY_NUMBER_SCHEMA

if TYPE_CHECKING:
    import pandas as pd

ONCOGENES = frozenset({"EGFR"})
TUMOUR_SUPPRESSORS = frozenset({"TP53", "BRCA1", "BRCA2"})
ALTERATIONS = ("amplification", "biallelic_loss")
# Call statuses whose PASS calls can be a second hit (the variants table's statuses).
SECOND_HIT_STATUSES = frozenset({"somatic", "tumour_only", "loh", "germline"})
GERMLINE_HIT_STATUSES = frozenset({"germline", "loh"})
DRIVER_COLUMNS = ("patient", "gene", "hgvs_p", "hgvs_c", "status", "filter", "driver_score")
_GISTIC_VALUE = {"deep_deletion": -2, "loss": -1, "neutral": 0, "gain": 1, "amplification": 2}

CN_DRIVERS_SCHEMA = pa.schema([
    *(COPY_NUMBER_SCHEMA.field(name) for name in
      ("patient", "sample", "gene", "log2_ratio", "total_copy_number", "minor_copy_number",
       "call", "source")),
    schema_field("second_hit", pa.string(), "The gene's best-scored PASS point call (p. or c. "
                 "change) when the copy number lost an allele; null otherwise or without one",
                 True),
    schema_field("second_hit_status", pa.string(), "Status of that call", True),
    schema_field("second_hit_score", pa.float64(), "Its driver_score", True),
    schema_field("biallelic", pa.bool_(), "Both alleles of a tumour suppressor lost or damaged"),
    schema_field("driver", pa.bool_(), "A copy-number driver (EGFR amplification or a "
                 "biallelic loss)"),
    schema_field("alteration", pa.string(), "amplification or biallelic_loss for a driver; null "
                 "otherwise", True),
    schema_field("origin", pa.string(), "somatic, or germline for a biallelic loss whose "
                 "second hit is germline"),
    schema_field("reason", pa.string(), "The call and its verdict in words"),
])


def copy_number_drivers(copy_number: pd.DataFrame, drivers: pd.DataFrame, *,
                        min_driver_score: float = DEFAULT_DRIVER_THRESHOLD) -> pd.DataFrame:
    """CN_DRIVERS_SCHEMA rows: one per COPY_NUMBER_SCHEMA row of ``copy_number`` in the driver
    genes, judged with the patient's point calls of ``drivers`` (DRIVERS_SCHEMA rows)."""
    import pandas as pd

    require_columns(copy_number, COPY_NUMBER_SCHEMA.names)
    require_columns(drivers, DRIVER_COLUMNS)
    candidates = drivers[(drivers["filter"] == "PASS")
                         & drivers["status"].isin(SECOND_HIT_STATUSES)
                         & drivers["driver_score"].notna()]
    best_hit = {key: rows.sort_values(["driver_score", "hgvs_p"], ascending=[False, True],
                                      kind="stable").iloc[0].to_dict()
                for key, rows in candidates.groupby(["patient", "gene"], sort=False)}
    rows = [_judged(call, best_hit.get((call["patient"], call["gene"])), min_driver_score)
            for call in copy_number[copy_number["gene"].isin(DRIVER_GENES)].to_dict("records")]
    return pd.DataFrame(rows, columns=CN_DRIVERS_SCHEMA.names)


def _measure(call: dict) -> str:
    """How the source measured the call: 'GISTIC 2', 'log2 1.35'."""
    if call["source"] == "gistic":
        return f"GISTIC {_GISTIC_VALUE[call['call']]}"
    parts = []
    if not _missing(call["log2_ratio"]):
        parts.append(f"log2 {call['log2_ratio']:.2f}")
    if not _missing(call["total_copy_number"]):
        parts.append(f"{int(call['total_copy_number'])} copies")
    if not _missing(call["minor_copy_number"]):
        parts.append(f"minor allele {int(call['minor_copy_number'])}")
    return ", ".join(parts) or call["source"]


def _missing(value) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _hit_label(hit: dict) -> str:
    change = hit["hgvs_p"] if not _missing(hit["hgvs_p"]) else hit["hgvs_c"]
    return f"{hit['gene']} {change} ({hit['status']}, driver_score {hit['driver_score']:.2f})"


def _judged(call: dict, hit: dict | None, min_driver_score: float) -> dict:
    gene, kind, measure = call["gene"], call["call"], _measure(call)
    biallelic, alteration, hit_used = False, None, None
    if gene in ONCOGENES:
        if kind == "amplification":
            alteration, reason = "amplification", f"{gene} amplified ({measure})"
        elif kind == "gain":
            reason = f"{gene} gain ({measure}): low-level, not an amplification; not a driver"
        else:
            reason = f"{gene} {kind.replace('_', ' ')} ({measure}): not a driver of an oncogene"
    elif kind == "deep_deletion":
        biallelic, alteration = True, "biallelic_loss"
        reason = f"{gene} deep deletion ({measure}): both copies lost, biallelic loss"
    elif kind in ("loss", "loh"):
        lost = "one copy lost" if kind == "loss" else "copy-neutral LOH"
        if hit is not None and hit["driver_score"] >= min_driver_score:
            biallelic, alteration, hit_used = True, "biallelic_loss", hit
            reason = (f"{gene} {lost} ({measure}) + {_hit_label(hit)} >= {min_driver_score}: "
                      "biallelic loss")
        else:
            hit_used = hit
            benign = (f" ({_hit_label(hit)} < {min_driver_score}: not damaging)"
                      if hit is not None else "")
            reason = f"{gene} {lost} ({measure}); no second hit found{benign}; not a driver"
    else:
        reason = f"{gene} {kind.replace('_', ' ')} ({measure}): not a driver of a tumour " \
                 "suppressor"
    germline = hit_used is not None and biallelic and hit_used["status"] in GERMLINE_HIT_STATUSES
    return {
        **{name: call[name] for name in COPY_NUMBER_SCHEMA.names},
        "second_hit": None if hit_used is None else (
            hit_used["hgvs_p"] if not _missing(hit_used["hgvs_p"]) else hit_used["hgvs_c"]),
        "second_hit_status": None if hit_used is None else hit_used["status"],
        "second_hit_score": None if hit_used is None else float(hit_used["driver_score"]),
        "biallelic": biallelic, "driver": alteration is not None, "alteration": alteration,
        "origin": "germline" if germline else "somatic", "reason": reason,
    }


def fusion_columns(cn_drivers: pd.DataFrame,
                   genes: tuple[str, ...] = DRIVER_GENES) -> pd.DataFrame:
    """Per patient (the index): ``gen_<GENE>_cn`` (GISTIC scale, -2 deep deletion .. 2
    amplification; LOH 0), ``gen_<GENE>_loh`` (1 when an allele is gone: loss, LOH, deep
    deletion, or a minor copy number of 0), ``gen_<GENE>_biallelic`` (1/0); NaN where the
    patient has no copy number for the gene."""
    import numpy as np
    import pandas as pd

    require_columns(cn_drivers, CN_DRIVERS_SCHEMA.names)
    table = cn_drivers[cn_drivers["gene"].isin(genes)]
    minor_zero = table["minor_copy_number"].astype("Float64").eq(0).fillna(False).astype(bool)
    values = pd.DataFrame({
        "patient": table["patient"], "gene": table["gene"],
        "cn": table["call"].map(CALL_LEVELS).astype(float),
        "loh": (table["call"].isin(["loss", "loh", "deep_deletion"]) | minor_zero).astype(float),
        "biallelic": table["biallelic"].astype(float)})
    wide = values.pivot(index="patient", columns="gene")
    columns = {(kind, gene): f"gen_{gene}_{kind}" for gene in genes
               for kind in ("cn", "loh", "biallelic")}
    wide = wide.reindex(columns=list(columns))
    wide.columns = list(columns.values())
    return wide.astype(np.float64).rename_axis("patient")
