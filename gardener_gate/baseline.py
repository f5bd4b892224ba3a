"""The baseline: an earlier revision's clusters, and how ours compare.

A baseline comes from a run over the revision before (the same source,
another revision) or from the ``worklog.json`` of an earlier run. Each
cluster of this run is matched with its counterpart there: by fingerprint
when both runs used the same clustering, else by its words, so that an
upgrade of the clustering or a slightly reworded message still finds the
cluster it was. A match by words that are not the same words is shown as
changed. Rates are events per hour of each run's window, so that windows
of different lengths compare fairly.
"""

from __future__ import annotations

__all__ = [
    "Baseline",
    "Comparison",
    "Counterpart",
    "Standing",
    "compare",
    "span_hours",
]

import enum
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gardener_gate.cluster import ALGORITHM, Cluster
from gardener_gate.errors import UsageError

logger = logging.getLogger(__name__)

# Two templates of one kind are one message reworded when every word of
# the shorter is in the longer (words added, or moved) and they overlap at
# least this much (Dice's coefficient over the multisets of words). A word
# replaced makes another message: "cache hit" is not "cache miss".
SIMILAR = 0.75
# Pairs of templates weighed at most, so that thousands of clusters on
# both sides cannot make the comparison quadratic in time.
_MAX_PAIRS = 250_000
_PLACEHOLDER = re.compile(r"<[A-Z*]+>")
_RESERVED_KINDS = frozenset({"http"})


class Standing(enum.Enum):
    """How a cluster stands against the baseline."""

    UNKNOWN = "unknown"
    KNOWN = "known"
    UNEXPECTED_FREQUENCY = "unexpected_frequency"


@dataclass(frozen=True, slots=True)
class Counterpart:
    """A cluster of the baseline, as far as a comparison needs it."""

    id: str
    kind: str
    title: str
    count: int

    @property
    def words(self) -> tuple[str, ...]:
        """The title's words, every placeholder written alike."""
        return _words(self.title)


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the earlier revision logged, or why that is not known."""

    name: str
    algorithm: str
    hours: float
    clusters: tuple[Counterpart, ...]
    missing: str | None = None

    @classmethod
    def of_clusters(
        cls, name: str, clusters: Iterable[Cluster], hours: float
    ) -> Baseline:
        """A baseline from a run of this version over another revision."""
        return cls(
            name=name,
            algorithm=ALGORITHM,
            hours=hours,
            clusters=tuple(
                Counterpart(c.id, c.kind, c.template, c.count)
                for c in clusters
            ),
        )

    @classmethod
    def absent(cls, name: str, why: str) -> Baseline:
        """A baseline that was asked for and could not be had."""
        return cls(name, ALGORITHM, 1.0, (), missing=why)

    @classmethod
    def from_worklog(cls, path: Path) -> Baseline:
        """The baseline kept in an earlier run's ``worklog.json``.

        A file that does not exist is a missing baseline (the first run of
        a pipeline has none); a file that is not a worklog is an error.

        Raises:
            UsageError: the file cannot be read or is not a worklog.
        """
        name = f"worklog {path}"
        if path.is_dir():
            path = path / "worklog.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls.absent(name, f"{path} does not exist")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"--baseline {path}: cannot read it ({exc})"
            ) from None
        try:
            return _parse_worklog(name, json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise UsageError(
                f"--baseline {path}: not a gardener-gate worklog.json ({exc})"
            ) from None


@dataclass(frozen=True, slots=True)
class Comparison:
    """One cluster against the baseline."""

    standing: Standing
    baseline_count: int
    counterpart: Counterpart | None = None
    factor: float | None = None
    changed: bool = False


def span_hours(start: datetime | None, end: datetime | None) -> float:
    """The hours a window spans, at least one, so rates stay finite."""
    if start is None or end is None:
        return 1.0
    return max((end - start).total_seconds() / 3600, 1.0)


def compare(
    clusters: Iterable[Cluster],
    baseline: Baseline,
    hours: float,
    factor: float,
) -> dict[str, Comparison]:
    """Each cluster's standing against the baseline, by cluster id."""
    clusters = list(clusters)
    pairs = _pair(clusters, baseline)
    found = {}
    for cluster in clusters:
        match = pairs.get(cluster.id)
        if match is None:
            found[cluster.id] = Comparison(Standing.UNKNOWN, 0)
            continue
        counterpart, changed = match
        rise = (cluster.count / hours) / (counterpart.count / baseline.hours)
        standing = (
            Standing.UNEXPECTED_FREQUENCY if rise >= factor else Standing.KNOWN
        )
        found[cluster.id] = Comparison(
            standing, counterpart.count, counterpart, round(rise, 2), changed
        )
        logger.debug(
            "cluster=%s baseline=%s counterpart=%s rise=%.2f changed=%s",
            cluster.id,
            standing.value,
            counterpart.id,
            rise,
            changed,
        )
    return found


def _pair(
    clusters: list[Cluster], baseline: Baseline
) -> dict[str, tuple[Counterpart, bool]]:
    left = [c for c in baseline.clusters if c.count > 0]
    pairs: dict[str, tuple[Counterpart, bool]] = {}
    if baseline.algorithm == ALGORITHM:
        by_id = {c.id: c for c in left}
        for cluster in clusters:
            if cluster.id in by_id:
                pairs[cluster.id] = (by_id.pop(cluster.id), False)
        left = list(by_id.values())
    # The same words under another fingerprint: another version of the
    # clustering, or a merge that widened a template differently.
    by_words: dict[tuple[str, tuple[str, ...]], list[Counterpart]] = {}
    for counterpart in left:
        key = (counterpart.kind, counterpart.words)
        by_words.setdefault(key, []).append(counterpart)
    rest = []
    for cluster in clusters:
        if cluster.id in pairs:
            continue
        same = by_words.get((cluster.kind, _words(cluster.template)))
        if same:
            pairs[cluster.id] = (same.pop(0), False)
        else:
            rest.append(cluster)
    taken = {c.id for c, _ in pairs.values()}
    unpaired = [c for c in left if c.id not in taken]
    for cluster_id, counterpart in _similar(rest, unpaired).items():
        pairs[cluster_id] = (counterpart, True)
    return pairs


def _similar(
    clusters: list[Cluster], counterparts: list[Counterpart]
) -> dict[str, Counterpart]:
    """Reworded messages: the closest pairs first, each side used once."""
    scored: list[tuple[float, str, str, Counterpart]] = []
    weighed = 0
    for cluster in clusters:
        if cluster.kind in _RESERVED_KINDS:
            # An HTTP cluster is its status: a different one is another.
            continue
        words = Counter(_words(cluster.template))
        for counterpart in counterparts:
            if counterpart.kind != cluster.kind:
                continue
            weighed += 1
            if weighed > _MAX_PAIRS:
                logger.info(
                    "baseline: stopped weighing similar templates after %d "
                    "pairs",
                    _MAX_PAIRS,
                )
                return _closest(scored)
            score = _reworded(words, Counter(counterpart.words))
            if score >= SIMILAR:
                scored.append(
                    (-score, cluster.id, counterpart.id, counterpart)
                )
    return _closest(scored)


def _closest(
    scored: list[tuple[float, str, str, Counterpart]],
) -> dict[str, Counterpart]:
    chosen: dict[str, Counterpart] = {}
    used: set[str] = set()
    for _, cluster_id, counterpart_id, counterpart in sorted(scored):
        if cluster_id in chosen or counterpart_id in used:
            continue
        chosen[cluster_id] = counterpart
        used.add(counterpart_id)
    return chosen


def _reworded(first: Counter[str], second: Counter[str]) -> float:
    """Dice's coefficient, or 0 when a word of the shorter text is gone."""
    sizes = (first.total(), second.total())
    shared = (first & second).total()
    if not shared or shared < min(sizes):
        return 0.0
    return 2 * shared / sum(sizes)


def _words(title: str) -> tuple[str, ...]:
    return tuple(_PLACEHOLDER.sub("<*>", word) for word in title.split())


def _parse_worklog(name: str, data: Mapping[str, Any]) -> Baseline:
    tool = data.get("tool") or {}
    if tool.get("name") != "gardener-gate":
        raise ValueError("no tool.name gardener-gate")
    algorithm = str(tool.get("clustering") or "")
    window = data["source"]["window"]
    hours = span_hours(
        _moment(window.get("start")), _moment(window.get("end"))
    )
    clusters = tuple(
        Counterpart(
            id=str(item["id"]),
            kind=str(item["kind"]),
            title=str(item.get("template") or item["title"]),
            count=int(item["count"]),
        )
        for item in data["clusters"]
    )
    missing = None
    if not data["entries"]["events"]:
        missing = f"the {name} holds no events"
    return Baseline(name, algorithm, hours, clusters, missing)


def _moment(text: Any) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
