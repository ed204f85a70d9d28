"""Copy number per patient and gene: the table later stages read, and its published-cohort entries.

The per-gene table (``COPY_NUMBER_SCHEMA``) is the contract: one row per patient and gene with a
discrete ``call`` (amplification, gain, neutral, loss, deep_deletion, loh), the log2 ratio and
absolute copy numbers where the source gives them, and the ``source``. Readers:

- :func:`read_gistic_table`: a cBioPortal/GISTIC discrete table (``data_cna.txt``: rows genes by
  ``Hugo_Symbol`` with an optional ``Entrez_Gene_Id``, columns samples, values -2..2 or NA);
- :func:`read_segments`: a cBioPortal ``.seg`` file (ID, chrom, loc.start, loc.end, num.mark,
  seg.mean = log2 ratio) on GRCh38, turned into gene calls over the bundled canonical transcripts'
  spans by :data:`LOG2_THRESHOLDS`;
- :func:`read_cnv_columns` (in oncoweave.variants.copy_number_tables): a wide table of
  ``<GENE>_cnv`` columns (the TCGA tables of MCAT), the same GISTIC values per patient.

Copy number called from the reads (CNVkit, :mod:`oncoweave.variants.cnvkit_calls`) is the same
table with ``source`` cnvkit, called by :func:`call_from_copy_numbers` when purity gives absolute
copy numbers; :func:`merge_copy_number` joins it with a published table's rows. Every reader checks the
whole input first: a problem is one InputError naming the file, the first bad line and column,
and nothing is written.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import schema_field

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CN_CALLS = ("amplification", "gain", "neutral", "loss", "deep_deletion", "loh")
CN_SOURCES = ("gistic", "segments", "cnvkit")
# The genes of the bundled reference (resources/reference/canonical_transcripts.tsv).
COPY_NUMBER_GENES = ("TP53", "BRCA1", "BRCA2", "EGFR")
# GISTIC 2 discrete values (cBioPortal data_cna.txt) -> call.
GISTIC_CALLS = {-2: "deep_deletion", -1: "loss", 0: "neutral", 1: "gain", 2: "amplification"}
# call -> discrete level, GISTIC's scale; copy-neutral LOH keeps its copy number (0).
CALL_LEVELS = {"deep_deletion": -2, "loss": -1, "neutral": 0, "loh": 0, "gain": 1,
               "amplification": 2}
GISTIC_NA = frozenset({"NA", "", "NaN", "nan"})

COPY_NUMBER_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("sample", pa.string(), "Tumour sample id as the source names it"),
    schema_field("gene", pa.string(), "Gene symbol (HGNC)"),
    schema_field("log2_ratio", pa.float64(), "Tumour/normal log2 copy ratio (segments: the "
                 "overlap-weighted mean of the gene's segments); null for discrete sources", True),
    schema_field("total_copy_number", pa.int64(), "Absolute total copy number; null unless the "
                 "source estimates purity and ploidy", True),
    schema_field("minor_copy_number", pa.int64(), "Copy number of the minor allele (0: LOH); null "
                 "without allele-specific data", True),
    schema_field("call", pa.string(), "One of " + ", ".join(CN_CALLS)),
    schema_field("source", pa.string(), "One of " + ", ".join(CN_SOURCES)),
])


@dataclass(frozen=True)
class Log2Thresholds:
    """log2-ratio cut-offs for calls without purity or ploidy (a diploid tumour/normal ratio).

    With purity p, one copy gained gives log2(1 + p/2), one lost log2(1 - p/2), both lost
    log2(1 - p). ``gain`` 0.2 (2.3 copies) and ``loss`` -0.3 (1.6 copies) sit above the noise
    of a segmented panel or exome yet catch a single-copy change from about 30-40 % purity;
    ``amplification`` 1.0 is 4+ copies at full purity, about 2x (a focal, high-level gain, not
    an arm-level one); ``deep_deletion`` -1.2 is below what a one-copy loss can reach even at
    full purity (-1.0), so it needs a homozygous loss (at 57 % purity or more). Calls are
    ``<=`` / ``>=`` the cut-offs.
    """

    amplification: float = 1.0
    gain: float = 0.2
    loss: float = -0.3
    deep_deletion: float = -1.2

    def call(self, log2_ratio: float) -> str:
        if log2_ratio >= self.amplification:
            return "amplification"
        if log2_ratio >= self.gain:
            return "gain"
        if log2_ratio <= self.deep_deletion:
            return "deep_deletion"
        if log2_ratio <= self.loss:
            return "loss"
        return "neutral"


LOG2_THRESHOLDS = Log2Thresholds()


def call_from_copy_numbers(total: int, minor: int | None = None, ploidy: int = 2) -> str:
    """The call of absolute copy numbers (CNVkit ``call --purity``, ASCAT): 0 copies
    deep_deletion, fewer than ``ploidy`` loss, at least twice ``ploidy`` amplification, more
    than ``ploidy`` gain; at ``ploidy`` copies a minor allele of 0 is copy-neutral LOH."""
    if total < 0 or (minor is not None and not 0 <= minor <= total):
        raise ValueError(f"copy numbers must satisfy 0 <= minor <= total, got {total}, {minor}")
    if total == 0:
        return "deep_deletion"
    if total < ploidy:
        return "loss"
    if total >= 2 * ploidy:
        return "amplification"
    if total > ploidy:
        return "gain"
    return "loh" if minor == 0 else "neutral"


# ---------------------------------------------------------------------------------------------
# Samples -> patients

def patient_of(sample: str, sample_to_patient: Mapping[str, str] | None,
               patients: frozenset[str]) -> str | None:
    """The patient of a sample id: itself without a mapping; with one, the mapped patient, or
    the id itself when it is a patient id; None when it matches no patient."""
    if sample_to_patient is None:
        return sample
    if sample in sample_to_patient:
        return sample_to_patient[sample]
    return sample if sample in patients else None


def read_sample_map(path: str | Path) -> dict[str, str]:
    """sample -> patient from a TSV with ``sample`` and ``patient`` columns (the sample sheet
    qualifies: its normal rows, by a ``type`` column, are left out), or ``Tumor_Sample_Barcode``
    and ``patient``."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the sample map ({err})", path=str(path)) from None
    sample_column = next((name for name in ("sample", "Tumor_Sample_Barcode") if name in header),
                         None)
    if sample_column is None or "patient" not in header:
        raise InputError("line 1: the sample map needs 'patient' and 'sample' (or "
                         "'Tumor_Sample_Barcode') columns", path=str(path))
    mapping: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        if (row.get("type") or "tumour").strip().lower() == "normal":
            continue
        sample, patient = (row[sample_column] or "").strip(), (row["patient"] or "").strip()
        if not sample or not patient:
            raise InputError(f"line {line}: empty {sample_column if not sample else 'patient'}",
                             path=str(path))
        if mapping.get(sample, patient) != patient:
            raise InputError(f"line {line}: sample '{sample}' is mapped to patients "
                             f"'{mapping[sample]}' and '{patient}'", path=str(path))
        mapping[sample] = patient
    return mapping


def _sample_patients(samples: list[str], sample_to_patient: Mapping[str, str] | None,
                     path: Path, where: Callable[[str], str]) -> list[str]:
    """The patient of each sample; an error for one matching no patient or two samples of one
    patient (one tumour per patient, as the MAF entry assumes)."""
    patients = frozenset((sample_to_patient or {}).values())
    found, seen = [], {}
    for sample in samples:
        patient = patient_of(sample, sample_to_patient, patients)
        if patient is None:
            raise InputError(f"{where(sample)}: sample '{sample}' matches no patient (neither a "
                             "sample of the sample map nor a patient id)", path=str(path))
        if patient in seen and seen[patient] != sample:
            raise InputError(f"{where(sample)}: samples '{seen[patient]}' and '{sample}' are both "
                             f"of patient '{patient}': give one tumour sample per patient",
                             path=str(path))
        seen[patient] = sample
        found.append(patient)
    return found


# ---------------------------------------------------------------------------------------------
# cBioPortal / GISTIC discrete table

GENE_COLUMNS = ("Hugo_Symbol", "Entrez_Gene_Id", "Cytoband")


def _read_text_table(path: Path, what: str) -> tuple[pd.DataFrame, np.ndarray]:
    """(a tab-separated table as strings, a blank cell "", the file line of each row); a row
    whose field count differs from the header's is an InputError."""
    import gzip

    import numpy as np
    import pandas as pd

    lines, header_fields = [], None
    try:
        opened = gzip.open(path, "rt") if path.suffix == ".gz" else path.open()
        with opened as handle:
            for number, line in enumerate(handle, start=1):
                text = line.rstrip("\r\n")
                if not text:
                    continue  # pandas skips empty lines too
                fields = text.count("\t") + 1
                if header_fields is None:
                    header_fields = fields
                elif fields != header_fields:
                    raise InputError(f"line {number}: has {fields} tab-separated fields but the "
                                     f"header has {header_fields}", path=str(path))
                else:
                    lines.append(number)
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False,
                            quoting=csv.QUOTE_NONE)
    except (OSError, UnicodeDecodeError, EOFError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read the {what} ({err})", path=str(path)) from None
    return table, np.asarray(lines, dtype=np.int64)


def read_gistic_table(path: str | Path, sample_to_patient: Mapping[str, str] | None = None,
                      genes: tuple[str, ...] | None = COPY_NUMBER_GENES) -> pd.DataFrame:
    """COPY_NUMBER_SCHEMA rows of a cBioPortal/GISTIC discrete table for ``genes`` (None: all).

    The whole table is checked: a value other than -2, -1, 0, 1, 2 or NA (blank), an empty or
    repeated Hugo_Symbol, or a sample matching no patient is an InputError naming line and
    column. NA cells give no row (the gene was not measured in that sample).
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    table, lines = _read_text_table(path, "copy-number table")
    if "Hugo_Symbol" not in table.columns:
        raise InputError("line 1: no Hugo_Symbol column (a cBioPortal/GISTIC table has rows of "
                         "genes: Hugo_Symbol, optionally Entrez_Gene_Id, then one column per "
                         "sample)", path=str(path))
    samples = [name for name in table.columns if name not in GENE_COLUMNS]
    if not samples:
        raise InputError("line 1: no sample columns", path=str(path))
    symbols = table["Hugo_Symbol"].str.strip()
    empty = (symbols == "").to_numpy()
    if empty.any():
        raise InputError(f"line {lines[empty.argmax()]}: Hugo_Symbol is empty", path=str(path))
    repeated = symbols.duplicated().to_numpy()
    if repeated.any():
        first = int(repeated.argmax())
        earlier = int(lines[(symbols == symbols.iat[first]).to_numpy().argmax()])
        raise InputError(f"line {lines[first]}: gene {symbols.iat[first]} is repeated (first on "
                         f"line {earlier}): one row per gene", path=str(path))
    values = table[samples].apply(lambda column: column.str.strip())
    allowed = np.isin(values.to_numpy(), [*map(str, GISTIC_CALLS), *GISTIC_NA])
    if not allowed.all():
        row, column = map(int, np.argwhere(~allowed)[0])
        raise InputError(f"line {lines[row]}, column '{samples[column]}': value "
                         f"'{values.iat[row, column]}' is not a GISTIC call (-2, -1, 0, 1, 2 or "
                         "NA)", path=str(path))
    patients = _sample_patients(samples, sample_to_patient, path,
                                lambda sample: f"line 1, column '{sample}'")
    keep = symbols.isin(genes).to_numpy() if genes is not None else np.ones(len(table), bool)
    long = values[keep].set_axis(symbols[keep], axis=0).rename_axis("gene").reset_index()
    long = long.melt(id_vars="gene", var_name="sample", value_name="value")
    long = long[~long["value"].isin(GISTIC_NA)]
    calls = long["value"].astype(int).map(GISTIC_CALLS)
    return copy_number_rows(long.assign(patient=long["sample"].map(dict(zip(samples, patients))),
                                         call=calls), "gistic")


def copy_number_rows(rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """``rows`` (patient, sample, gene, call; optional log2_ratio, total_copy_number and
    minor_copy_number, null where absent) in COPY_NUMBER_SCHEMA order, sorted by patient and gene."""
    import pandas as pd

    def copies(column):
        if column not in rows:
            return pd.array([pd.NA] * len(rows), dtype="Int64")
        return pd.array(rows[column].tolist(), dtype="Int64")

    table = pd.DataFrame({
        "patient": rows["patient"].astype(str).to_numpy(),
        "sample": rows["sample"].astype(str).to_numpy(),
        "gene": rows["gene"].astype(str).to_numpy(),
        "log2_ratio": (rows["log2_ratio"].astype(float).to_numpy() if "log2_ratio" in rows
                       else float("nan")),
        "total_copy_number": copies("total_copy_number"),
        "minor_copy_number": copies("minor_copy_number"),
        "call": rows["call"].astype(str).to_numpy(), "source": source})
    return table.sort_values(["patient", "gene"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Segments (cBioPortal .seg, GRCh38)

SEGMENT_COLUMNS = ("ID", "chrom", "loc.start", "loc.end", "num.mark", "seg.mean")
_REQUIRED_SEGMENT_COLUMNS = ("ID", "chrom", "loc.start", "loc.end", "seg.mean")
# DNAcopy and some cBioPortal files write X and Y as 23 and 24.
_NUMBERED_SEX_CHROMOSOMES = {"23": "X", "24": "Y"}


def gene_spans(genes: tuple[str, ...] = COPY_NUMBER_GENES) -> dict[str, tuple[str, int, int]]:
    """gene -> (GRCh38 chromosome without 'chr', first, last base) of its canonical transcript in
    the bundled gene models (resources/reference), placed on GRCh38 by regions.tsv."""
    from oncoweave.genome.gene_models import canonical_models
    from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap

    models = canonical_models(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3",
                              BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv")
    contigs = ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv")
    spans = {}
    for gene in genes:
        model = models[gene]
        chrom, start = contigs.to_genomic(model.contig, model.start)
        spans[gene] = (chrom.removeprefix("chr"), start, contigs.to_genomic(model.contig,
                                                                            model.end)[1])
    return spans


def read_segments(path: str | Path, sample_to_patient: Mapping[str, str] | None = None,
                  thresholds: Log2Thresholds = LOG2_THRESHOLDS,
                  spans: Mapping[str, tuple[str, int, int]] | None = None) -> pd.DataFrame:
    """COPY_NUMBER_SCHEMA rows of the genes (``spans``, default :func:`gene_spans`) a segment of a
    GRCh38 ``.seg`` file overlaps, per sample.

    A gene's log2 ratio is the mean of its overlapping segments' seg.mean weighted by the bases
    they share with the gene, called by ``thresholds``; one overlapping segment at or below the
    deep-deletion cut-off makes it a deep deletion whatever the rest (an intragenic homozygous
    deletion removes exons: the gene is lost). A gene no segment overlaps gets no row.
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    segments = _checked_segments(path)
    spans = gene_spans() if spans is None else spans
    samples = list(dict.fromkeys(segments["ID"]))
    first_line = dict(zip(segments["ID"][::-1], segments["line"][::-1]))
    patient_by_sample = dict(zip(samples, _sample_patients(
        samples, sample_to_patient, path,
        lambda sample: f"line {first_line[sample]}, column 'ID'")))
    rows = []
    for gene, (chrom, first, last) in spans.items():
        hits = segments[(segments["chrom"] == chrom) & (segments["start"] <= last)
                        & (segments["end"] >= first)]
        for sample, part in hits.groupby("ID", sort=False):
            shared = np.minimum(part["end"], last) - np.maximum(part["start"], first) + 1
            # Rounded: a mean of equal seg.means stays exactly that value at a cut-off.
            log2 = round(float(np.average(part["seg_mean"], weights=shared)), 6)
            deep = bool((part["seg_mean"] <= thresholds.deep_deletion).any())
            rows.append({"patient": patient_by_sample[sample], "sample": sample, "gene": gene,
                         "log2_ratio": log2,
                         "call": "deep_deletion" if deep else thresholds.call(log2)})
    columns = ["patient", "sample", "gene", "log2_ratio", "call"]
    return copy_number_rows(pd.DataFrame(rows, columns=columns), "segments")


def _checked_segments(path: Path) -> pd.DataFrame:
    """The segments with typed ``start``/``end``/``seg_mean``, ``chrom`` without 'chr' and each
    row's ``line``; an InputError for the first bad row."""
    import numpy as np
    import pandas as pd

    from oncoweave.genome.builds import GRCH38_LENGTHS

    table, lines = _read_text_table(path, "segments file")
    by_lower = {name.lower(): name for name in table.columns}
    missing = [name for name in _REQUIRED_SEGMENT_COLUMNS if name.lower() not in by_lower]
    if missing:
        raise InputError(f"line 1: missing segment column(s) {', '.join(missing)} (a .seg file "
                         f"has {', '.join(SEGMENT_COLUMNS)})", path=str(path))
    table = table.rename(columns={by_lower[name.lower()]: name
                                  for name in SEGMENT_COLUMNS if name.lower() in by_lower})
    if table.empty:
        raise InputError("no segments (only a header)", path=str(path))
    table["line"] = lines
    table["ID"] = table["ID"].str.strip()
    chrom = table["chrom"].str.strip().str.removeprefix("chr").str.removeprefix("Chr")
    table["chrom"] = chrom.replace(_NUMBERED_SEX_CHROMOSOMES)
    start = pd.to_numeric(table["loc.start"].str.strip(), errors="coerce")
    end = pd.to_numeric(table["loc.end"].str.strip(), errors="coerce")
    seg_mean = pd.to_numeric(table["seg.mean"].str.strip(), errors="coerce")
    length = table["chrom"].map(GRCH38_LENGTHS)

    def integral(values):
        return values.notna() & (values % 1 == 0) & (values >= 1)

    problems = [
        (table["ID"] == "", lambda row: "column 'ID': empty sample id"),
        (length.isna(), lambda row: f"column 'chrom': '{row['chrom']}' is not a GRCh38 "
                                    "chromosome (1-22, X, Y, with or without 'chr')"),
        (~integral(start), lambda row: f"column 'loc.start': '{row['loc.start']}' is not a "
                                       "positive integer"),
        (~integral(end), lambda row: f"column 'loc.end': '{row['loc.end']}' is not a positive "
                                     "integer"),
        (end < start, lambda row: f"column 'loc.end': end {row['loc.end']} is before start "
                                  f"{row['loc.start']}"),
        (end > length, lambda row: f"column 'loc.end': {row['loc.end']} is beyond the end of "
                                   f"chromosome {row['chrom']} on GRCh38 (another build?)"),
        (~np.isfinite(seg_mean.fillna(np.inf)), lambda row: f"column 'seg.mean': "
                                                           f"'{row['seg.mean']}' is not a number"),
    ]
    masks = [np.asarray(mask.fillna(False) if hasattr(mask, "fillna") else mask, dtype=bool)
             for mask, _ in problems]
    bad = np.logical_or.reduce(masks)
    if bad.any():
        first = int(bad.argmax())
        describe = next(describe for (_, describe), mask in zip(problems, masks) if mask[first])
        raise InputError(f"line {table['line'].iat[first]}, {describe(table.iloc[first])}",
                         path=str(path))
    return table.assign(start=start.astype("int64"), end=end.astype("int64"), seg_mean=seg_mean)


# ---------------------------------------------------------------------------------------------

def write_copy_number(table: pd.DataFrame, path: str | Path,
                      metadata: Mapping[str, str] | None = None) -> pa.Table:
    """Write a COPY_NUMBER_SCHEMA table (atomically: nothing is left on failure)."""
    from oncoweave.core.tables import write_parquet

    unknown = sorted(set(table["call"]) - set(CN_CALLS)) + sorted(
        set(table["source"]) - set(CN_SOURCES))
    if unknown:
        raise InputError(f"unknown call or source value(s) {', '.join(unknown)}", path=str(path))
    return write_parquet(table, path, COPY_NUMBER_SCHEMA, metadata)


def merge_copy_number(tables: list[pd.DataFrame], published: pd.DataFrame | None = None
                      ) -> pd.DataFrame:
    """The cohort's per-gene copy number: the CNVkit rows of the read patients and, for every
    other patient, the published table's (config ``copy_number``). A patient in both keeps only
    its CNVkit rows: they are measured on this run's reads."""
    import pandas as pd

    columns = COPY_NUMBER_SCHEMA.names
    measured = [table[columns] for table in tables if len(table)]
    cnvkit = pd.concat(measured, ignore_index=True) if measured else pd.DataFrame(columns=columns)
    parts = [cnvkit]
    if published is not None and len(published):
        parts.append(published.loc[~published["patient"].isin(set(cnvkit["patient"])), columns])
    parts = [part for part in parts if len(part)]
    if not parts:
        return cnvkit.astype({"total_copy_number": "Int64", "minor_copy_number": "Int64"})
    merged = pd.concat(parts, ignore_index=True)
    for name in ("total_copy_number", "minor_copy_number"):
        merged[name] = merged[name].astype("Int64")
    return merged.sort_values(["patient", "gene"], kind="stable").reset_index(drop=True)


def read_copy_number_table(path: str | Path,
                           sample_to_patient: Mapping[str, str] | None = None) -> pd.DataFrame:
    """COPY_NUMBER_SCHEMA rows of the config's ``copy_number`` file, whichever form its header
    says: a ``.seg`` file (``loc.start`` column) or a GISTIC/cBioPortal table (``Hugo_Symbol``)."""
    import gzip

    path = Path(path)
    try:
        opened = gzip.open(path, "rt") if path.suffix == ".gz" else path.open()
        with opened as handle:
            header = {name.strip().lower() for name in handle.readline().rstrip("\r\n")
                      .split("\t")}
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise InputError(f"cannot read the copy-number table ({err})", path=str(path)) from None
    if "loc.start" in header:
        return read_segments(path, sample_to_patient)
    if "hugo_symbol" in header:
        return read_gistic_table(path, sample_to_patient)
    raise InputError("line 1: neither a GISTIC/cBioPortal table (a Hugo_Symbol column) nor a "
                     ".seg file (ID, chrom, loc.start, loc.end, num.mark, seg.mean)",
                     path=str(path))
