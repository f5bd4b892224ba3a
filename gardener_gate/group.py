"""Entries a source has already grouped: a count, a time shape, samples.

A source that aggregates where the logs are (Log Analytics) hands the gate
groups of like entries instead of the entries themselves. Each group keeps
what the clusterer needs from entries it never sees: how many there were,
when, on which instances, how long the requests took, and its earliest
entries in full as samples.
"""

from __future__ import annotations

__all__ = [
    "EntryGroup",
]

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class EntryGroup:
    """Like entries, counted by the source; samples are raw entries.

    ``latencies`` holds every request latency of the group when there are
    few; past that, ``latency_buckets`` counts them on the clusterer's log
    scale. ``duplicates`` counts copies of the group's entries that the
    source left out.
    """

    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    samples: tuple[dict[str, Any], ...]
    hours: tuple[tuple[int, int], ...] = ()
    instances: tuple[tuple[str, int], ...] = ()
    latencies: tuple[float, ...] = ()
    latency_buckets: tuple[tuple[int, int], ...] = ()
    duplicates: int = 0
