"""The shard map: stable under additions and sheet order, sized by the config."""

import random

import pytest

from oncoweave.core.shards import shard_count, shard_map, shard_name, shard_of_patients

COHORT = [f"TCGA-{k:04d}" for k in range(1000)]


def test_adding_a_patient_changes_only_its_own_shard():
    before = shard_map(COHORT[:-1], shard_size=50, shards=16)
    after = shard_map(COHORT, shard_size=50, shards=16)
    changed = [shard for shard in after if after[shard] != before.get(shard)]
    assert len(changed) == 1
    new_shard = shard_of_patients(after)[COHORT[-1]]
    assert changed == [new_shard]
    assert sorted(set(after[new_shard]) - set(before[new_shard])) == [COHORT[-1]]


def test_adding_a_patient_below_a_power_of_two_keeps_every_other_shard():
    # 999 -> 1000 patients at 50 a shard: still 32 shards (1,600 fit), so one shard changes.
    before = shard_map(COHORT[:999])
    after = shard_map(COHORT)
    assert len(after) == len(before) == 32
    assert sum(after[shard] != before[shard] for shard in after) == 1


def test_map_does_not_depend_on_sheet_order_or_duplicates():
    shuffled = COHORT[:]
    random.Random(7).shuffle(shuffled)
    assert shard_map(shuffled + shuffled[:10]) == shard_map(COHORT)


def test_every_patient_in_exactly_one_shard_and_sizes_near_the_target():
    members = shard_map(COHORT, shard_size=50)
    assert sorted(p for patients in members.values() for p in patients) == sorted(COHORT)
    sizes = [len(patients) for patients in members.values()]
    assert sum(sizes) / len(sizes) <= 50 and max(sizes) < 3 * 50


def test_a_growing_cohort_splits_each_shard_into_two():
    small = shard_of_patients(shard_map(COHORT[:400], shard_size=50))  # 8 shards
    large = shard_of_patients(shard_map(COHORT[:401], shard_size=50))  # 16 shards
    for patient in COHORT[:400]:
        old, new = int(small[patient][1:]), int(large[patient][1:])
        assert new % 8 == old  # the new shard holds patients of one old shard only


def test_shard_count_and_names():
    assert [shard_count(n, 50) for n in (0, 1, 50, 51, 100, 101, 10_000)] == [1, 1, 1, 2, 2, 4, 256]
    assert shard_name(3, 4) == "s003" and shard_name(12, 4096) == "s0012"
    assert sorted(shard_name(k, 2000) for k in range(2000)) == [shard_name(k, 2000)
                                                               for k in range(2000)]
    with pytest.raises(ValueError, match="shard_size"):
        shard_count(10, 0)
