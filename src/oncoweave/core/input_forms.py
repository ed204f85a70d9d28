"""Planning-time checks of the sample sheet's read inputs by their first bytes.

A folder, an empty file, or a file of the wrong kind in a sheet column (a FASTQ named as the
VCF, a text file as the BAM) is found while Snakemake plans, before any job, by reading at most
a few kB of each file: the magic bytes (gzip, BGZF, CRAM) and, for compressed files, the first
decompressed bytes (FASTQ '@', VCF '##fileformat=VCF', BAM/BCF magic). Content checks
(truncation, records, contigs) stay in the first rule that reads the file.
"""

from __future__ import annotations

import os
import zlib

PROBE_BYTES = 4096  # one BGZF block holds at most 64 kB; its first 4 kB hold the magic we need
GZIP_MAGIC = b"\x1f\x8b"


def _first_bytes(path: str) -> tuple[bytes, bytes | None]:
    """(raw first bytes, their decompressed start if the file is gzip/BGZF, else None)."""
    with open(path, "rb") as handle:
        raw = handle.read(PROBE_BYTES)
    if not raw.startswith(GZIP_MAGIC):
        return raw, None
    try:
        return raw, zlib.decompressobj(wbits=31).decompress(raw, 256)
    except zlib.error:
        return raw, b""


def _is_bgzf(raw: bytes) -> bool:
    # RFC 1952 header with FEXTRA (flag 4) whose subfield is 'BC' (the BGZF block size).
    return raw.startswith(GZIP_MAGIC) and len(raw) >= 18 and raw[3] & 4 and raw[12:14] == b"BC"


def _looks_like(raw: bytes, content: bytes) -> str:
    """What the file seems to be, in words; never its bytes (a misplaced file may hold PHI)."""
    for magic, kind in ((b"@", "a FASTQ file"), (b"##fileformat=VCF", "a VCF"),
                        (b"BAM\x01", "a BAM"), (b"BCF\x02", "a BCF")):
        if content.startswith(magic):
            return f"it looks like {kind}"
    if raw.startswith(b"CRAM"):
        return "it looks like a CRAM"
    if raw.startswith(GZIP_MAGIC):
        return "it is gzip-compressed data of another kind"
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return "it is binary data of another kind"
    return "it is a text file of another kind"


def read_input_problem(path: str, column: str) -> str | None:
    """What is wrong with ``path`` as the sheet's ``column`` (fastq1/fastq2/bam/vcf), or None."""
    if os.path.isdir(path):
        return f"{path} is a folder, not a file"
    if not os.access(path, os.R_OK):
        return f"{path} cannot be read (permissions)"
    if os.path.getsize(path) == 0:
        return f"{path} is empty (0 bytes)"
    raw, inner = _first_bytes(path)
    if inner == b"":
        return f"{path} starts as gzip but its first block does not decompress: a corrupt file"
    content = raw if inner is None else inner
    if column in ("fastq1", "fastq2"):
        if not content.startswith(b"@"):
            return (f"{path} is not a FASTQ file (a FASTQ record starts with '@'; "
                    f"{_looks_like(raw, content)})")
    elif column == "bam":
        if not (raw.startswith(b"CRAM") or (_is_bgzf(raw) and content.startswith(b"BAM\x01"))):
            return (f"{path} is not a BAM or CRAM file (no BAM/CRAM magic bytes; "
                    f"{_looks_like(raw, content)})")
    elif column == "vcf":
        if not (content.startswith(b"##fileformat=VCF") or content.startswith(b"BCF\x02")):
            return (f"{path} is not a VCF or BCF file (a VCF starts with its '##fileformat=VCF' "
                    f"header line; {_looks_like(raw, content)})")
    return None
