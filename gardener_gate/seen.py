"""The keys of the entries read so far, exact, in little memory.

Duplicates (the same ``logName``, ``timestamp`` and ``insertId``) can
stand anywhere in an export, so every key must be kept; a set of Python
integers costs some 60 bytes a key. Here recent keys sit in a small set,
and every so many are sorted into an array of 8-byte integers; arrays of
like size merge, so that a lookup searches a few of them. A Bloom filter
answers most lookups of a key never seen without searching at all.
"""

from __future__ import annotations

__all__ = [
    "KeySet",
]

from array import array
from bisect import bisect_left
from heapq import merge
from itertools import chain

_MASK64 = (1 << 64) - 1
# Bits of the Bloom filter per key held, before it doubles.
_BITS_PER_KEY = 12


class KeySet:
    """A set of 64-bit keys that only grows: about 10 bytes a key."""

    def __init__(self, recent: int = 1 << 16) -> None:
        self._limit = recent
        self._recent: set[int] = set()
        self._runs: list[array[int]] = []
        self._size = 0
        # One MiB of filter holds some 700,000 keys before it doubles.
        self._bits = bytearray(1 << 20)
        self._top = len(self._bits) * 8 - 1

    def __len__(self) -> int:
        return self._size

    def add(self, key: int) -> bool:
        """Add ``key``; False when it was there already."""
        # Inline on purpose: this runs once per entry read.
        key &= _MASK64
        bits, top = self._bits, self._top
        first, second = key & top, (key >> 32) & top
        one, two = 1 << (first & 7), 1 << (second & 7)
        first >>= 3
        second >>= 3
        if (
            bits[first] & one
            and bits[second] & two
            and (key in self._recent or self._in_runs(key))
        ):
            return False
        bits[first] |= one
        bits[second] |= two
        self._recent.add(key)
        self._size += 1
        if len(self._recent) >= self._limit:
            self._flush()
        if self._size * _BITS_PER_KEY > self._top:
            self._grow()
        return True

    def overlaps(self, other: KeySet) -> bool:
        """Whether a key is in both sets.

        Each key of the smaller set is looked up in the larger, most of
        them answered by its Bloom filter: time grows with the keys.
        """
        small, large = sorted((self, other), key=len)
        return any(map(large._holds, chain(*small._runs, small._recent)))

    def _holds(self, key: int) -> bool:
        bits, top = self._bits, self._top
        first, second = key & top, (key >> 32) & top
        return bool(
            bits[first >> 3] & (1 << (first & 7))
            and bits[second >> 3] & (1 << (second & 7))
            and (key in self._recent or self._in_runs(key))
        )

    def _in_runs(self, key: int) -> bool:
        for run in self._runs:
            index = bisect_left(run, key)
            if index < len(run) and run[index] == key:
                return True
        return False

    def _flush(self) -> None:
        self._runs.append(array("Q", sorted(self._recent)))
        self._recent.clear()
        while len(self._runs) > 1 and len(self._runs[-1]) >= len(
            self._runs[-2]
        ):
            newer = self._runs.pop()
            older = self._runs.pop()
            # Merged as a stream: sorting would build a list of Python
            # integers, the very cost this class avoids.
            self._runs.append(array("Q", merge(older, newer)))

    def _grow(self) -> None:
        self._bits = bits = bytearray(len(self._bits) * 2)
        self._top = top = len(bits) * 8 - 1
        for run in (*self._runs, self._recent):
            for key in run:
                for position in (key & top, (key >> 32) & top):
                    bits[position >> 3] |= 1 << (position & 7)
