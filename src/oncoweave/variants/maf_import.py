"""Import of published-cohort MAFs (TCGA/GDC, AACR GENIE, cBioPortal) onto the GRCh38 reference.

``read_maf`` reads a MAF (``#`` lines such as ``#version 2.4`` may precede the header) into one
validated table, a row per MAF row with its 1-based file ``line``, in one vectorised pass (pyarrow;
checks are column operations: a million rows take seconds). ``split_maf`` parts rows inside the
reference regions (classified and annotated like a VCF patient's calls, via
oncoweave.variants.maf_vcf.maf_to_vcf) from those outside (other genes: they count
toward TMB only, by ``maf_tmb_counts``). A problem is one InputError naming the file, the first bad
line (comment and header lines counted), what is wrong and how many rows are bad.

Genome build: coordinates must be GRCh38. A MAF whose ``NCBI_Build`` says GRCh37 (``37``,
``GRCh37``, ``hg19``) or another build is refused, not lifted over: no chain file is bundled, an
indel lift-over must re-check alleles against the new reference, and wrong coordinates would
silently mis-annotate every call. Lift it over to GRCh38 first (CrossMap or Picard LiftoverVcf with
the UCSC hg19ToHg38 chain) and set NCBI_Build to GRCh38. Without NCBI_Build a MAF is taken as
GRCh38, unless most of its TP53/BRCA1/BRCA2/EGFR rows lie at those genes' GRCh37 positions
(then it is refused the same way); the REF check against the FASTA catches GRCh37 rows that land
inside the regions.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from oncoweave.core.errors import InputError
from oncoweave.genome.builds import grch37_gene_at
from oncoweave.genome.reference import ContigMap
from oncoweave.variants.vcf_checks import MAX_READ_DEPTH

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = ("Hugo_Symbol", "Chromosome", "Start_Position", "Reference_Allele",
                    "Tumor_Seq_Allele2", "Tumor_Sample_Barcode", "Variant_Classification")
OPTIONAL_COLUMNS = ("End_Position", "HGVSp_Short", "t_depth", "t_ref_count", "t_alt_count",
                    "Matched_Norm_Sample_Barcode", "Mutation_Status", "NCBI_Build")
COUNT_COLUMNS = ("t_depth", "t_ref_count", "t_alt_count")
HUMAN_CHROMOSOMES = tuple(str(n) for n in range(1, 23)) + ("X", "Y", "MT")
MT_LENGTH = 16569  # GRCh38 chrM (rCRS)
GRCH38_BUILDS = frozenset({"", "38", "GRCH38", "HG38", "GRCH38.P14", "GRCH38.P13"})
GRCH37_BUILDS = frozenset({"37", "GRCH37", "HG19", "GRCH37-LITE", "B37", "HS37D5"})
LIFTOVER_HINT = ("lift it over to GRCh38 before use (e.g. CrossMap or Picard LiftoverVcf with the "
                 "UCSC hg19ToHg38.over.chain.gz chain) and set NCBI_Build to GRCh38")
# The classes that count toward TMB: the workflow's one rule (oncoweave.therapy.tmb.CODING_TERMS,
# coding SNVs and indels with synonymous ones, as FoundationOne CDx counts) in MAF terms.
MAF_TMB_CLASSES = ("Missense_Mutation", "Silent", "Nonsense_Mutation", "Nonstop_Mutation",
                   "Translation_Start_Site", "Frame_Shift_Del", "Frame_Shift_Ins", "In_Frame_Del",
                   "In_Frame_Ins")
# Contigs up to this length are fetched whole for the REF check; longer ones base by base.
WHOLE_CONTIG_MAX = 20_000_000


def read_maf(path: str | Path, reference_fasta: str | Path | None, contig_map: ContigMap, *,
             patients: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The MAF at ``path`` as a validated table, one row per MAF row.

    Columns: ``line`` (1-based line in the file), the required and present optional MAF columns
    (alleles upper-cased; Start/End_Position and the read counts as integers, missing as NA),
    ``chrom`` (UCSC name: chr17, chrM), ``variant_type`` (SNP/DNP/TNP/ONP/INS/DEL),
    ``contig``/``contig_pos`` (the VCF record's contig and position on the reference, NA outside
    its regions), ``patient`` (by :func:`maf_patients` with ``patients``). With a
    ``reference_fasta`` the rows inside the reference have their Reference_Allele checked.
    """
    import pysam

    path = Path(path)
    table = _read_columns(path)
    _check_build(table, path)
    _check_driver_gene_positions(table, path)  # the root cause before its symptoms (chr 23, REF)
    _check_fields(table, path)
    table = _typed(table)
    if reference_fasta is None:
        _locate(table, contig_map, None)
    else:
        with pysam.FastaFile(str(reference_fasta)) as fasta:
            _locate(table, contig_map, set(fasta.references))
            _check_reference_alleles(table, fasta, path)
    table["patient"] = maf_patients(table, patients, path)
    table.attrs["path"] = str(path)
    return table


def _read_columns(path: Path) -> pd.DataFrame:
    """The used MAF columns as strings (pyarrow's multithreaded reader), with each row's line."""
    import numpy as np
    import pyarrow as pa
    from pyarrow import csv

    comment_lines, header, gzipped = _header(path)
    canonical = {name.lower(): name for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    found = {canonical[name.lower()]: name for name in header if name.lower() in canonical}
    missing = [name for name in REQUIRED_COLUMNS if name not in found]
    if missing:
        raise _line_error(path, comment_lines + 1, f"missing required MAF column(s) "
                          f"{', '.join(missing)} (the header has {len(header)} columns)")
    ragged = []
    try:
        with pa.input_stream(str(path), compression="gzip" if gzipped else None) as stream:
            arrow = csv.read_csv(stream, read_options=csv.ReadOptions(skip_rows=comment_lines),
                                 parse_options=csv.ParseOptions(
                                     delimiter="\t", quote_char=False, ignore_empty_lines=False,
                                     invalid_row_handler=lambda row: ragged.append(row) or "skip"),
                                 convert_options=csv.ConvertOptions(
                                     column_types={name: pa.string() for name in header},
                                     include_columns=list(found.values()),
                                     strings_can_be_null=False))
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(f"cannot read the MAF ({err})", path=str(path)) from None
    if ragged:
        line, fields = _first_ragged_line(path, gzipped, comment_lines, len(header))
        raise _line_error(path, line, f"has {fields} tab-separated fields but the header has "
                          f"{len(header)}")
    table = arrow.to_pandas().rename(columns={given: name for name, given in found.items()})
    table = table[[name for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if name in table]]
    table.insert(0, "line", np.arange(len(table), dtype="int64") + comment_lines + 2)
    blank = (table[list(REQUIRED_COLUMNS)] == "").all(axis=1)
    return table[~blank].reset_index(drop=True)


def _open_text(path: Path, gzipped: bool):
    import gzip
    return gzip.open(path, "rt") if gzipped else path.open()


def _first_ragged_line(path: Path, gzipped: bool, comment_lines: int,
                       n_fields: int) -> tuple[int, int]:
    """(line, field count) of the first non-blank data line without ``n_fields`` fields."""
    with _open_text(path, gzipped) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            fields = text.count("\t") + 1
            if number > comment_lines + 1 and text and fields != n_fields:
                return number, fields
    raise InputError("has rows of the wrong field count", path=str(path))


def _header(path: Path) -> tuple[int, list[str], bool]:
    """(number of leading '#' lines, header column names, whether the file is gzipped)."""
    try:
        with path.open("rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        with _open_text(path, gzipped) as handle:
            for number, line in enumerate(handle):
                if not line.startswith("#"):
                    return number, line.rstrip("\r\n").split("\t"), gzipped
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the MAF ({err})", path=str(path)) from None
    raise InputError("no header line (the file is empty or only comments)", path=str(path))


def _line_error(path: Path | str, line: int, message: str) -> InputError:
    error = InputError(f"line {line}: {message}", path=str(path))
    error.row = line
    return error


def _raise_first(table: pd.DataFrame, path: Path, problems: list[tuple]) -> None:
    """Raise for the earliest line any (mask, describe(row)) problem flags; count the bad rows."""
    import numpy as np

    masks = [np.asarray(mask, dtype=bool) for mask, _ in problems]
    bad = np.logical_or.reduce(masks) if masks else np.zeros(len(table), bool)
    if not bad.any():
        return
    first = int(np.argmax(bad))
    describe = next(describe for (_, describe), mask in zip(problems, masks) if mask[first])
    others = int(bad.sum()) - 1
    more = f" ({others:,} more bad row(s) after it)" if others else ""
    raise _line_error(path, int(table["line"].iat[first]),
                      describe(table.iloc[first]) + more)


def _check_build(table: pd.DataFrame, path: Path) -> None:
    if "NCBI_Build" not in table:
        return
    builds = table["NCBI_Build"].str.strip().str.upper()
    grch37 = builds.isin(GRCH37_BUILDS) | builds.str.startswith("GRCH37")
    _raise_first(table, path, [
        (grch37, lambda row: f"NCBI_Build is '{row['NCBI_Build']}': this MAF is on GRCh37/hg19, "
                             f"but oncoweave works on GRCh38 coordinates; {LIFTOVER_HINT}"),
        (~grch37 & ~builds.isin(GRCH38_BUILDS),
         lambda row: f"NCBI_Build is '{row['NCBI_Build']}', not GRCh38; {LIFTOVER_HINT}"),
    ])


def _check_driver_gene_positions(table: pd.DataFrame, path: Path) -> None:
    """Refuse a MAF whose TP53/BRCA1/BRCA2/EGFR rows lie mostly at their genes' GRCh37 positions:
    a GRCh37 MAF without NCBI_Build (or with a wrong one) would otherwise put them outside the
    GRCh38 regions, and its drivers would count toward TMB without being scored."""
    import numpy as np
    import pandas as pd

    symbols = table["Hugo_Symbol"].str.strip().to_numpy()
    rows = np.flatnonzero(np.isin(symbols, ["TP53", "BRCA1", "BRCA2", "EGFR"]))
    starts = _integers(table["Start_Position"].iloc[rows])  # unchecked yet: bad cells are NA
    at_grch37 = [row for row, start in zip(rows, starts, strict=True) if not pd.isna(start)
                 and grch37_gene_at(table["Chromosome"].iat[row].strip(), int(start))
                 == symbols[row]]
    if not at_grch37 or 2 * len(at_grch37) <= len(rows):
        return
    first = table.iloc[at_grch37[0]]
    start = int(starts.iat[list(rows).index(at_grch37[0])])
    build = (f"its NCBI_Build says '{first['NCBI_Build'].strip()}'"
             if "NCBI_Build" in table and first["NCBI_Build"].strip() else "it has no NCBI_Build")
    raise _line_error(path, int(first["line"]), (
        f"{symbols[at_grch37[0]]} at {first['Chromosome'].strip()}:{start:,} lies in the "
        f"gene's GRCh37/hg19 span, not its GRCh38 one, and so do {len(at_grch37):,} of the MAF's "
        f"{len(rows):,} TP53/BRCA1/BRCA2/EGFR rows: the MAF is on GRCh37/hg19 although {build}; "
        f"{LIFTOVER_HINT}"))


def _chromosome_keys(chromosome: pd.Series) -> pd.Series:
    """'chr17', '17', 'chrM', 'M' -> '17', '17', 'MT', 'MT' (no check)."""
    keys = chromosome.str.strip().str.upper().str.removeprefix("CHR")
    return keys.where(keys != "M", "MT")


def _integers(values: pd.Series):
    """Digit strings (blank: NA) -> nullable int64, by pyarrow; other text must be checked first."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(pa.array(values, type=pa.string()))
    digits = pc.if_else(pc.match_substring_regex(text, r"^\d{1,18}$"), text, None)
    return pd.Series(pd.arrays.ArrowExtensionArray(pc.cast(digits, pa.int64())),
                     index=values.index).astype("Int64")


def _matches(values: pd.Series, pattern: str):
    """Whether each whole value matches the regex ``pattern`` (pyarrow, not per-row Python)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.match_substring_regex(pa.array(values, type=pa.string()), f"^(?:{pattern})$")
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def _check_fields(table: pd.DataFrame, path: Path) -> None:
    from oncoweave.genome.builds import GRCH38_LENGTHS

    keys = _chromosome_keys(table["Chromosome"])
    known = keys.isin(HUMAN_CHROMOSOMES)
    start = _integers(table["Start_Position"])
    integer = start.notna()
    length = keys.map({**GRCH38_LENGTHS, "MT": MT_LENGTH})
    ref, alt = (table[name].str.strip().str.upper()
                for name in ("Reference_Allele", "Tumor_Seq_Allele2"))
    problems = [
        (~known, lambda row: f"Chromosome '{row['Chromosome']}' is not a human chromosome "
                             "(1-22, X, Y, MT, with or without 'chr')"),
        (~integer | (start < 1).fillna(False),
         lambda row: f"Start_Position '{row['Start_Position']}' is not a positive integer"),
        (known & integer & (start > length).fillna(False),
         lambda row: f"Start_Position {row['Start_Position']} is beyond the end of chromosome "
                     f"{row['Chromosome']} on GRCh38 (is the MAF on another build?)"),
    ]
    for name, allele in (("Reference_Allele", ref), ("Tumor_Seq_Allele2", alt)):
        problems.append((~_matches(allele, r"[ACGT]+|-"), _bad_allele(name)))
    problems += [
        ((ref == alt), lambda row: f"Tumor_Seq_Allele2 '{row['Tumor_Seq_Allele2']}' equals "
                                   "Reference_Allele: no variant"),
        (table["Tumor_Sample_Barcode"].str.strip() == "",
         lambda row: "Tumor_Sample_Barcode is empty"),
    ]
    for name in ("End_Position",) + COUNT_COLUMNS:
        if name in table:
            problems.append((~_matches(table[name], r"\s*\d{0,18}\s*"),
                             lambda row, name=name: f"{name} '{row[name]}' is not a "
                                                    "non-negative integer"))
    for name in COUNT_COLUMNS:  # (vcf_checks.MAX_READ_DEPTH: the VCF import's bound)
        if name in table:
            problems.append(((_integers(table[name]) > MAX_READ_DEPTH).fillna(False),
                             lambda row, name=name: f"{name} {row[name].strip()} is above "
                             f"{MAX_READ_DEPTH:,} reads, more than any sequencing gives: the "
                             "value is corrupt"))
    _raise_first(table, path, problems)


def _bad_allele(name: str):
    def describe(row) -> str:
        if not row[name].strip():
            return f"{name} is empty (use '-' for the missing allele of an indel)"
        return (f"{name} '{row[name]}' is not a DNA allele (only A, C, G, T, or '-' alone for "
                "an indel)")
    return describe


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    table = table.copy()
    for name in ("Reference_Allele", "Tumor_Seq_Allele2"):
        table[name] = table[name].str.strip().str.upper()
    table["Start_Position"] = _integers(table["Start_Position"]).astype("int64")
    for name in ("End_Position",) + COUNT_COLUMNS:
        if name in table:
            table[name] = _integers(table[name])
    for name in ("Hugo_Symbol", "Tumor_Sample_Barcode", "Variant_Classification", "HGVSp_Short",
                 "Matched_Norm_Sample_Barcode", "Mutation_Status", "NCBI_Build"):
        if name in table:
            values = table[name].str.strip()
            table[name] = values.where(values != "")
    keys = _chromosome_keys(table["Chromosome"])
    table["chrom"] = "chr" + keys.where(keys != "MT", "M")
    ref_length, alt_length = (table[name].str.len().to_numpy()
                              for name in ("Reference_Allele", "Tumor_Seq_Allele2"))
    insertion, deletion = (table[name].eq("-").to_numpy()
                           for name in ("Reference_Allele", "Tumor_Seq_Allele2"))
    substitution = np.select([ref_length == 1, ref_length == 2, ref_length == 3],
                             ["SNP", "DNP", "TNP"], "ONP")
    table["variant_type"] = np.where(
        insertion | (~deletion & (alt_length > ref_length)), "INS",
        np.where(deletion | (alt_length < ref_length), "DEL", substitution))
    return table


def _vcf_span(table: pd.DataFrame):
    """(first, last) genomic base of each row's VCF record: deletions start at the anchor."""
    start, ref_length = table["Start_Position"].to_numpy(), table["Reference_Allele"].str.len()
    insertion, deletion = (table[name].eq("-").to_numpy()
                           for name in ("Reference_Allele", "Tumor_Seq_Allele2"))
    ref_length = ref_length.to_numpy()
    first = start - deletion
    last = start + (~insertion) * (ref_length - 1)
    return first, last


def _locate(table: pd.DataFrame, contig_map: ContigMap, references: set[str] | None) -> None:
    """Add ``contig``/``contig_pos``: where each row's VCF record lies wholly on the reference."""
    import numpy as np
    import pandas as pd

    first, last = _vcf_span(table)
    contig = np.full(len(table), None, dtype=object)
    contig_pos = np.zeros(len(table), dtype="int64")
    chrom = table["chrom"]
    if contig_map.is_identity:  # a full GRCh38 reference: chr17 or 17, chrM or MT
        for name in pd.unique(chrom):
            candidates = [name, name.removeprefix("chr"), "MT" if name == "chrM" else name]
            match = next((c for c in candidates if references is None or c in references), None)
            mask = (chrom == name).to_numpy() & (first >= 1)
            contig[mask], contig_pos[mask] = match, first[mask]
    else:
        for region in contig_map.regions:
            if references is not None and region.contig not in references:
                continue
            mask = ((chrom == region.chrom).to_numpy() & (first >= region.start)
                    & (last <= region.end))
            contig[mask], contig_pos[mask] = region.contig, first[mask] - region.offset
    table["contig"] = pd.Series(contig, index=table.index, dtype="str")
    table["contig_pos"] = pd.Series(contig_pos, index=table.index).astype("Int64").mask(
        pd.isna(contig))


def reference_bases(fasta, contigs, positions, lengths) -> list[str]:
    """Upper-case reference sequence of ``lengths`` bases from 1-based ``positions``."""
    import numpy as np
    import pandas as pd

    contigs, positions, lengths = (np.asarray(a) for a in (contigs, positions, lengths))
    bases = [""] * len(contigs)
    for contig in pd.unique(contigs):
        rows = np.flatnonzero(contigs == contig)
        if fasta.get_reference_length(contig) <= WHOLE_CONTIG_MAX:
            sequence = fasta.fetch(contig).upper()
            found = [sequence[p - 1:p - 1 + n] for p, n in zip(positions[rows], lengths[rows])]
        else:
            found = [fasta.fetch(contig, p - 1, p - 1 + n).upper()
                     for p, n in zip(positions[rows], lengths[rows])]
        for row, value in zip(rows, found):
            bases[row] = value
    return bases


def _check_reference_alleles(table: pd.DataFrame, fasta, path: Path) -> None:
    import numpy as np

    ref = table["Reference_Allele"].to_numpy()
    rows = np.flatnonzero(table["contig"].notna().to_numpy() & (ref != "-"))
    if not len(rows):
        return
    deletion = (table["Tumor_Seq_Allele2"].to_numpy()[rows] == "-").astype("int64")
    positions = table["contig_pos"].to_numpy()[rows].astype("int64") + deletion
    expected = reference_bases(fasta, table["contig"].to_numpy()[rows], positions,
                               [len(r) for r in ref[rows]])
    differs = np.zeros(len(table), bool)
    for row, given, have in zip(rows, ref[rows], expected):  # N in the reference: unknown
        differs[row] = given != have and (len(given) != len(have) or any(
            a != b and b != "N" for a, b in zip(given, have)))
    found = {row: (have, pos) for row, have, pos in zip(rows, expected, positions)}
    _raise_first(table, path, [(differs, lambda row: (
        f"Reference_Allele '{row['Reference_Allele']}' at {row['chrom']}:{row['Start_Position']} "
        f"but the reference has '{found[row.name][0]}' there ({row['contig']}:"
        f"{found[row.name][1]}); the MAF is likely on another genome build than GRCh38 "
        "(GRCh37/hg19?)"))])


def maf_barcodes(path: str | Path) -> list[str]:
    """The distinct Tumor_Sample_Barcodes of the MAF at ``path``, in file order: one column read
    (pyarrow), cheap enough for planning a run. The full checks are :func:`read_maf`'s."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    path = Path(path)
    comment_lines, header, gzipped = _header(path)
    column = next((name for name in header if name.lower() == "tumor_sample_barcode"), None)
    if column is None:
        raise _line_error(path, comment_lines + 1, "missing required MAF column "
                          "Tumor_Sample_Barcode")
    try:
        with pa.input_stream(str(path), compression="gzip" if gzipped else None) as stream:
            arrow = csv.read_csv(stream, read_options=csv.ReadOptions(skip_rows=comment_lines),
                                 parse_options=csv.ParseOptions(
                                     delimiter="\t", quote_char=False,
                                     invalid_row_handler=lambda row: "skip"),
                                 convert_options=csv.ConvertOptions(
                                     column_types={name: pa.string() for name in header},
                                     include_columns=[column], strings_can_be_null=False))
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(f"cannot read the MAF ({err})", path=str(path)) from None
    return [barcode for barcode in pc.unique(arrow[column]).to_pylist() if barcode]


def published_status(mutation_status: pd.Series) -> pd.Series:
    """The workflow status of published MAF calls by their Mutation_Status: Somatic or empty (a
    MAF of somatic calls) -> somatic, Germline -> germline, LOH -> loh, anything else (Unknown,
    None, ...) -> tumour_only, which TMB and the somatic counts leave out."""
    lowered = mutation_status.fillna("").str.strip().str.lower()
    return lowered.map({"somatic": "somatic", "": "somatic", "germline": "germline",
                        "loh": "loh"}).fillna("tumour_only")


def maf_patients(rows: pd.DataFrame, patients: Mapping[str, str] | None = None,
                 path: str | Path | None = None) -> pd.Series:
    """Patient of each row: its Tumor_Sample_Barcode (one tumour per patient), or
    ``patients[barcode]`` with a barcode -> patient map from the sample sheet, where every
    barcode must be mapped."""
    barcodes = rows["Tumor_Sample_Barcode"]
    if patients is None:
        return barcodes.copy().rename("patient")
    mapped = barcodes.map(dict(patients))
    unmapped = mapped.isna().to_numpy()
    if unmapped.any():
        first = int(unmapped.argmax())
        names = sorted(set(barcodes[unmapped]))
        raise _line_error(path or rows.attrs.get("path", "MAF"), int(rows["line"].iat[first]),
                          f"Tumor_Sample_Barcode '{barcodes.iat[first]}' is in no sample-sheet "
                          f"row ({len(names)} unmapped barcode(s): {', '.join(names[:5])}"
                          f"{' ...' if len(names) > 5 else ''})")
    return mapped.astype(object).rename("patient")


def split_maf(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows inside the reference regions, rows outside) of a :func:`read_maf` table."""
    inside = rows["contig"].notna()
    return rows[inside], rows[~inside]


def maf_tmb_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per patient: TMB-eligible rows by Variant_Classification, and their ``total``.

    The rule is the workflow's (oncoweave.therapy.tmb): a row counts when its
    Variant_Classification is a coding class, synonymous included (MAF_TMB_CLASSES: Missense,
    Silent, Nonsense, Nonstop, Translation_Start_Site, Frame_Shift_Del/Ins, In_Frame_Del/Ins)
    and, when the MAF has Mutation_Status, the status is Somatic or empty (germline/LOH rows do
    not count). Splice_Site, Splice_Region, UTR, intron, IGR and RNA rows never count; rows
    inside and outside the reference count alike (the workflow passes the outside rows, adding
    them to what it counts from its own annotation inside the regions). Every patient of
    ``rows`` has a row, zeros included; divide by the covered megabases for a TMB.
    """
    import pandas as pd

    eligible = rows["Variant_Classification"].isin(MAF_TMB_CLASSES)
    if "Mutation_Status" in rows:
        status = rows["Mutation_Status"].fillna("").str.lower()
        eligible &= status.isin(["somatic", ""])
    counts = (rows.loc[eligible].groupby(["patient", "Variant_Classification"]).size()
              .unstack(fill_value=0))
    counts = counts.reindex(index=pd.unique(rows["patient"]), columns=list(MAF_TMB_CLASSES),
                            fill_value=0).fillna(0).astype("int64")
    counts["total"] = counts.sum(axis=1)
    counts.index.name, counts.columns.name = "patient", None
    return counts
