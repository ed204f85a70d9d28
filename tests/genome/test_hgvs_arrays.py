"""The array HGVS c. path (genome.hgvs_arrays) against the one-by-one ``Transcript.hgvs_c``:
made-up contigs whose repeats push indel shifts and dup tests out of the fetched window and
past the contig's ends, both strands, and alleles the byte path hands to ``describe_change``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from oncoweave.genome.hgvs_arrays import c_position_array, hgvs_c_array
from oncoweave.genome.transcripts import Transcript, VariantError


class Contig:
    """A one-contig SequenceSource that counts the fetches outside a window."""

    def __init__(self, sequence: str):
        self.sequence = sequence

    def fetch(self, reference: str, start: int, end: int) -> str:
        if start < 0:
            raise ValueError(f"start out of range ({start})")
        return self.sequence[start:end]

    def get_reference_length(self, reference: str) -> int:
        return len(self.sequence)


def _contig(seed: int) -> str:
    """Random bases around a 600-base A run (longer than the window's 200-base margin), a
    300-base CAG repeat, and lower-case soft-masked stretches."""
    rng = np.random.default_rng(seed)
    random = "".join(rng.choice(list("ACGT"), 3000))
    return (random[:400] + "A" * 600 + random[400:900] + "CAG" * 100 + random[900:1500].lower()
            + random[1500:])


def _transcript(strand: str, length: int) -> Transcript:
    exons = ((30, 700), (1200, 1500), (1800, length - 40))
    return Transcript("T1", "G1", "c1", strand, exons, ((500, 700), (1200, 1500), (1800, 2400)))


def _variants(sequence: str, seed: int) -> tuple[np.ndarray, list[str], list[str]]:
    rng = np.random.default_rng(seed)
    # Every kind at random sites, and insertions / deletions at the repeats' starts and ends,
    # the contig's first and last bases.
    sites = np.concatenate([rng.integers(1, len(sequence) - 6, 3000),
                            [1, 2, 3, 399, 400, 401, 1000, 1001, 1499, 1500, 1501, 1800],
                            np.arange(len(sequence) - 6, len(sequence) + 1)])
    refs, alts = [], []
    for index, site in enumerate(sites.tolist()):
        span = int(rng.integers(1, 5))
        ref = sequence[site - 1:site - 1 + span] or sequence[-1]
        kind = index % 6
        if kind == 0:
            alt = "ACGT"[("ACGT".index(ref[0].upper()) + 1) % 4]
            ref = ref[:1]
        elif kind == 1:
            alt = ref[:1]  # a deletion (or nothing when REF is one base: REF == ALT)
        elif kind == 2:
            alt = ref[:1] + sequence[site:site + int(rng.integers(1, 4))]  # a duplication
        elif kind == 3:
            alt = ref[:1] + "".join(rng.choice(list("ACGTacgt"), int(rng.integers(1, 4))))
        elif kind == 4:
            alt = ref[0] + "".join(rng.choice(list("ACGT"), span + 1)) + ref[-1]  # delins
        else:
            alt = ref.lower()[:1] + "A" * int(rng.integers(1, 3))
        refs.append(ref)
        alts.append(alt)
    return sites, refs, alts


def _one_by_one(transcript, sites, refs, alts, fasta) -> list:
    described = []
    for site, ref, alt in zip(sites.tolist(), refs, alts):
        try:
            described.append(transcript.hgvs_c(site, ref, alt, fasta))
        except (ValueError, IndexError) as err:  # IndexError: REF == ALT inside the transcript
            described.append(type(err))
    return described


@pytest.mark.parametrize("strand", ["+", "-"])
@pytest.mark.parametrize("seed", [1, 2])
def test_array_hgvs_equals_one_by_one_where_shifts_leave_the_window(strand, seed):
    fasta = Contig(_contig(seed))
    transcript = _transcript(strand, len(fasta.sequence))
    sites, refs, alts = _variants(fasta.sequence, seed)
    expected = _one_by_one(transcript, sites, refs, alts, fasta)
    keep = [index for index, value in enumerate(expected) if not isinstance(value, type)]
    assert len(keep) > 2500
    got = hgvs_c_array(transcript, sites[keep], [refs[i] for i in keep],
                       [alts[i] for i in keep], fasta).to_pylist()
    assert got == [expected[i] for i in keep]
    texts = [text for text in got if text]
    # The repeats made long shifts (beyond the window's margin) and dups of several bases.
    assert any(text.endswith("dup") and "_" in text for text in texts)
    assert any(text.endswith("del") for text in texts) and any("ins" in text for text in texts)
    assert any(text.startswith("c.*") or text.startswith("c.-") for text in texts)


def _describable(seed: int, strand: str, limit: int | None = None):
    """A seeded contig, a transcript on it and the variants hgvs_c describes without error."""
    fasta = Contig(_contig(seed))
    transcript = _transcript(strand, len(fasta.sequence))
    sites, refs, alts = _variants(fasta.sequence, seed)
    keep = [index for index, value in enumerate(_one_by_one(transcript, sites, refs, alts,
                                                            fasta))
            if not isinstance(value, type)][:limit]
    return fasta, transcript, sites[keep], [refs[i] for i in keep], [alts[i] for i in keep]


def test_arrow_inputs_and_empty_input():
    fasta, transcript, sites, refs, alts = _describable(3, "-")
    chunked = pa.chunked_array([pa.array(refs[:100]), pa.array(refs[100:])])
    from_arrow = hgvs_c_array(transcript, sites, chunked.take(pa.array(np.arange(len(refs)))),
                              pa.array(alts), fasta)
    assert from_arrow.equals(hgvs_c_array(transcript, sites, refs, alts, fasta))
    assert hgvs_c_array(transcript, [], [], [], fasta).to_pylist() == []
    assert c_position_array(transcript, []).to_pylist() == []


def test_non_ascii_alleles_and_ref_equal_to_alt_go_one_by_one():
    fasta = Contig(_contig(4))
    transcript = _transcript("+", len(fasta.sequence))
    site = 1850
    base = fasta.sequence[site - 1]
    sites = np.array([site, site, 10, site + 1])
    refs = [base, base, fasta.sequence[9], fasta.sequence[site]]
    alts = [base + "Ä", base + "T", fasta.sequence[9], "N"]  # REF == ALT outside: None
    assert hgvs_c_array(transcript, sites, refs, alts, fasta).to_pylist() == [
        transcript.hgvs_c(int(s), r, a, fasta) for s, r, a in zip(sites, refs, alts)]
    with pytest.raises(IndexError):  # REF == ALT inside the transcript, as hgvs_c fails
        transcript.hgvs_c(site, base, base, fasta)
    with pytest.raises(IndexError):
        hgvs_c_array(transcript, [site], [base], [base], fasta)


def test_the_first_failing_variant_in_input_order_is_reported():
    fasta, transcript, sites, refs, alts = _describable(5, "-", limit=200)
    refs[150] = "T" if refs[150][0].upper() != "T" else "G"  # an SNV REF mismatch
    alts[150] = "C"
    refs[90] = refs[90] + "N"  # a longer REF that no longer matches
    with pytest.raises(VariantError, match=r"REF \S+ does not match the reference at c1:") as err:
        hgvs_c_array(transcript, sites, refs, alts, fasta)
    first = next(index for index, value in enumerate(
        _one_by_one(transcript, sites, refs, alts, fasta)) if isinstance(value, type))
    assert err.value.index == first == 90
    refs[90] = refs[90][:-1]
    with pytest.raises(VariantError) as err:
        hgvs_c_array(transcript, sites, refs, alts, fasta)
    assert err.value.index == 150


@pytest.mark.parametrize("strand", ["+", "-"])
def test_an_indel_sliding_out_of_the_fetched_window_is_described_from_the_fasta(strand,
                                                                                monkeypatch):
    """Variants only at one end of the 600-base A run: the window is them +-200 bases, and the
    3' shift runs the length of the run, so describe_change (fetching from the FASTA) takes
    the indels; the SNV stays with the arrays."""
    fasta = Contig(_contig(6))
    transcript = _transcript(strand, len(fasta.sequence))
    edge = 400 if strand == "+" else 1005  # the run is 401-1000; 3' is rightward on '+'
    sites = np.array([edge, edge, edge, edge - 5])
    refs = [fasta.sequence[edge - 1], fasta.sequence[edge - 1:edge + 1],
            fasta.sequence[edge - 1], fasta.sequence[edge - 6]]
    alts = [refs[0] + "A", refs[1][0], refs[2] + "AA", "G" if refs[3] != "G" else "C"]
    if strand == "-":  # the anchor base precedes the run's end: REF AA -> A, A -> AA
        sites[:3] = 999
        refs[:3] = ["A", "AA", "A"]
        alts[:3] = ["AA", "A", "AAA"]
    described = []
    one_by_one = Transcript.describe_change

    def counted(self, pos, *args):
        described.append(pos)
        return one_by_one(self, pos, *args)

    monkeypatch.setattr(Transcript, "describe_change", counted)
    got = hgvs_c_array(transcript, sites, refs, alts, fasta).to_pylist()
    monkeypatch.undo()
    assert got == [transcript.hgvs_c(int(s), r, a, fasta) for s, r, a in zip(sites, refs, alts)]
    assert described == sites[:3].tolist()  # the indels left the window
    assert got[0].endswith("dup") and got[1].endswith("del") and got[2].endswith("dup")
