"""Protein-level knowledge for the driver scorer: HGVS p. parsing, amino-acid substitution
properties and protein domains.

BLOSUM62, hydropathy (Kyte-Doolittle) and residue masses come from Biopython; the BLOSUM and
hydropathy tables are imported on first use (they pull in numpy and Bio.Seq), so readers of HGVS
p. and domains alone do not load them. Biopython ships no Grantham distance and no PyPI package
provides one, so it is computed here from Grantham's own formula and property table
(R. Grantham, "Amino acid difference formula to help explain protein evolution", Science
185:862-864, 1974): D = 50.723 * sqrt(1.833 dc^2 + 0.1018 dp^2 + 0.000399 dv^2) over composition
c, polarity p and volume v; it reproduces the published table within 1 unit (R-H 29, C-W 214.4
vs 215).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from Bio.Data.IUPACData import protein_letters_3to1, protein_weights

from oncoweave.core.errors import InputError

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
STOP = "*"

# Grantham (1974) Table 1: composition, polarity, volume.
_GRANTHAM_PROPERTIES = {
    "S": (1.42, 9.2, 32), "R": (0.65, 10.5, 124), "L": (0.0, 4.9, 111), "P": (0.39, 8.0, 32.5),
    "T": (0.71, 8.6, 61), "A": (0.0, 8.1, 31), "V": (0.0, 5.9, 84), "G": (0.74, 9.0, 3),
    "I": (0.0, 5.2, 111), "F": (0.0, 5.2, 132), "Y": (0.20, 6.2, 136), "C": (2.75, 5.5, 55),
    "H": (0.58, 10.4, 96), "Q": (0.89, 10.5, 85), "N": (1.33, 11.6, 56), "K": (0.33, 11.3, 119),
    "D": (1.38, 13.0, 54), "E": (0.92, 12.3, 83), "M": (0.0, 5.7, 105), "W": (0.13, 5.4, 170),
}
# Side-chain charge at physiological pH (histidine is mostly neutral there).
_CHARGE = {"D": -1, "E": -1, "K": 1, "R": 1}
_THREE_LETTER = {**{code.capitalize(): one for code, one in protein_letters_3to1.items()},
                 "Ter": STOP}
_THREE_LETTER_TOKEN = re.compile("|".join(sorted(_THREE_LETTER, key=len, reverse=True)))


@dataclass(frozen=True)
class ProteinChange:
    """A parsed HGVS p. change on the canonical protein (one-letter codes)."""

    consequence: str  # bcftools csq term: missense, synonymous, stop_gained, frameshift, ...
    position: int  # first residue affected
    ref_aa: str
    alt_aa: str | None  # the new residue of a single-residue change; None for indels
    end_position: int | None = None
    end_aa: str | None = None

    @property
    def hgvs_p(self) -> str:
        """Normalised one-letter HGVS."""
        if self.consequence == "synonymous":
            return f"p.{self.ref_aa}{self.position}="
        if self.consequence in ("missense", "stop_gained", "start_lost", "stop_lost"):
            return f"p.{self.ref_aa}{self.position}{self.alt_aa}"
        if self.consequence == "frameshift":
            return f"p.{self.ref_aa}{self.position}fs"
        span = f"{self.ref_aa}{self.position}"
        if self.end_position and self.end_position != self.position:
            span += f"_{self.end_aa or ''}{self.end_position}"
        return f"p.{span}{'del' if self.consequence == 'inframe_deletion' else 'ins'}"


_AA = "[A-Z*]"
_PATTERNS = [
    ("substitution", re.compile(rf"^({_AA})(\d+)({_AA}|=)$")),
    ("frameshift", re.compile(rf"^({_AA})(\d+)(?:{_AA})?fs(?:\*?(?:\d+|\?))?$")),
    ("stop_lost", re.compile(r"^\*(\d+)([A-Z])ext\*?(?:\d+|\?)$")),
    ("deletion", re.compile(rf"^({_AA})(\d+)(?:_({_AA})(\d+))?del$")),
    ("delins", re.compile(rf"^({_AA})(\d+)(?:_({_AA})(\d+))?delins([A-Z*]+)$")),
    ("insertion", re.compile(rf"^({_AA})(\d+)_({_AA})(\d+)ins([A-Z*]+)$")),
    ("duplication", re.compile(rf"^({_AA})(\d+)(?:_({_AA})(\d+))?dup$")),
]


def _to_one_letter(text: str) -> str:
    return _THREE_LETTER_TOKEN.sub(lambda match: _THREE_LETTER[match.group(0)], text)


def parse_hgvs_p(text: str) -> ProteinChange:
    """Parse 'p.R175H', 'p.Arg175His', 'p.(R175=)', 'p.R196*', 'p.Arg196Ter', 'p.E23fs',
    'p.E746_A750del', 'p.D1435delinsEVF', 'p.Y1125_Q1126insS', 'p.*3419Lext*?', and the legacy
    'p.R196X' (X read as a stop, as ClinVar-era tables write it).

    Raises ValueError with a reason a person can act on.
    """
    body = str(text).strip()
    if not body.startswith("p."):
        raise ValueError(f"protein change {text!r} does not start with 'p.'")
    body = _to_one_letter(body[2:].strip("()"))
    for kind, pattern in _PATTERNS:
        match = pattern.match(body)
        if match:
            return _change_from_match(kind, match.groups())
    raise ValueError(f"cannot parse protein change {text!r}")


def _change_from_match(kind: str, groups: tuple) -> ProteinChange:
    if kind == "stop_lost":
        return ProteinChange("stop_lost", int(groups[0]), STOP, groups[1])
    ref, position = groups[0], int(groups[1])
    if kind == "substitution":
        alt = {"=": ref, "X": STOP}.get(groups[2], groups[2])  # 'X' = stop in legacy HGVS
        return ProteinChange(substitution_consequence(ref, position, alt), position, ref, alt)
    if kind == "frameshift":
        return ProteinChange("frameshift", position, ref, None)
    end_aa, end = (groups[2], int(groups[3])) if groups[3] else (None, position)
    if kind == "deletion":
        return ProteinChange("inframe_deletion", position, ref, None, end, end_aa)
    if kind == "duplication":
        return ProteinChange("inframe_insertion", position, ref, None, end, end_aa)
    inserted = groups[4]
    if STOP in inserted:
        return ProteinChange("stop_gained", position, ref, STOP, end, end_aa)
    deleted = end - position + 1
    consequence = "inframe_insertion" if kind == "insertion" or len(inserted) > deleted \
        else "inframe_deletion"
    return ProteinChange(consequence, position, ref, None, end, end_aa)


def substitution_consequence(ref: str, position: int, alt: str) -> str:
    if ref == alt:
        return "synonymous"
    if position == 1 and ref == "M":
        return "start_lost"
    if alt == STOP:
        return "stop_gained"
    if ref == STOP:
        return "stop_lost"
    return "missense"


# ---------------------------------------------------------------------------------------------
# Substitution properties (NaN unless both residues are one of the 20 amino acids).

@lru_cache(maxsize=1)
def _blosum62():
    from Bio.Align import substitution_matrices

    return substitution_matrices.load("BLOSUM62")


def _both_amino_acids(ref: str | None, alt: str | None) -> bool:
    return bool(ref) and bool(alt) and ref in AMINO_ACIDS and alt in AMINO_ACIDS


def blosum62(ref: str | None, alt: str | None) -> float:
    return float(_blosum62()[ref][alt]) if _both_amino_acids(ref, alt) else math.nan


def grantham(ref: str | None, alt: str | None) -> float:
    if not _both_amino_acids(ref, alt):
        return math.nan
    (c1, p1, v1), (c2, p2, v2) = _GRANTHAM_PROPERTIES[ref], _GRANTHAM_PROPERTIES[alt]
    return 50.723 * math.sqrt(1.833 * (c1 - c2) ** 2 + 0.1018 * (p1 - p2) ** 2
                              + 0.000399 * (v1 - v2) ** 2)


def hydropathy_change(ref: str | None, alt: str | None) -> float:
    if not _both_amino_acids(ref, alt):
        return math.nan
    from Bio.SeqUtils.ProtParamData import kd as kyte_doolittle

    return kyte_doolittle[alt] - kyte_doolittle[ref]


def charge_change(ref: str | None, alt: str | None) -> float:
    return float(_CHARGE.get(alt, 0) - _CHARGE.get(ref, 0)) if _both_amino_acids(ref, alt) \
        else math.nan


def mass_change(ref: str | None, alt: str | None) -> float:
    """Residue mass difference (Da), a proxy for side-chain size."""
    return protein_weights[alt] - protein_weights[ref] if _both_amino_acids(ref, alt) else math.nan


# ---------------------------------------------------------------------------------------------
# Protein domains.

@dataclass(frozen=True)
class Domain:
    gene: str
    start: int
    end: int
    name: str  # readable, e.g. "DNA-binding domain"


def load_domains(path: str | Path) -> dict[str, list[Domain]]:
    """Gene -> domains from a TSV with columns gene, start, end, name."""
    path = Path(path)
    domains: dict[str, list[Domain]] = {}
    with path.open(newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle, delimiter="\t"), start=2):
            try:
                domain = Domain(row["gene"], int(row["start"]), int(row["end"]), row["name"])
            except (KeyError, ValueError) as err:
                raise InputError(f"bad domain row ({err})", path=path, row=row_number) from None
            domains.setdefault(domain.gene, []).append(domain)
    return domains


def domain_at(domains: dict[str, list[Domain]], gene: str, position: int | None) -> Domain | None:
    """The (first listed) domain containing the residue, or None."""
    if position is None:
        return None
    return next((d for d in domains.get(gene, []) if d.start <= position <= d.end), None)
