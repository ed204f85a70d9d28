"""Reference contigs placed on GRCh38, so that every table carries chromosome coordinates.

The bundled mini-reference holds one contig per gene region (``chr17_TP53`` ...); ``regions.tsv``
says where each contig lies on GRCh38 (genomic pos = contig pos + offset). A full GRCh38 reference
needs no map: its contigs *are* the chromosomes (offset 0). Every Parquet table carries GRCh38
chromosome coordinates whichever reference ran, so all conversions go through :class:`ContigMap`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from oncoweave.core.errors import InputError
from oncoweave.core.paths import REPO_ROOT

BUNDLED_REFERENCE_DIR = REPO_ROOT / "resources" / "reference"


@dataclass(frozen=True)
class Region:
    contig: str
    chrom: str
    start: int  # 1-based first genomic base of the contig
    end: int  # 1-based last genomic base
    offset: int  # genomic pos = contig pos + offset


class ContigMap:
    """Maps reference contig coordinates to GRCh38 chromosome coordinates and back."""

    def __init__(self, regions: list[Region] | None = None):
        self.regions = list(regions or [])
        self._by_contig = {r.contig: r for r in self.regions}

    @classmethod
    def from_tsv(cls, path: str | Path | None) -> "ContigMap":
        """Read a regions.tsv (contig, chrom, start_1based, end_1based, offset_add_to_contig_pos).

        An empty/None path gives the identity map used with a full-chromosome reference.
        """
        if not path:
            return cls()
        path = Path(path)
        regions = []
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            required = {"contig", "chrom", "start_1based", "end_1based", "offset_add_to_contig_pos"}
            missing = required - set(reader.fieldnames or [])
            if missing:
                raise InputError(f"missing columns {sorted(missing)}", path=path)
            for row_number, row in enumerate(reader, start=2):
                try:
                    regions.append(Region(
                        contig=row["contig"], chrom=row["chrom"],
                        start=int(row["start_1based"]), end=int(row["end_1based"]),
                        offset=int(row["offset_add_to_contig_pos"])))
                except ValueError as err:
                    raise InputError(f"not an integer ({err})", path=path, row=row_number) from None
        return cls(regions)

    @property
    def is_identity(self) -> bool:
        return not self.regions

    def to_genomic(self, contig: str, pos: int) -> tuple[str, int]:
        """Contig coordinate -> (GRCh38 chromosome, 1-based position)."""
        region = self._by_contig.get(contig)
        if region is None:
            if self.is_identity:
                return contig, pos
            raise KeyError(f"contig {contig!r} is not in the contig map")
        return region.chrom, pos + region.offset

    def to_contig(self, chrom: str, pos: int) -> tuple[str, int] | None:
        """GRCh38 (chromosome, position) -> (contig, position), or None outside every region."""
        if self.is_identity:
            return chrom, pos
        for region in self.regions:
            if region.chrom == chrom and region.start <= pos <= region.end:
                return region.contig, pos - region.offset
        return None

    def chromosomes(self) -> set[str]:
        return {r.chrom for r in self.regions}


def fasta_contigs(fai_path: str | Path) -> dict[str, int]:
    """Contig name -> length from a samtools .fai index."""
    contigs = {}
    with Path(fai_path).open() as handle:
        for line in handle:
            fields = line.split("\t")
            contigs[fields[0]] = int(fields[1])
    return contigs
