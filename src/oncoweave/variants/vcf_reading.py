"""Columnar reading of the records export needs from an annotated VCF/BCF.

One ``bcftools query`` call gives the exact text fields (CHROM, POS, REF, ALT, FILTER, STATUS,
the integer counts, BCSQ), parsed by pyarrow. Floats are not taken from it: bcftools prints them
with six significant digits, which loses float32 bits (FISHER_P), so QUAL and FISHER_P come from
a pysam pass over the same file (samples dropped, so htslib skips FORMAT) that runs while
bcftools does; bcftools' output is parsed in a thread while that pass finishes. cyvcf2 was
measured for the pass and for the whole read and is slower than both (see ``_read_floats``).
Without bcftools on PATH the whole table comes from pysam (``reader="pysam"``, also the
reference the fast path is tested against).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.io import open_vcf
from oncoweave.genome.reference import ContigMap

TEXT_COLUMNS = ["contig", "pos", "ref", "alt", "filter", "status", "t_dp", "t_alt", "n_dp",
                "n_alt", "bcsq"]
INTEGER_COLUMNS = ["pos", "t_dp", "t_alt", "n_dp", "n_alt"]
RECORD_COLUMNS = TEXT_COLUMNS + ["quality", "fisher_p"]
_QUERY = {"contig": "%CHROM", "pos": "%POS", "ref": "%REF", "alt": "%ALT", "filter": "%FILTER",
          "status": "%INFO/STATUS", "t_dp": "%INFO/T_DP", "t_alt": "%INFO/T_ALT",
          "n_dp": "%INFO/N_DP", "n_alt": "%INFO/N_ALT", "bcsq": "%INFO/BCSQ"}


def read_records(path: Path, tumour_sample: str, *, reader: str = "auto") -> pd.DataFrame:
    """RECORD_COLUMNS, one row per record in file order; missing values are null.

    ``reader``: "auto" (bcftools when on PATH), "bcftools" or "pysam". A record without exactly
    one ALT allele is an InputError naming it.
    """
    info_keys = _check_header(path, tumour_sample)
    if reader == "auto":
        reader = "bcftools" if shutil.which("bcftools") else "pysam"
    if reader == "bcftools":
        records = _read_with_bcftools(path, info_keys)
    elif reader == "pysam":
        records = _read_with_pysam(path)
    else:
        raise ValueError(f"unknown reader {reader!r}")
    _check_single_alt(records, path)
    return records


def _check_header(path: Path, tumour_sample: str) -> set[str]:
    with open_vcf(path) as vcf:
        if tumour_sample not in vcf.header.samples:
            raise InputError(f"sample {tumour_sample!r} not in the VCF (samples: "
                             f"{', '.join(vcf.header.samples)})", path=path)
        for key in ("STATUS", "BCSQ"):
            if key not in vcf.header.info:
                raise InputError(f"INFO/{key} missing: export needs the output of "
                                 "classify-variants annotated by bcftools csq", path=path)
        return set(vcf.header.info)


def _read_with_bcftools(path: Path, info_keys: set[str]) -> pd.DataFrame:
    from concurrent.futures import ThreadPoolExecutor

    # bcftools refuses a tag the header lacks; such a column is all null, as pysam reads it.
    queried = [name for name, field in _QUERY.items()
               if not field.startswith("%INFO/") or field[6:] in info_keys]
    query = "\t".join(_QUERY[name] for name in queried) + "\n"
    with tempfile.TemporaryDirectory(prefix="oncoweave-query-") as folder:
        output = Path(folder) / "records.tsv"
        with output.open("wb") as handle:
            process = subprocess.Popen(["bcftools", "query", "-f", query, str(path)],
                                       stdout=handle, stderr=subprocess.PIPE)
        # bcftools finishes before the float pass: its output is parsed (by pyarrow, without
        # the GIL) in a thread while the pass goes on.
        with ThreadPoolExecutor(max_workers=1) as pool:
            parsed = pool.submit(_parse_query, process, output, queried, path)
            floats = _read_floats(path)
            table = parsed.result()
    records = pd.DataFrame({name: _column(table, name) for name in TEXT_COLUMNS})
    records["filter"] = records["filter"].where(records["filter"].notna(), "PASS")
    records["pos"] = records["pos"].astype("int64")
    records["quality"], records["fisher_p"] = floats
    return records


def _parse_query(process: subprocess.Popen, output: Path, queried: list[str], path: Path):
    """The finished ``bcftools query`` output as a pyarrow table of the queried columns."""
    import pyarrow as pa
    from pyarrow import csv

    _, stderr = process.communicate()
    if process.returncode != 0:
        raise InputError(f"bcftools query failed: {stderr.decode().strip()}", path=path)
    if output.stat().st_size == 0:
        return pa.table({name: pa.array([], pa.string()) for name in queried})
    return csv.read_csv(
        output, read_options=csv.ReadOptions(column_names=queried, use_threads=False),
        parse_options=csv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False),
        convert_options=csv.ConvertOptions(
            column_types={name: pa.int64() if name in INTEGER_COLUMNS else pa.string()
                          for name in queried},
            null_values=["."], strings_can_be_null=True, quoted_strings_can_be_null=False))


def _column(table, name: str):
    """One queried column as export holds it: Int64 for counts (parsed by pyarrow, not pandas),
    object strings with None for the rest; a tag the header lacks is all null."""
    import pyarrow as pa

    if name not in table.column_names:
        column = np.full(table.num_rows, None)
        return pd.array(column, dtype="Int64") if name in INTEGER_COLUMNS else pd.Series(
            column, dtype=object)
    column = table.column(name)
    if name in INTEGER_COLUMNS:
        return column.cast(pa.int64()).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    values = column.to_numpy(zero_copy_only=False)  # object array, None for nulls
    return pd.Series(values, dtype=object, copy=False)  # object, not the inferred string dtype


def _read_floats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """QUAL and INFO/FISHER_P as pysam gives them (float32 widened; missing: None).

    The samples are dropped before reading (htslib then skips the FORMAT columns): QUAL and
    INFO do not depend on them; the key is bytes, which pysam need not encode per record.
    cyvcf2 gives the same values but costs more (1M records: 2.15 CPU s against 1.4 s), so
    the pass stays with pysam.
    """
    quality, fisher = [], []
    with open_vcf(path) as vcf:
        vcf.subset_samples([])
        if "FISHER_P" in vcf.header.info:
            for record in vcf:
                quality.append(record.qual)
                fisher.append(record.info.get(b"FISHER_P"))
        else:  # pysam refuses a tag the header lacks: the column is all null
            quality = [record.qual for record in vcf]
            fisher = [None] * len(quality)
    return np.array(quality, dtype=object), np.array(fisher, dtype=object)


def _read_with_pysam(path: Path) -> pd.DataFrame:
    """The per-record reference reader: every field through pysam."""
    rows = []
    with open_vcf(path) as vcf:
        # pysam refuses a tag the header lacks (ValueError): such a column is all null.
        declared = set(vcf.header.info)
        counts = [key if key in declared else None for key in ("T_DP", "T_ALT", "N_DP", "N_ALT")]
        fisher_key = "FISHER_P" if "FISHER_P" in declared else None
        for record in vcf:
            info = record.info
            alts = record.alts or ()
            rows.append((record.chrom, record.pos, record.ref, ",".join(alts) or None,
                         ";".join(record.filter.keys()) or "PASS", info.get("STATUS"),
                         *(info.get(key) if key else None for key in counts),
                         ",".join(info.get("BCSQ", ())) or None, record.qual,
                         info.get(fisher_key) if fisher_key else None))
    records = pd.DataFrame(rows or None, columns=RECORD_COLUMNS, dtype=object)
    for name in INTEGER_COLUMNS:
        records[name] = pd.array(records[name].tolist(), dtype="Int64")
    records["pos"] = records["pos"].astype("int64")
    return records


def _check_single_alt(records: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    alts = pa.array(records["alt"].to_numpy(), pa.string())
    bad = pc.fill_null(pc.match_substring(alts, ","), True).to_numpy(zero_copy_only=False)
    if bad.any():
        first = records.iloc[int(np.argmax(bad))]
        raise InputError(f"record {first['contig']}:{first['pos']} must have exactly one ALT "
                         "allele", path=path)


def genomic_positions(contigs: np.ndarray, positions: np.ndarray, contig_map: ContigMap,
                      path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(GRCh38 chromosome, position) columns, one contig-map look-up per contig."""
    chrom = np.empty(len(contigs), dtype=object)
    genomic = np.empty(len(contigs), dtype=np.int64)
    unknown = np.zeros(len(contigs), dtype=bool)
    messages = {}
    for contig in pd.unique(contigs):
        rows = contigs == contig
        try:
            name, offset = contig_map.to_genomic(contig, 0)
        except KeyError as err:
            unknown |= rows
            messages[contig] = err.args[0]
            continue
        chrom[rows], genomic[rows] = name, positions[rows] + offset
    if unknown.any():
        first = int(np.argmax(unknown))
        raise InputError(f"record {contigs[first]}:{positions[first]}: "
                         f"{messages[contigs[first]]}", path=path)
    return chrom, genomic


def variant_types(refs: np.ndarray, alts: np.ndarray) -> np.ndarray:
    """SNV, MNV, INS or DEL from the allele lengths (export.variant_type, vectorised)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Characters, as len() counts them; a null allele gives NaN, as pandas' str.len() did.
    ref_length, alt_length = (pc.utf8_length(pa.array(values, pa.string())).to_numpy(
        zero_copy_only=False) for values in (refs, alts))
    same = np.where(ref_length == 1, "SNV", "MNV")
    return np.where(ref_length == alt_length, same,
                    np.where(alt_length > ref_length, "INS", "DEL")).astype(object)
