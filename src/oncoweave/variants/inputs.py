"""Content checks of user BAM/CRAM and VCF files, and the import of a user VCF onto the reference.

Cheap checks (a BAM header) run at parse time; ones that read a whole file (VCF records) run in a
rule. Each failure is one InputError naming the file and what to do about it. FASTQ files are
checked by :mod:`oncoweave.variants.fastq`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pysam

from oncoweave.core.errors import InputError
from oncoweave.core.io import check_not_plain_gzip, indexed_vcf_on_success
from oncoweave.core.paths import recorded_path
from oncoweave.genome.builds import GRCH37_LENGTHS, GRCH38_LENGTHS, grch37_gene_at
from oncoweave.genome.reference import ContigMap
from oncoweave.variants.import_summary import ImportSummary
from oncoweave.variants.vcf_checks import check_depths, check_read_counts, sample_columns


# --- BAM/CRAM --------------------------------------------------------------------------------

# This many first records must be in coordinate order, whatever the @HD SO tag says: a header
# can claim SO:coordinate for a file that is not (a merge or a tool that copies headers).
SORT_CHECK_RECORDS = 1000


def check_bam(path: str | Path, reference_contigs: Mapping[str, int],
              reference_fasta: str | Path | None = None) -> None:
    """Fail unless the BAM/CRAM header holds every reference contig with the reference's length,
    and the file is coordinate-sorted (header SO:coordinate, no SO tag or SO:unknown, and its first
    SORT_CHECK_RECORDS records in order). ``reference_fasta``: to read a CRAM's records (without
    it, a CRAM is judged by its header only)."""
    bam_contigs = _alignment_contigs(path)
    mismatched = [name for name, length in reference_contigs.items()
                  if bam_contigs.get(name) != length]
    if mismatched:
        raise InputError("its header does not match the reference: "
                         + _contig_mismatch(mismatched, bam_contigs, reference_contigs)
                         + _build_hint(bam_contigs, reference_contigs), path=str(path))
    _check_coordinate_sorted(path, reference_fasta)


def _alignment_contigs(path: str | Path) -> dict[str, int]:
    try:
        # CRAM headers are readable without the reference; only its reads need it.
        with pysam.AlignmentFile(str(path), "r", check_sq=False) as alignments:
            if not (alignments.is_bam or alignments.is_cram):
                raise InputError("not a BAM/CRAM file (it is SAM text)", path=str(path))
            return dict(zip(alignments.references, alignments.lengths, strict=True))
    except (ValueError, OSError) as err:
        raise InputError(f"not a BAM/CRAM file ({err})", path=str(path)) from None


def _check_coordinate_sorted(path: str | Path, reference_fasta: str | Path | None) -> None:
    """`samtools index` needs a coordinate-sorted file: say so, with the fix, before it fails."""
    options = {"reference_filename": str(reference_fasta)} if reference_fasta else {}
    with pysam.AlignmentFile(str(path), "r", check_sq=False, **options) as alignments:
        order = alignments.header.to_dict().get("HD", {}).get("SO")
        if order not in (None, "unknown", "coordinate"):
            raise _not_sorted(path, f"SO:{order}")
        if alignments.is_cram and not reference_fasta:
            return
        last = (-1, -1)
        try:
            for number, read in enumerate(alignments.fetch(until_eof=True), start=1):
                if number > SORT_CHECK_RECORDS:
                    return
                # Unmapped reads without a position come last in a sorted file.
                key = (read.reference_id if read.reference_id >= 0
                       else len(alignments.references), read.reference_start)
                if key < last:
                    tag = {None: "no SO tag", "unknown": "SO:unknown"}.get(
                        order, "although its header says SO:coordinate")
                    raise _not_sorted(path, f"{tag}; its record {number:,} is out of "
                                            "coordinate order")
                last = key
        except (ValueError, OSError) as err:
            raise InputError(f"cannot read its records ({err})", path=str(path)) from None


def _not_sorted(path: str | Path, why: str) -> InputError:
    return InputError(f"is not coordinate-sorted ({why}): sort it with "
                      f"`samtools sort -o sorted.bam {path}`", path=str(path))


def _contig_mismatch(mismatched: list[str], file_contigs: Mapping[str, int],
                     reference_contigs: Mapping[str, int]) -> str:
    wrong_length = [name for name in mismatched if name in file_contigs]
    if wrong_length:
        name = wrong_length[0]
        return (f"contig {name} is {file_contigs[name]:,} bp in the file but "
                f"{reference_contigs[name]:,} bp in the reference.")
    shown = ", ".join(list(file_contigs)[:5]) or "no contigs"
    more = f" ... ({len(file_contigs)} contigs)" if len(file_contigs) > 5 else ""
    return (f"reference contig(s) {', '.join(mismatched)} are absent from it "
            f"(it has {shown}{more}).")


def _build_hint(file_contigs: Mapping[str, int], reference_contigs: Mapping[str, int]) -> str:
    """Say why contigs differ: GRCh37 lengths, '17' vs 'chr17', whole chromosomes vs regions."""
    hints = []
    grch37 = [name for name, length in file_contigs.items()
              if GRCH37_LENGTHS.get(_chromosome_key(name)) == length]
    if grch37:
        hints.append(f"It looks like GRCh37/hg19: {grch37[0]} is {file_contigs[grch37[0]]:,} bp, "
                     "the GRCh37 length; the reference is GRCh38, so re-align the reads "
                     "(give fastq1/fastq2 instead) or lift the data over.")
    if _uses_unprefixed_names(file_contigs) and _uses_chr_prefix(reference_contigs):
        example = next(name for name in file_contigs if not name.startswith("chr"))
        hints.append(f"It names chromosomes like '{example}' where the reference uses "
                     f"'chr{example}'.")
    whole = {name for name, length in file_contigs.items()
             if GRCH38_LENGTHS.get(_chromosome_key(name)) == length}
    # Gene-region contigs are named <chromosome>_<gene> (chr17_TP53).
    regions = [name for name in reference_contigs
               if name not in file_contigs and name.split("_")[0] in whole]
    if regions:
        hints.append(f"Its reads are on whole GRCh38 chromosomes ({regions[0].split('_')[0]}), "
                     f"not on the reference's gene-region contigs ({regions[0]}): point "
                     "`reference:` in the config at the full GRCh38 FASTA it was aligned to.")
    return (" " + " ".join(hints)) if hints else ""


def _chromosome_key(name: str) -> str:
    return name.removeprefix("chr")


def _uses_unprefixed_names(contigs: Mapping[str, int]) -> bool:
    return any(_chromosome_key(name) in GRCH38_LENGTHS and not name.startswith("chr")
               for name in contigs)


def _uses_chr_prefix(contigs: Mapping[str, int]) -> bool:
    return any(name.startswith("chr") for name in contigs)


# --- VCF contigs -----------------------------------------------------------------------------

def check_vcf_contigs(path: str | Path, reference_contigs: Mapping[str, int],
                      contig_map: ContigMap) -> dict[str, int]:
    """Check that the VCF's records lie on usable contigs; return records per contig.

    Usable: a reference contig, or a GRCh38 chromosome the contig map covers. With a map (the
    gene-region reference), other UCSC-named chromosomes (chr1 ...) are accepted too: their
    records fall outside the regions and the import drops them.
    """
    check_not_plain_gzip(path)
    records_per_contig = _records_per_contig(path)
    _check_declared_lengths(path, records_per_contig, reference_contigs)
    mapped = contig_map.chromosomes()
    for contig in records_per_contig:
        known = contig in reference_contigs or contig in mapped
        outside_regions = not contig_map.is_identity and contig.startswith("chr")
        if not (known or outside_regions):
            raise InputError(_unknown_contig_message(contig, reference_contigs, mapped),
                             path=str(path))
    return dict(records_per_contig)


def _records_per_contig(path: str | Path) -> Counter:
    """Records per contig in first-seen order: `bcftools query` counted by pandas, or pysam."""
    counted = _records_per_contig_bcftools(path)
    if counted is not None:
        return counted
    try:
        with pysam.VariantFile(str(path)) as variants:
            return Counter(record.chrom for record in variants)
    except (ValueError, OSError) as err:
        raise InputError(f"not a readable VCF/BCF file ({err})", path=str(path)) from None


def _records_per_contig_bcftools(path: str | Path) -> Counter | None:
    """None when bcftools is missing or fails (pysam then reads the file and names the fault)."""
    import shutil
    import subprocess

    if shutil.which("bcftools") is None:
        return None
    completed = subprocess.run(["bcftools", "query", "-f", "%CHROM\n", str(path)],
                               capture_output=True, check=False)
    if completed.returncode != 0:
        return None
    import pandas as pd

    contigs = pd.Series(completed.stdout.decode().splitlines(), dtype=object)
    counts = contigs.value_counts(sort=False)
    return Counter({contig: int(counts[contig]) for contig in pd.unique(contigs)})


def _unknown_contig_message(contig: str, reference_contigs: Mapping[str, int],
                            mapped: set[str]) -> str:
    usable = sorted(set(reference_contigs) | mapped)
    message = f"records on contig '{contig}', which is neither a reference contig nor a " \
              f"GRCh38 chromosome of the contig map (usable: {', '.join(usable)})."
    if f"chr{contig}" in usable:
        message += (f" It names chromosomes like '{contig}' (Ensembl/GRCh37 style) where the "
                    f"reference uses 'chr{contig}': rename them (bcftools annotate "
                    "--rename-chrs) if the file is GRCh38, or lift it over if it is GRCh37.")
    return message


def _check_declared_lengths(path: str | Path, used_contigs: Mapping[str, int],
                            reference_contigs: Mapping[str, int]) -> None:
    """A ##contig length in the header betrays a GRCh37 file or another reference."""
    with pysam.VariantFile(str(path)) as variants:
        declared = {name: contig.length for name, contig in variants.header.contigs.items()
                    if name in used_contigs and contig.length}
    for name, length in declared.items():
        if GRCH37_LENGTHS.get(_chromosome_key(name)) == length != GRCH38_LENGTHS.get(
                _chromosome_key(name)):
            raise InputError(f"its header declares {name} as {length:,} bp, the GRCh37/hg19 "
                             "length; the reference is GRCh38: lift the calls over first",
                             path=str(path))
        if name in reference_contigs and reference_contigs[name] != length:
            raise InputError(f"its header declares {name} as {length:,} bp but the reference "
                             f"has {reference_contigs[name]:,} bp", path=str(path))


# --- VCF import ------------------------------------------------------------------------------

# A patient whose file yields no usable record must never look like a patient without drivers:
# such an import stops, and so does one that drops most records, unless the user said the file
# may be so (inputs.allow_empty_calls). "Most": more than half of the records read and at least
# MOST_DROPPED_MINIMUM of them (a 2-record file that keeps one is not suspicious by itself).
MOST_DROPPED_MINIMUM = 3
ALLOW_EMPTY_SETTING = "inputs.allow_empty_calls"


def import_vcf(input_vcf: str | Path, output_vcf: str | Path, *, reference_fasta: str | Path,
               contig_map: ContigMap, tumour_sample: str, normal_sample: str | None = None,
               tumour_column: str | None = None, normal_column: str | None = None,
               allow_empty: bool = False, require_read_counts: bool = False) -> ImportSummary:
    """Bring a user VCF into reference contig coordinates as a bgzipped, tabix-indexed VCF.

    Input positions may be GRCh38 chromosome (chr17:7675088) or reference contig coordinates.
    The output holds the tumour (then normal) sample, named ``tumour_sample``/``normal_sample``
    and taken from the input columns ``tumour_column``/``normal_column`` (default: same names).
    Records outside the reference regions or without an ALT allele are dropped and counted; a
    REF allele that differs from the reference FASTA stops the import (another genome build).
    A file that keeps no record, or drops most (see MOST_DROPPED_MINIMUM), stops it too unless
    ``allow_empty``; the summary's ``note`` then says why, and nothing is written on an error.
    A one-sample VCF without a normal whose column is not named ``tumour_sample`` (and no
    ``tumour_column`` given) is read as the tumour, with a warning and the column in the
    summary's ``tumour_column``. ``require_read_counts``: refuse a VCF without FORMAT/AD (the
    workflow classifies the calls from it). A read depth above vcf_checks.MAX_READ_DEPTH in a
    kept record stops the import (a corrupt value).
    """
    names = [name for name in (tumour_sample, normal_sample) if name]
    wanted_columns = [tumour_column or tumour_sample, normal_column or normal_sample]
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        reference_contigs = dict(zip(fasta.references, fasta.lengths, strict=True))
        check_vcf_contigs(input_vcf, reference_contigs, contig_map)
        with pysam.VariantFile(str(input_vcf)) as source:
            columns, substituted = sample_columns(source.header, input_vcf,
                                                  wanted_columns[:len(names)], names,
                                                  explicit=bool(tumour_column or normal_column))
            if require_read_counts:
                check_read_counts(source.header, input_vcf)
            header = imported_vcf_header(source.header, reference_contigs, names, reference_fasta)
            with indexed_vcf_on_success(output_vcf) as temporary, \
                    pysam.VariantFile(str(temporary), "wz", header=header) as sink:
                summary, outside = _copy_records(source, sink, fasta, contig_map, columns, names,
                                                 input_vcf)
                # Inside the output's context: an unusable file leaves no output behind.
                summary = _checked_usable(summary, outside, input_vcf, allow_empty)
    return replace(summary, tumour_column=substituted)


def _checked_usable(summary: ImportSummary, outside: _OutsidePositions, path: str | Path,
                    allow_empty: bool) -> ImportSummary:
    """``summary``, with a note when the file is empty or mostly dropped and that is allowed."""
    name = Path(path).name
    if summary.records_read == 0:
        problem = "it holds no variant record (header only)"
        headline = f"no usable variant records in {name}: the file holds none (header only)"
    elif summary.records_written == 0:
        problem = f"none of its records is usable: {summary.counts()}"
        headline = f"no usable variant records in {name}: {summary.counts()}"
    elif summary.dropped > summary.records_read / 2 and summary.dropped >= MOST_DROPPED_MINIMUM:
        problem = f"most of its records are unusable: {summary.counts()}"
        headline = f"most variant records in {name} are unusable: {summary.counts()}"
    else:
        return summary
    cause = _likely_cause(summary, outside)
    if allow_empty:
        return replace(summary, note=f"{headline}{cause} Imported as given: the patient is "
                                     f"listed under {ALLOW_EMPTY_SETTING}.")
    raise InputError(f"{problem}{cause} If that is expected for this file, list the patient "
                     f"under {ALLOW_EMPTY_SETTING} in the config.", path=str(path))


def _likely_cause(summary: ImportSummary, outside: _OutsidePositions) -> str:
    # A GRCh38 exome has a few records where a driver gene lies on GRCh37 (its neighbours there)
    # but more inside the regions; an hg19 file has its driver-gene records there instead.
    grch37_records = sum(outside.grch37_genes.values())
    if grch37_records > summary.records_written:
        genes = ", ".join(sorted(outside.grch37_genes))
        chrom, pos = outside.grch37_example
        return (f". {grch37_records:,} of the dropped positions fall in "
                f"{genes} at their GRCh37/hg19 coordinates (e.g. {chrom}:{pos:,}), not their "
                "GRCh38 ones: the file is likely on GRCh37/hg19 while the reference is GRCh38; "
                "lift it over first (CrossMap or bcftools +liftover, hg19ToHg38 chain).")
    if summary.outside_regions:
        return (". Records outside the regions: another genome build, or calls over other "
                "regions than the reference's (a whole-exome/genome VCF on the gene-region "
                "reference).")
    if summary.without_alt:
        return ". Records without an ALT allele are reference-only (a gVCF's blocks?)."
    return "."


def imported_vcf_header(source: pysam.VariantHeader, reference_contigs: Mapping[str, int],
                        samples: list[str], reference_fasta: str | Path) -> pysam.VariantHeader:
    """The header of an imported VCF: ``source``'s lines except its contigs and reference, every
    reference contig with its length, ##reference, and ``samples``."""
    header = pysam.VariantHeader()
    for record in source.records:
        if record.key not in ("fileformat", "contig", "reference"):
            header.add_line(str(record).rstrip("\n"))
    for name, length in reference_contigs.items():
        header.contigs.add(name, length=length)
    header.add_line(f"##reference={recorded_path(reference_fasta)}")  # no run-specific path
    for name in samples:
        header.add_sample(name)
    return header


class _OutsidePositions:
    """Counts the records outside the regions that lie in a driver gene's GRCh37 span only."""

    def __init__(self) -> None:
        self.grch37_genes: Counter = Counter()
        self.grch37_example: tuple[str, int] | None = None

    def see(self, record: pysam.VariantRecord) -> None:
        gene = grch37_gene_at(record.chrom, record.pos)
        if gene:
            self.grch37_genes[gene] += 1
            self.grch37_example = self.grch37_example or (record.chrom, record.pos)


def _copy_records(source: pysam.VariantFile, sink: pysam.VariantFile, fasta: pysam.FastaFile,
                  contig_map: ContigMap, columns: list[str], names: list[str],
                  path: str | Path) -> tuple[ImportSummary, _OutsidePositions]:
    read = written = outside = without_alt = 0
    order = _SortOrderCheck(path)
    outside_positions = _OutsidePositions()
    for record in source:
        read += 1
        location = _reference_location(record, fasta, contig_map)
        if location is None:
            outside += 1
            outside_positions.see(record)
            continue
        if not record.alts:
            without_alt += 1
            continue
        contig, pos = location
        _check_ref_allele(record, fasta, contig, pos, path)
        check_depths(record, columns, path)
        order.see(contig, pos, record)
        sink.write(_converted_record(record, sink, contig, pos, columns, names))
        written += 1
    return ImportSummary(read, written, outside, without_alt), outside_positions


def _reference_location(record: pysam.VariantRecord, fasta: pysam.FastaFile,
                        contig_map: ContigMap) -> tuple[str, int] | None:
    """(contig, pos) of the record on the reference, or None when it is not wholly inside."""
    if record.chrom in fasta.references:
        return record.chrom, record.pos
    start = contig_map.to_contig(record.chrom, record.pos)
    end = contig_map.to_contig(record.chrom, record.stop)
    if start is None or end is None or start[0] != end[0]:
        return None
    return start


def _check_ref_allele(record: pysam.VariantRecord, fasta: pysam.FastaFile, contig: str,
                      pos: int, path: str | Path) -> None:
    expected = fasta.fetch(contig, pos - 1, pos - 1 + len(record.ref)).upper()
    given = record.ref.upper()
    # N on either side is unknown sequence, not a disagreement.
    if len(expected) != len(given) or any(a != b and "N" not in (a, b)
                                          for a, b in zip(given, expected, strict=True)):
        alts = ",".join(record.alts or ["."])
        raise InputError(f"record {record.chrom}:{record.pos} {record.ref}>{alts}: REF is "
                         f"'{record.ref}' but the reference has '{expected}' at {contig}:{pos}; "
                         "the VCF is likely on another genome build (GRCh37/hg19?) than the "
                         "GRCh38 reference", path=str(path))


class _SortOrderCheck:
    """Tabix needs each contig's records together and by position; say so before it fails."""

    def __init__(self, path: str | Path):
        self.path = path
        self.finished: set[str] = set()
        self.last: tuple[str, int] | None = None

    def see(self, contig: str, pos: int, record: pysam.VariantRecord) -> None:
        if self.last is not None and self.last[0] != contig:
            self.finished.add(self.last[0])
        if contig in self.finished or (self.last and self.last[0] == contig
                                       and pos < self.last[1]):
            raise InputError(f"records are not sorted by position (at {record.chrom}:"
                             f"{record.pos}); sort it first (bcftools sort)", path=str(self.path))
        self.last = (contig, pos)


def _converted_record(record: pysam.VariantRecord, sink: pysam.VariantFile, contig: str,
                      pos: int, columns: list[str], names: list[str]) -> pysam.VariantRecord:
    shift = record.pos - pos
    info = {key: value for key, value in record.info.items() if key != "END"}
    converted = sink.new_record(contig=contig, start=pos - 1, stop=record.stop - shift,
                                alleles=record.alleles, id=record.id, qual=record.qual,
                                filter=list(record.filter), info=info)
    for column, name in zip(columns, names, strict=True):
        source_sample, target_sample = record.samples[column], converted.samples[name]
        for key, value in source_sample.items():
            if key == "GT" or not _is_missing(value):
                target_sample[key] = value
        target_sample.phased = source_sample.phased
    return converted


def _is_missing(value) -> bool:
    values = value if isinstance(value, tuple) else (value,)
    return all(item is None for item in values)
