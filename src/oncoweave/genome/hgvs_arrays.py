"""HGVS c. of many variants on one transcript with array operations: ``hgvs_c_array`` and
``c_position_array`` give what ``Transcript.hgvs_c`` and ``Transcript.c_position`` give one by one
(the export calls them once per transcript).

The alleles are read as the bytes of Arrow string arrays; the REF check, allele trimming, the
3' shift of indels and the dup test compare them with one fetched window of the contig, a
numpy step per shifted base for all variants at once; c. positions and the texts are built by
pyarrow string kernels. A variant the arrays cannot describe exactly as
``Transcript.describe_change`` does (REF equal to ALT, a shift or dup test that leaves the
window, a non-ASCII allele) is described by it, one by one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from oncoweave.genome.sequence import COMPLEMENT_TABLE, SequenceSource, SequenceWindow

if TYPE_CHECKING:
    import pyarrow as pa

    from oncoweave.genome.transcripts import Transcript

_UPPER = np.array([ord(chr(code).upper()) if code < 128 else code for code in range(256)],
                  dtype=np.uint8)
_COMPLEMENT = np.array([ord(chr(code).translate(COMPLEMENT_TABLE)) if code < 128 else code
                        for code in range(256)], dtype=np.uint8)


class _Alleles:
    """Upper-cased allele bytes: ``data[starts[i]:starts[i] + lengths[i]]`` is allele i."""

    def __init__(self, values):
        import pyarrow as pa

        array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(
            np.asarray(values, dtype=object), pa.string())
        array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
        if array.null_count:
            raise TypeError("alleles must be strings, not None")
        array = array.cast(pa.large_string())
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[
            array.offset:array.offset + len(array) + 1]
        self.starts, self.lengths = offsets[:-1], np.diff(offsets)
        data = array.buffers()[2]
        raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        self.data = _UPPER[raw]
        self.ascii = np.ones(len(array), dtype=bool)
        if (raw >= 128).any():  # str.upper() of other characters is not the byte table's
            byte_rows = np.repeat(np.arange(len(array)), self.lengths)
            self.ascii[byte_rows[(raw >= 128)[offsets[0]:offsets[-1]]]] = False
        self.text = array

    def at(self, rows: np.ndarray, index: np.ndarray) -> np.ndarray:
        return self.data[self.starts[rows] + index]


def hgvs_c_array(transcript: Transcript, positions, refs, alts,
                 fasta: SequenceSource) -> pa.Array:
    """``Transcript.hgvs_c`` of each variant (null outside the transcript) as a string array;
    the first variant in input order whose REF does not match raises VariantError(index)."""
    import pyarrow as pa

    from oncoweave.genome.transcripts import VariantError

    transcript._require_coding()
    positions = np.asarray(positions, dtype=np.int64)
    count = len(positions)
    if count == 0:
        return pa.array([], pa.string())
    ref, alt = _Alleles(refs), _Alleles(alts)
    window = SequenceWindow(fasta, transcript.contig, int(positions.min()) - 1,
                            int((positions + ref.lengths).max()))
    changes = _Changes(transcript, window, positions, ref, alt)
    mismatches = np.flatnonzero(changes.mismatch)
    first_mismatch = int(mismatches[0]) if len(mismatches) else count
    for row in np.flatnonzero(changes.scalar).tolist():
        if row > first_mismatch:
            break  # errors are raised in input order, as one-by-one description would
        try:
            change = transcript.describe_change(int(positions[row]), ref.text[row].as_py(),
                                                alt.text[row].as_py(), window)
        except ValueError as err:
            raise VariantError(row, str(err)) from None
        if change is not None:
            changes.add([row], [change[0]], [change[1]], pa.array([change[2]], pa.string()))
    if first_mismatch < count:
        raise VariantError(first_mismatch, f"REF {ref.text[first_mismatch].as_py().upper()} "
                                           f"does not match the reference at "
                                           f"{transcript.contig}:{positions[first_mismatch]}")
    return changes.texts(count)


class _Changes:
    """Every variant's (first, last, suffix) as ``describe_change`` gives it, by group."""

    def __init__(self, transcript: Transcript, window: SequenceWindow, positions: np.ndarray,
                 ref: _Alleles, alt: _Alleles):
        self.transcript, self.plus = transcript, transcript.strand == "+"
        self.sequence, self.offset = window.byte_codes()
        self.length = window.get_reference_length(transcript.contig)
        self.parts: list[tuple] = []
        self.mismatch = self._ref_mismatch(positions, ref)
        self.scalar = ~(ref.ascii & alt.ascii) | (positions < 1)
        rows = np.flatnonzero(~self.scalar & ~self.mismatch)
        # Trim the shared suffix, then the shared prefix (trim_alleles).
        r_start, r_len = ref.starts[rows], ref.lengths[rows]
        a_start, a_len = alt.starts[rows], alt.lengths[rows]
        suffix = _shared(ref.data, alt.data, r_start + r_len - 1, a_start + a_len - 1, -1,
                         np.minimum(r_len, a_len))
        r_len, a_len = r_len - suffix, a_len - suffix
        prefix = _shared(ref.data, alt.data, r_start, a_start, 1, np.minimum(r_len, a_len))
        r_start, r_len, a_start, a_len = r_start + prefix, r_len - prefix, a_start + prefix, \
            a_len - prefix
        pos = positions[rows] + prefix
        last = np.where(r_len > 0, pos + r_len - 1, pos)
        outside = (last < transcript.start) | (pos > transcript.end)
        empty = (r_len == 0) & (a_len == 0)  # REF == ALT: left to describe_change
        self.scalar[rows[empty]] = True
        keep = ~outside & ~empty
        substitution = keep & (r_len > 0) & (a_len > 0)
        snv = substitution & (r_len == 1) & (a_len == 1)
        at = np.flatnonzero(snv)
        bodies = self._join(self._oriented(ref.data, r_start[at], r_len[at]), b">",
                            self._oriented(alt.data, a_start[at], a_len[at]))
        self.add(rows[at], pos[at], pos[at], bodies)
        at = np.flatnonzero(substitution & ~snv)
        self.add(rows[at], pos[at], last[at],
                 self._join(b"delins", self._oriented(alt.data, a_start[at], a_len[at])))
        at = np.flatnonzero(keep & (a_len == 0) & (r_len > 0))
        self._deletions(rows[at], pos[at], r_len[at])
        at = np.flatnonzero(keep & (r_len == 0) & (a_len > 0))
        self._insertions(rows[at], pos[at], alt, a_start[at], a_len[at])

    def _ref_mismatch(self, positions: np.ndarray, ref: _Alleles) -> np.ndarray:
        """Whether each REF differs from the window (past the contig's end: the fetch is short)."""
        rows = np.repeat(np.arange(len(positions)), ref.lengths)
        index = np.arange(len(rows)) - np.repeat(np.cumsum(ref.lengths) - ref.lengths,
                                                 ref.lengths)
        at = positions[rows] - 1 + index - self.offset
        inside = (at >= 0) & (at < len(self.sequence))
        same = inside & (self.sequence[np.clip(at, 0, len(self.sequence) - 1)]
                         == ref.at(rows, index))
        return np.bincount(rows[~same], minlength=len(positions)) > 0

    def _base(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bases at 1-based ``positions``, whether each lies in the window)."""
        at = positions - 1 - self.offset
        inside = (at >= 0) & (at < len(self.sequence))
        return self.sequence[np.clip(at, 0, len(self.sequence) - 1)], inside

    def _shift(self, pos: np.ndarray, span: np.ndarray, allele_base) -> tuple[np.ndarray,
                                                                             np.ndarray]:
        """Steps each indel slides 3' (shift_indel: right on '+', left on '-') and whether it
        would leave the window first; ``allele_base(active, steps)``: the allele base compared
        at each step (its first on '+', its last on '-')."""
        steps = np.zeros(len(pos), dtype=np.int64)
        escaped = np.zeros(len(pos), dtype=bool)
        active = np.arange(len(pos))
        while len(active):
            if self.plus:
                here = pos[active] + steps[active]
                bound = here + span[active] <= self.length
                base, inside = self._base(here + span[active])
            else:
                here = pos[active] - steps[active]
                bound = here > 1
                base, inside = self._base(here - 1)
            escaped[active[bound & ~inside]] = True  # describe_change fetches beyond it
            active = active[bound & inside & (base == allele_base(active, steps[active]))]
            steps[active] += 1
        return steps, escaped

    def _deletions(self, rows, pos, size) -> None:
        def deleted_base(active, steps):  # the deleted bases are the reference's
            here = pos[active] + steps if self.plus else pos[active] - steps + size[active] - 1
            return self._base(here)[0]

        steps, escaped = self._shift(pos, size, deleted_base)
        self.scalar[rows[escaped]] = True
        moved = pos + steps if self.plus else pos - steps
        keep = ~escaped
        self.add(rows[keep], moved[keep], (moved + size - 1)[keep], self._constant(b"del", keep))

    def _insertions(self, rows, pos, alt: _Alleles, start, size) -> None:
        plus = self.plus

        def inserted_base(active, steps):  # the inserted bases rotate as they slide
            index = steps if plus else size[active] - 1 - steps
            return alt.data[start[active] + index % size[active]]

        steps, escaped = self._shift(pos, np.zeros(len(pos), dtype=np.int64), inserted_base)
        moved = pos + steps if plus else pos - steps
        rotation = steps % size if plus else (-steps) % size  # rotated[q] = I[(q + r) % m]
        # The dup test: the bases 5' of the insertion (left on '+', right on '-').
        five_prime = moved - size if plus else moved
        item, index = _ragged(size)
        bases = alt.data[start[item] + (index + rotation[item]) % size[item]]
        reference, inside = self._base(five_prime[item] + index)
        escaped |= np.bincount(item[~inside], minlength=len(rows)) > 0
        dup = np.bincount(item[reference != bases], minlength=len(rows)) == 0
        self.scalar[rows[escaped]] = True
        at = ~escaped & dup
        self.add(rows[at], five_prime[at], (five_prime + size - 1)[at], self._constant(b"dup", at))
        at = np.flatnonzero(~escaped & ~dup)
        body = self._oriented(bases, np.concatenate([[0], np.cumsum(size)[:-1]])[at], size[at])
        self.add(rows[at], moved[at] - 1, moved[at], self._join(b"ins", body))

    def _oriented(self, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
        """The byte stretches as strings, reverse-complemented on the '-' strand."""
        import pyarrow as pa

        item, index = _ragged(lengths)
        if self.plus:
            body = data[starts[item] + index]
        else:
            body = _COMPLEMENT[data[starts[item] + lengths[item] - 1 - index]]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets),
                                                pa.py_buffer(body.tobytes())).cast(pa.string())

    @staticmethod
    def _join(*parts) -> pa.Array:
        import pyarrow.compute as pc

        return pc.binary_join_element_wise(*[part.decode() if isinstance(part, bytes) else part
                                             for part in parts], "")

    @staticmethod
    def _constant(text: bytes, keep: np.ndarray) -> pa.Array:
        import pyarrow as pa

        return pa.array([text.decode()] * int(np.count_nonzero(keep)), pa.string())

    def add(self, rows, first, last, suffix) -> None:
        self.parts.append((np.asarray(rows, dtype=np.int64), np.asarray(first, dtype=np.int64),
                           np.asarray(last, dtype=np.int64), suffix))

    def texts(self, count: int) -> pa.Array:
        """'c.' + the c. range (transcript order) + suffix per described variant, else null."""
        import pyarrow as pa
        import pyarrow.compute as pc

        rows, first, last = (np.concatenate([part[index] for part in self.parts])
                             for index in range(3))
        suffix = pa.concat_arrays([part[3] for part in self.parts]).cast(pa.string())
        if not self.plus:  # written in transcript order
            first, last = last, first
        start, end = (c_position_array(self.transcript, values) for values in (first, last))
        span = pc.if_else(pa.array(first == last), start,
                          pc.binary_join_element_wise(start, end, "_"))
        return scatter(count, [rows], [pc.binary_join_element_wise("c.", span, suffix, "")])


def _shared(a: np.ndarray, b: np.ndarray, a_at: np.ndarray, b_at: np.ndarray, step: int,
            limit: np.ndarray) -> np.ndarray:
    """How many bases two allele sets share walking from ``a_at`` / ``b_at`` by ``step``, at
    most ``limit``."""
    shared = np.zeros(len(a_at), dtype=np.int64)
    active = np.flatnonzero(limit > 0)
    while len(active):
        same = a[a_at[active] + step * shared[active]] == b[b_at[active] + step * shared[active]]
        active = active[same]
        shared[active] += 1
        active = active[shared[active] < limit[active]]
    return shared


def _ragged(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(item, index within the item) for every element of items of ``lengths``."""
    item = np.repeat(np.arange(len(lengths)), lengths)
    return item, np.arange(len(item)) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def scatter(count: int, rows: list[np.ndarray], values: list[pa.Array]) -> pa.Array:
    """A string array of ``count`` nulls with ``values[i]`` placed at ``rows[i]``."""
    import pyarrow as pa

    pool = pa.concat_arrays([*(value.cast(pa.string()) for value in values),
                             pa.nulls(1, pa.string())])
    index = np.full(count, len(pool) - 1, dtype=np.int64)
    if rows:
        index[np.concatenate(rows)] = np.arange(len(pool) - 1)
    return pool.take(pa.array(index))


def c_position_array(transcript: Transcript, positions) -> pa.Array:
    """``Transcript.c_position`` of many contig positions as a string array (same texts)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    transcript._require_coding()
    positions = np.asarray(positions, dtype=np.int64)
    plus = transcript.strand == "+"
    starts = np.array([start for start, _ in transcript.exons], dtype=np.int64)
    ends = np.array([end for _, end in transcript.exons], dtype=np.int64)
    lengths = ends - starts + 1
    # Spliced bases before each exon (genomic order), counted along the transcript.
    before = np.cumsum(lengths) - lengths if plus else lengths.sum() - np.cumsum(lengths)
    cds_length = transcript.cds_length
    cds_first = transcript.cds[0][0] if plus else transcript.cds[-1][1]

    def cds_offsets(exonic_positions, exon_index):
        """Offsets from the first CDS base along the spliced transcript."""
        along = (exonic_positions - starts[exon_index] if plus
                 else ends[exon_index] - exonic_positions)
        return before[exon_index] + along - first_offset

    first_offset = 0
    first_offset = int(cds_offsets(np.array([cds_first]),
                                   np.searchsorted(starts, [cds_first], side="right") - 1)[0])
    five_end = starts[0] if plus else ends[-1]
    three_end = ends[-1] if plus else starts[0]
    upstream = positions < five_end if plus else positions > five_end
    downstream = (positions > three_end if plus else positions < three_end) & ~upstream
    parts: list[tuple[np.ndarray, pa.Array]] = []
    if upstream.any():
        first_c = int(transcript._exonic_c(int(five_end)))  # c.-N, or c.1 without a 5' UTR
        parts.append((np.flatnonzero(upstream), _numbers(
            min(first_c, 0) - np.abs(positions[upstream] - five_end))))
    if downstream.any():
        last_c = transcript._exonic_c(int(three_end))
        carried = int(last_c[1:]) if last_c.startswith("*") else 0
        parts.append((np.flatnonzero(downstream), pc.binary_join_element_wise(
            "*", _numbers(carried + np.abs(positions[downstream] - three_end)), "")))
    rows = np.flatnonzero(~(upstream | downstream))
    inner = positions[rows]
    exon = np.searchsorted(starts, inner, side="right") - 1
    exonic = inner <= ends[exon]
    parts.append((rows[exonic], _cds_texts(cds_offsets(inner[exonic], exon[exonic]),
                                           cds_length)))
    intronic = ~exonic
    if intronic.any():
        at, left = inner[intronic], exon[intronic]  # between exon `left` and `left + 1`
        from_left, from_right = at - ends[left], starts[left + 1] - at
        left_c = _cds_texts(cds_offsets(ends[left], left), cds_length)
        right_c = _cds_texts(cds_offsets(starts[left + 1], left + 1), cds_length)
        # HGVS: the middle base of an odd-length intron belongs to the upstream exon.
        nearer_left = from_left <= from_right if plus else from_left < from_right
        toward, away = ("+", "-") if plus else ("-", "+")
        parts.append((rows[intronic], pc.if_else(
            pa.array(nearer_left),
            pc.binary_join_element_wise(left_c, _numbers(from_left), toward),
            pc.binary_join_element_wise(right_c, _numbers(from_right), away))))
    return scatter(len(positions), [part[0] for part in parts], [part[1] for part in parts])


def _numbers(values: np.ndarray) -> pa.Array:
    import pyarrow as pa

    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def _cds_texts(offsets: np.ndarray, cds_length: int) -> pa.Array:
    """c. text of 0-based offsets from the CDS start ('-12', '524', '*5'), as ``_exonic_c``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = _numbers(np.where(offsets < 0, offsets, np.where(
        offsets >= cds_length, offsets - cds_length + 1, offsets + 1)))
    return pc.if_else(pa.array(offsets >= cds_length),
                      pc.binary_join_element_wise("*", numbers, ""), numbers)
