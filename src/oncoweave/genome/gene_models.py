"""Gene models read from an Ensembl-style GFF3: transcripts with their exons and CDS, the
canonical transcript of each gene, and the targets BED around the coding sequence.

Transcript IDs are compared without their version suffix (``ENST00000269305.9`` ->
``ENST00000269305``), because the GFF3, the canonical-transcript table and ``bcftools csq`` disagree
on whether to print it. CDS features are expected to include the stop codon (the Ensembl GFF3
convention).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.genome.transcripts import Transcript, strip_version

_SEGMENT_TYPES = ("exon", "CDS")


def _parse_attributes(column: str) -> dict[str, str]:
    attributes = {}
    for item in column.strip().strip(";").split(";"):
        key, _, value = item.partition("=")
        attributes[key.strip()] = unquote(value)
    return attributes


def _read_gff3_rows(gff3_path: Path):
    """Yield (line number, fields, attributes) of the feature lines of a GFF3."""
    try:
        handle = gff3_path.open()
    except OSError as err:
        raise InputError(f"cannot read GFF3 ({err.strerror})", path=gff3_path) from None
    with handle:
        for line_number, line in enumerate(handle, start=1):
            if line.startswith("##FASTA"):
                return
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 9:
                raise InputError(f"expected 9 tab-separated columns, found {len(fields)}",
                                 path=gff3_path, row=line_number)
            for column in (3, 4):
                if not fields[column].isdigit():
                    raise InputError(f"start/end must be integers, found {fields[column]!r}",
                                     path=gff3_path, row=line_number,
                                     column="start" if column == 3 else "end")
            yield line_number, fields, _parse_attributes(fields[8])


def load_transcripts(gff3_path: str | Path,
                     transcript_ids: set[str] | None = None) -> dict[str, Transcript]:
    """Transcripts (by version-less ID) with their exons and CDS from an Ensembl-style GFF3.

    A transcript is any feature whose ID is ``transcript:<id>`` (mRNA, transcript, processed_
    transcript ...); its gene is the Name of its Parent gene feature. `transcript_ids` (with or
    without versions) limits the result to those transcripts.
    """
    gff3_path = Path(gff3_path)
    wanted = {strip_version(t) for t in transcript_ids} if transcript_ids is not None else None
    gene_names: dict[str, str] = {}
    headers: dict[str, tuple[str, str, str, int]] = {}  # id -> contig, strand, gene id, line
    segments: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(
        lambda: {kind: [] for kind in _SEGMENT_TYPES})
    for line_number, fields, attributes in _read_gff3_rows(gff3_path):
        feature_id = attributes.get("ID", "")
        if feature_id.startswith("gene:"):
            gene_names[feature_id] = attributes.get("Name", feature_id.removeprefix("gene:"))
        elif feature_id.startswith("transcript:"):
            transcript_id = strip_version(feature_id.removeprefix("transcript:"))
            headers[transcript_id] = (fields[0], fields[6], attributes.get("Parent", ""),
                                      line_number)
        elif fields[2] in _SEGMENT_TYPES:
            for parent in attributes.get("Parent", "").split(","):
                if parent.startswith("transcript:"):
                    transcript_id = strip_version(parent.removeprefix("transcript:"))
                    segments[transcript_id][fields[2]].append((int(fields[3]), int(fields[4])))
    transcripts = {}
    for transcript_id, (contig, strand, gene_id, line_number) in headers.items():
        if wanted is not None and transcript_id not in wanted:
            continue
        if strand not in ("+", "-"):
            raise InputError(f"transcript {transcript_id} has strand {strand!r}, expected + or -",
                             path=gff3_path, row=line_number, column="strand")
        parts = segments[transcript_id]
        if not parts["exon"]:
            raise InputError(f"transcript {transcript_id} has no exon features",
                             path=gff3_path, row=line_number)
        transcripts[transcript_id] = Transcript(
            transcript_id=transcript_id,
            gene=gene_names.get(gene_id, gene_id.removeprefix("gene:")),
            contig=contig, strand=strand, exons=tuple(sorted(parts["exon"])),
            cds=tuple(sorted(parts["CDS"])))
    if wanted is not None and wanted - transcripts.keys():
        raise InputError(f"transcripts not found: {', '.join(sorted(wanted - transcripts.keys()))}",
                         path=gff3_path)
    return transcripts


def canonical_transcripts(tsv_path: str | Path) -> dict[str, str]:
    """Gene -> canonical transcript ID (version stripped) from canonical_transcripts.tsv."""
    tsv_path = Path(tsv_path)
    try:
        handle = tsv_path.open(newline="")
    except OSError as err:
        raise InputError(f"cannot read canonical-transcript table ({err.strerror})",
                         path=tsv_path) from None
    with handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = {"gene", "canonical_transcript"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"missing columns {sorted(missing)}", path=tsv_path)
        canonical = {}
        for row_number, row in enumerate(reader, start=2):
            if not row["gene"] or not row["canonical_transcript"]:
                raise InputError("empty gene or canonical_transcript", path=tsv_path,
                                 row=row_number)
            canonical[row["gene"]] = strip_version(row["canonical_transcript"])
    return canonical


def canonical_models(gff3_path: str | Path, canonical_tsv: str | Path) -> dict[str, Transcript]:
    """Gene -> its canonical Transcript."""
    canonical = canonical_transcripts(canonical_tsv)
    models = load_transcripts(gff3_path, set(canonical.values()))
    return {gene: models[transcript_id] for gene, transcript_id in canonical.items()}


def target_intervals(transcripts: list[Transcript], flank: int) -> list[tuple[str, int, int, str]]:
    """BED intervals (contig, 0-based start, end, gene) of coding sequence +- flank, merged."""
    intervals = sorted((t.contig, max(0, start - 1 - flank), end + flank, t.gene)
                       for t in transcripts for start, end in t.cds)
    merged: list[tuple[str, int, int, str]] = []
    for contig, start, end, gene in intervals:
        if merged and merged[-1][0] == contig and start <= merged[-1][2]:
            last = merged[-1]
            genes = last[3] if gene in last[3].split(",") else f"{last[3]},{gene}"
            merged[-1] = (contig, last[1], max(last[2], end), genes)
        else:
            merged.append((contig, start, end, gene))
    return merged


def write_targets_bed(intervals: list[tuple[str, int, int, str]], output: str | Path) -> None:
    with replaced_on_success(output) as temporary, temporary.open("w") as handle:
        handle.writelines(f"{contig}\t{start}\t{end}\t{gene}\n"
                          for contig, start, end, gene in intervals)
