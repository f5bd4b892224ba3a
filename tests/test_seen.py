"""The key set that finds duplicate entries: exact, whatever its size."""

from __future__ import annotations

import random

from gardener_gate.seen import KeySet


def test_every_key_added_again_is_found_and_no_new_one_is():
    draw = random.Random(3)
    keys = list({draw.getrandbits(64) - (1 << 63) for _ in range(50_000)})
    found = KeySet(recent=1000)

    first = [found.add(key) for key in keys]
    again = [found.add(key) for key in keys]

    assert all(first)
    assert not any(again)
    assert len(found) == len(keys)


def test_keys_stay_found_across_merges_and_growth():
    found = KeySet(recent=64)
    keys = list(range(0, 3_000_000, 3))
    for key in keys:
        found.add(key)

    assert not any(found.add(key) for key in keys[::101])
    assert all(found.add(key) for key in range(1, 30_000, 3))
    assert len(found) == len(keys) + 10_000


def test_keys_are_taken_as_64_bit_hashes():
    found = KeySet()

    assert found.add(-1)
    assert found.add((1 << 64) - 2)
    assert not found.add(-1)
    assert not found.add((1 << 64) - 1)


def test_two_sets_overlap_exactly_when_a_key_is_in_both():
    rng = random.Random(11)
    first, second = KeySet(recent=1000), KeySet(recent=1000)
    keys = [rng.getrandbits(64) for _ in range(30_000)]
    for key in keys[:15_000]:
        first.add(key)
    for key in keys[15_000:]:
        second.add(key)

    assert not first.overlaps(second)
    assert not second.overlaps(first)
    # One key shared, from the sorted runs of one and the recent of other.
    second.add(keys[10])
    assert first.overlaps(second)
    assert second.overlaps(first)
