"""Evolutionary features from multiple sequence alignments of homologs (site-independent model).

Built OFFLINE (``oncoweave build-msa-features``) from the alignments in the project's shared data
and shipped as a small per-residue table (``resources/drivers/msa_features.tsv``); the workflow
reads only that table. Per human residue covered by an alignment:

- ``column_neff``: effective number of homologs with a residue (not a gap) in that column;
- ``conservation_bits``: Kullback-Leibler divergence (bits) of the column's amino-acid
  distribution from the background distribution;
- ``log_odds_<X>``: ln(p(X) / p(ref)) for each of the 20 amino acids X.

Frequencies are sequence-weighted as in EVE / DCA: each sequence weighs 1 / (number of
sequences, itself included, at >= 80 % identity to it over its non-gap match columns), so a
cluster of near-identical homologs counts about once. Gaps are not counted. Pseudocounts: one
pseudo-sequence spread over the background frequencies,
``p(a) = (weighted count(a) + PSEUDOCOUNT * q(a)) / (column_neff + PSEUDOCOUNT)``, which keeps
unseen residues finite (about ln(q(a) / 9) below the wild type in a 12-vertebrate alignment) and
is negligible in a deep alignment. Residues no alignment covers are absent from the table: their
features are NaN (missing), never a made-up number.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
# Robinson & Robinson 1991 background amino-acid frequencies (the BLAST/PSI-BLAST background).
BACKGROUND = dict(zip(AMINO_ACIDS, (
    0.07805, 0.01925, 0.05364, 0.06295, 0.03856, 0.07377, 0.02199, 0.05142, 0.05744, 0.09019,
    0.02243, 0.04487, 0.05203, 0.04264, 0.05129, 0.07120, 0.05841, 0.06441, 0.01330, 0.03216)))
IDENTITY_THRESHOLD = 0.8
PSEUDOCOUNT = 1.0
MSA_TABLE = "msa_features.tsv"
# Alignments in the shared data (relative to --msa-dir) and their format.
ALIGNMENTS = {"TP53": ("TP53/P53_HUMAN_b0.1.a2m", "a2m"),
              "BRCA1": ("BRCA1/BRCA1_agvgd_padded.fasta", "fasta"),
              "BRCA2": ("BRCA2/BRCA2_agvgd_padded.fasta", "fasta")}
TABLE_COLUMNS = (["gene", "position", "ref_aa", "alignment_aa", "column_neff",
                  "conservation_bits"] + [f"log_odds_{a}" for a in AMINO_ACIDS])


@dataclass(frozen=True)
class Alignment:
    """Match columns of an alignment whose first row is the human protein."""

    sequences: np.ndarray  # (n_sequences, n_columns) codes: 0-19 amino acids, 20 gap/other
    residues: np.ndarray  # human residue number of each column (1-based)

    @property
    def human(self) -> str:
        return "".join(AMINO_ACIDS[c] if c < 20 else "-" for c in self.sequences[0])


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    records, name, chunks = [], None, []
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            if name is not None:
                records.append((name, "".join(chunks)))
            name, chunks = line[1:].strip(), []
        elif line.strip():
            chunks.append(line.strip())
    if name is not None:
        records.append((name, "".join(chunks)))
    if not records:
        raise ValueError(f"{path}: no sequences")
    return records


def read_alignment(path: str | Path, kind: str) -> Alignment:
    """Columns where the first (human) row has a residue, numbered along the human protein.

    a2m: uppercase and '-' are match columns, lowercase and '.' inserts (dropped in every row;
    a human insert still counts in the numbering). fasta: every column is aligned."""
    records = read_fasta(path)
    name, human = records[0]
    span = re.search(r"/(\d+)-\d+$", name)
    residue = int(span.group(1)) - 1 if span else 0
    keep_raw = []  # raw-row index of each match column
    human_columns, numbers = [], []
    for index, char in enumerate(human):
        is_match = kind == "fasta" or char.isupper() or char == "-"
        if is_match:
            keep_raw.append(index)
        if char.isalpha():
            residue += 1
            if is_match:
                human_columns.append(len(keep_raw) - 1)
                numbers.append(residue)
    lookup = np.full(128, 20, dtype=np.int8)
    for code, letter in enumerate(AMINO_ACIDS):
        lookup[ord(letter)] = code
    rows = []
    for row_name, sequence in records:
        if kind == "a2m":
            sequence = "".join(c for c in sequence if c.isupper() or c == "-")
        else:
            sequence = "".join(sequence[i] if i < len(sequence) else "-" for i in keep_raw)
        if len(sequence) != len(keep_raw):
            raise ValueError(f"{path}: row {row_name!r} has {len(sequence)} match columns, "
                             f"the human row {len(keep_raw)}")
        rows.append(lookup[np.frombuffer(sequence.upper().encode("ascii"), dtype=np.uint8)])
    matrix = np.vstack(rows)[:, human_columns]
    return Alignment(matrix, np.asarray(numbers))


def sequence_weights(sequences: np.ndarray, threshold: float = IDENTITY_THRESHOLD,
                     chunk: int = 512) -> np.ndarray:
    """1 / (neighbours at >= threshold identity, itself included); identity of j to i is the
    share of i's non-gap columns where j has the same residue (as EVE computes it)."""
    onehot = np.zeros((len(sequences), sequences.shape[1] * 20), dtype=np.float32)
    rows, columns = np.nonzero(sequences < 20)
    onehot[rows, columns * 20 + sequences[rows, columns]] = 1
    length = onehot.sum(axis=1)
    weights = np.zeros(len(sequences))
    for start in range(0, len(sequences), chunk):
        block = onehot[start:start + chunk] @ onehot.T
        own = length[start:start + chunk, None]
        neighbours = (block >= threshold * own).sum(axis=1)
        weights[start:start + chunk] = np.where(own[:, 0] > 0, 1 / neighbours, 0)
    return weights


def column_profiles(alignment: Alignment, pseudocount: float = PSEUDOCOUNT) -> dict:
    """Weighted, pseudocounted frequencies (n_columns, 20), column Neff and conservation."""
    weights = sequence_weights(alignment.sequences)
    counts = np.zeros((alignment.sequences.shape[1], 20))
    for code in range(20):
        counts[:, code] = ((alignment.sequences == code) * weights[:, None]).sum(axis=0)
    neff = counts.sum(axis=1)
    background = np.array([BACKGROUND[a] for a in AMINO_ACIDS])
    background = background / background.sum()
    frequencies = (counts + pseudocount * background) / (neff + pseudocount)[:, None]
    conservation = (frequencies * np.log2(frequencies / background)).sum(axis=1)
    return {"frequencies": frequencies, "column_neff": neff, "conservation_bits": conservation,
            "neff": float(weights.sum()), "sequences": len(weights)}


def feature_rows(gene: str, alignment: Alignment, wild_type: str,
                 pseudocount: float = PSEUDOCOUNT) -> tuple[list[dict], dict]:
    """Table rows of one gene (log-odds against the canonical wild-type residue, which may
    differ from the alignment's human row at polymorphisms) and a summary for SOURCE.md."""
    profile = column_profiles(alignment, pseudocount)
    rows, mismatches = [], []
    human = alignment.human
    for column, position in enumerate(alignment.residues):
        ref = wild_type[position - 1]
        if human[column] != ref:
            mismatches.append(f"{human[column]}{position}{ref}")
        frequencies = profile["frequencies"][column]
        p_ref = frequencies[AMINO_ACIDS.index(ref)]
        rows.append({"gene": gene, "position": int(position), "ref_aa": ref,
                     "alignment_aa": human[column],
                     "column_neff": round(float(profile["column_neff"][column]), 2),
                     "conservation_bits": round(float(profile["conservation_bits"][column]), 3),
                     **{f"log_odds_{a}": round(float(np.log(frequencies[i] / p_ref)), 3)
                        for i, a in enumerate(AMINO_ACIDS)}})
    summary = {"sequences": profile["sequences"], "neff": round(profile["neff"], 1),
               "residues": len(rows), "first": int(alignment.residues.min()),
               "last": int(alignment.residues.max()), "wild_type_mismatches": mismatches}
    return rows, summary


def build_msa_table(msa_dir: str | Path, wild_types: dict[str, str],
                    pseudocount: float = PSEUDOCOUNT) -> tuple[list[dict], dict]:
    """All genes' rows (gene, position order) and per-gene summaries."""
    msa_dir = Path(msa_dir)
    rows, summaries = [], {}
    for gene, (relative, kind) in ALIGNMENTS.items():
        path = msa_dir / relative
        if not path.exists():
            raise FileNotFoundError(f"{path}: alignment for {gene} not found")
        gene_rows, summaries[gene] = feature_rows(gene, read_alignment(path, kind),
                                                  wild_types[gene], pseudocount)
        rows += gene_rows
    return rows, summaries


def write_msa_table(rows: list[dict], path: str | Path) -> None:
    with Path(path).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, TABLE_COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@dataclass(frozen=True)
class ResidueProfile:
    """One residue's row of the shipped table."""

    ref_aa: str
    column_neff: float
    conservation_bits: float
    log_odds: dict[str, float]


def load_msa_table(path: str | Path) -> dict[tuple[str, int], ResidueProfile]:
    """(gene, residue) -> profile; an absent file means no evolutionary features (all NaN)."""
    path = Path(path)
    if not path.exists():
        return {}
    table = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            table[(row["gene"], int(row["position"]))] = ResidueProfile(
                row["ref_aa"], float(row["column_neff"]), float(row["conservation_bits"]),
                {a: float(row[f"log_odds_{a}"]) for a in AMINO_ACIDS})
    return table


# Evolutionary features from the shipped resources/drivers/msa_features.tsv.
MSA_FEATURES = ("msa_conservation", "msa_log_odds", "msa_depth")


def msa_features(profile: ResidueProfile | None, consequence: str, ref_aa: str | None,
                 alt_aa: str | None) -> dict:
    """MSA features of the residue; None (NaN) where no alignment covers it. The log-odds only
    for a single-residue missense change whose reference matches the table's."""
    if profile is None:
        return dict.fromkeys(MSA_FEATURES)
    log_odds = profile.log_odds.get(alt_aa) if consequence == "missense" and ref_aa \
        and ref_aa == profile.ref_aa else None
    return {"msa_conservation": profile.conservation_bits, "msa_log_odds": log_odds,
            "msa_depth": profile.column_neff}


CONSERVED_BITS = 2.0  # KL from background above which a column reads "conserved"


def describe_msa_feature(feature: str, value: float, annotation: dict,
                         profile: ResidueProfile | None) -> str:
    """A readable phrase for one MSA feature of a variant at a residue of ``profile``."""
    if profile is None:
        return "no homolog alignment covers this residue"
    homologs = f"{profile.column_neff:.0f} effective homologs"
    if feature == "msa_depth":
        return f"homolog alignment: {homologs} at this residue"
    if feature == "msa_conservation":
        how = "conserved" if value >= CONSERVED_BITS else \
            "moderately conserved" if value >= CONSERVED_BITS / 2 else "variable"
        return f"residue {how} across {homologs} ({value:.1f} bits)"
    if math.isnan(value):
        return "not a single amino-acid substitution"
    ref, alt = annotation["ref_aa"], annotation["alt_aa"]
    how = "rarely" if value <= -3 else "sometimes" if value <= -1 else "often"
    return (f"{alt} is {how} seen instead of {ref} among {homologs} "
            f"(log-odds {value:+.1f})")
