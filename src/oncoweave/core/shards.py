"""The shard map: which patients run together in one job of each light per-patient stage.

A patient's shard is a hash of its id (CRC-32) modulo the number of shards, so it depends on the id
alone, not on the sheet's order or on the other patients: adding a patient changes one shard's
membership and re-runs only that shard. The number of shards is the smallest power of two that keeps
the mean shard at or under ``shard_size`` patients (or a fixed ``shards`` count from the config). When
a growing cohort crosses a power of two the shards split: each new shard holds patients of exactly one
old shard, and every shard re-runs once.

Standard library only: the Snakefile imports this at parse time.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

DEFAULT_SHARD_SIZE = 50


def shard_count(n_patients: int, shard_size: int = DEFAULT_SHARD_SIZE) -> int:
    """The smallest power of two n with n_patients / n <= shard_size (at least 1)."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, not {shard_size}")
    count = 1
    while count * shard_size < n_patients:
        count *= 2
    return count


def shard_name(index: int, count: int) -> str:
    """'s003': zero-padded so that shard folders sort in order (at least three digits)."""
    return f"s{index:0{max(3, len(str(count - 1)))}d}"


def shard_index(patient: str, count: int) -> int:
    """The patient's shard among ``count``: CRC-32 of the id, so stable across runs and machines."""
    return zlib.crc32(patient.encode("utf-8")) % count


def shard_map(patients: Iterable[str], shard_size: int = DEFAULT_SHARD_SIZE,
              shards: int | None = None) -> dict[str, list[str]]:
    """Shard name -> its patients (sorted); shards without patients are left out.

    ``shards`` fixes the number of shards (a core that wants no split as its cohort grows);
    otherwise it follows from ``shard_size``.
    """
    patients = sorted(set(patients))
    count = shards if shards else shard_count(len(patients), shard_size)
    if count < 1:
        raise ValueError(f"the number of shards must be at least 1, not {count}")
    members: dict[str, list[str]] = {}
    for patient in patients:
        members.setdefault(shard_name(shard_index(patient, count), count), []).append(patient)
    return dict(sorted(members.items()))


def shard_of_patients(members: dict[str, list[str]]) -> dict[str, str]:
    """Patient -> shard name, from a shard map."""
    return {patient: shard for shard, patients in members.items() for patient in patients}
