"""The baseline: an earlier revision's clusters, and how ours compare.

A baseline comes from a run over the revision before (the same source,
another revision) or from the ``worklog.json`` of an earlier run. Each
cluster of this run is matched with its counterpart there: by fingerprint
when both runs used the same clustering, else by its words, so that an
upgrade of the clustering or a slightly reworded message still finds the
cluster it was. A match by words that are not the same words is shown as
changed. A counterpart of a lower severity is no counterpart: an error
that the revision before logged as information is news. Rates are events
per hour of the time each revision was seen logging, so that revisions
that served for different lengths of time compare fairly.
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
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gardener_gate.cluster import ALGORITHM, Cluster
from gardener_gate.errors import UsageError
from gardener_gate.severity import Severity

logger = logging.getLogger(__name__)

# Two templates of one kind are one message reworded when every word of
# the shorter is in the longer (words added, or moved) and they overlap at
# least this much (Dice's coefficient over the multisets of words). A word
# replaced makes another message: "cache hit" is not "cache miss".
SIMILAR = 0.75
# Words whose addition turns a message into its opposite.
_NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "cannot",
        "can't",
        "couldn't",
        "unable",
        "fail",
        "failed",
        "failure",
        "error",
        "denied",
        "refused",
        "rejected",
        "without",
    }
)
# Pairs of templates weighed at most; past it the worklog says the
# comparison was cut short.
MAX_PAIRS = 1_000_000
_MAX_FILE_BYTES = 256 << 20
_MAX_TITLE = 2000
_MAX_COUNT = 10**15
_PLACEHOLDER = re.compile(r"<[A-Z*]+>")


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
    severity: Severity = Severity.DEFAULT
    words: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.words:
            object.__setattr__(self, "words", _words(self.title))


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the earlier revision logged, or why that is not known."""

    name: str
    algorithm: str
    hours: float
    clusters: tuple[Counterpart, ...]
    missing: str | None = None
    events: int = 0
    revision: str | None = None
    service: str | None = None
    first_seen: datetime | None = None

    @classmethod
    def of_clusters(
        cls,
        name: str,
        clusters: Iterable[Cluster],
        hours: float,
        events: int,
    ) -> Baseline:
        """A baseline from a run of this version over another revision."""
        return cls(
            name=name,
            algorithm=ALGORITHM,
            hours=hours,
            clusters=tuple(
                Counterpart(c.id, c.kind, c.template, c.count, c.severity)
                for c in clusters
            ),
            events=events,
        )

    @classmethod
    def absent(cls, name: str, why: str) -> Baseline:
        """A baseline that was asked for and could not be had."""
        return cls(name, ALGORITHM, 1.0, (), missing=why)

    @classmethod
    def from_worklog(
        cls, path: Path, redact: Callable[[str], str] = str
    ) -> Baseline:
        """The baseline kept in an earlier run's ``worklog.json``.

        A file that does not exist is a missing baseline (the first run of
        a pipeline has none); a file that is not a worklog is an error.
        Titles pass through ``redact``: a hand-made file may hold what the
        run's own redaction would remove.

        Raises:
            UsageError: the file cannot be read or is not a worklog.
        """
        name = f"worklog {path}"
        if path.is_dir():
            path = path / "worklog.json"
        if not path.exists():
            return cls.absent(name, "the file does not exist")
        if not path.is_file():
            raise UsageError(f"--baseline {path}: not a regular file")
        try:
            if path.stat().st_size > _MAX_FILE_BYTES:
                raise UsageError(
                    f"--baseline {path}: larger than "
                    f"{_MAX_FILE_BYTES >> 20} MiB; not a worklog"
                )
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"--baseline {path}: cannot read it ({type(exc).__name__})"
            ) from None
        except (ValueError, RecursionError):
            raise UsageError(
                f"--baseline {path}: not a gardener-gate worklog.json (not "
                "JSON)"
            ) from None
        try:
            return _parse_worklog(name, data, redact)
        except _NotAWorklog as exc:
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


@dataclass(frozen=True, slots=True)
class Compared:
    """Every cluster's comparison, and whether weighing was cut short."""

    by_cluster: Mapping[str, Comparison]
    cut_short: bool = False


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
) -> Compared:
    """Each cluster's standing against the baseline, by cluster id."""
    clusters = list(clusters)
    pairs, cut_short = _pair(clusters, baseline)
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
            standing, counterpart.count, counterpart, rise, changed
        )
        logger.debug(
            "cluster=%s baseline=%s counterpart=%s rise=%.2f changed=%s",
            cluster.id,
            standing.value,
            counterpart.id,
            rise,
            changed,
        )
    return Compared(found, cut_short)


def _pair(
    clusters: list[Cluster], baseline: Baseline
) -> tuple[dict[str, tuple[Counterpart, bool]], bool]:
    left = [c for c in baseline.clusters if c.count > 0]
    pairs: dict[str, tuple[Counterpart, bool]] = {}
    if baseline.algorithm == ALGORITHM:
        by_id = {c.id: c for c in left}
        for cluster in clusters:
            counterpart = by_id.get(cluster.id)
            if counterpart is not None and _may_pair(cluster, counterpart):
                pairs[cluster.id] = (by_id.pop(cluster.id), False)
        left = list(by_id.values())
    # The same words under another fingerprint: another version of the
    # clustering, or a merge that widened a template differently.
    by_words: dict[tuple[str, tuple[str, ...]], list[Counterpart]] = {}
    for counterpart in left:
        key = (counterpart.kind, counterpart.words)
        by_words.setdefault(key, []).append(counterpart)
    rest = []
    taken: set[str] = set()
    for cluster in clusters:
        if cluster.id in pairs:
            continue
        same = [
            c
            for c in by_words.get((cluster.kind, _words(cluster.template)), [])
            if c.id not in taken and _may_pair(cluster, c)
        ]
        if same:
            pairs[cluster.id] = (same[0], False)
            taken.add(same[0].id)
        else:
            rest.append(cluster)
    unpaired = [c for c in left if c.id not in taken]
    similar, cut_short = _similar(rest, unpaired)
    for cluster_id, counterpart in similar.items():
        pairs[cluster_id] = (counterpart, True)
    return pairs, cut_short


def _may_pair(cluster: Cluster, counterpart: Counterpart) -> bool:
    # An HTTP cluster is its status, whatever the severity of its entries.
    return cluster.kind == "http" or counterpart.severity >= cluster.severity


def _similar(
    clusters: list[Cluster], counterparts: list[Counterpart]
) -> tuple[dict[str, Counterpart], bool]:
    """Reworded messages: the closest pairs first, each side used once.

    Only pairs that could be a rewording are weighed: the shorter text's
    every word is in the longer, so a counterpart shares the cluster's
    rarest word, or the cluster holds the counterpart's rarest word.
    """
    candidates = [c for c in counterparts if c.kind != "http"]
    postings: dict[str, list[int]] = {}
    for index, counterpart in enumerate(candidates):
        for word in set(counterpart.words):
            postings.setdefault(word, []).append(index)
    by_rarest: dict[str, list[int]] = {}
    for index, counterpart in enumerate(candidates):
        if counterpart.words:
            rarest = min(
                counterpart.words, key=lambda w: (len(postings[w]), w)
            )
            by_rarest.setdefault(rarest, []).append(index)
    scored: list[tuple[float, str, str, Counterpart]] = []
    weighed = 0
    for cluster in clusters:
        if cluster.kind == "http":
            continue
        words = _words(cluster.template)
        present = [w for w in set(words) if w in postings]
        if not present:
            continue
        rarest = min(present, key=lambda w: (len(postings[w]), w))
        chosen = set(postings[rarest])
        for word in set(words):
            chosen.update(by_rarest.get(word, ()))
        counted = Counter(words)
        for index in sorted(chosen):
            counterpart = candidates[index]
            if counterpart.kind != cluster.kind or not _may_pair(
                cluster, counterpart
            ):
                continue
            weighed += 1
            if weighed > MAX_PAIRS:
                logger.info(
                    "baseline: stopped weighing similar templates after %d "
                    "pairs",
                    MAX_PAIRS,
                )
                return _closest(scored), True
            score = _reworded(counted, Counter(counterpart.words))
            if score >= SIMILAR:
                scored.append(
                    (-score, cluster.id, counterpart.id, counterpart)
                )
    return _closest(scored), False


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
    """Dice's coefficient, or 0 when a word of the shorter text is gone.

    Words added that negate the message make another message: "payment
    captured" and "payment not captured" are opposites.
    """
    sizes = (first.total(), second.total())
    shared = (first & second).total()
    if not shared or shared < min(sizes):
        return 0.0
    added = (first - second) + (second - first)
    if any(word.lower().strip(".,;:!") in _NEGATIONS for word in added):
        return 0.0
    return 2 * shared / sum(sizes)


def _words(title: str) -> tuple[str, ...]:
    return tuple(
        _PLACEHOLDER.sub("<*>", word) for word in title[:_MAX_TITLE].split()
    )


class _NotAWorklog(Exception):
    """What makes a file no worklog, said without echoing its content."""


def _field(data: Any, *path: str) -> Any:
    value = data
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise _NotAWorklog(f"no {'.'.join(path)}")
        value = value[key]
    return value


def _count(value: Any, where: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value < _MAX_COUNT
    ):
        raise _NotAWorklog(f"{where} is not a count")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _NotAWorklog(f"{where} is not text")
    return value


def _moment(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(
            _text(value, where).replace("Z", "+00:00")
        )
    except ValueError:
        raise _NotAWorklog(f"{where} is not a time") from None
    if moment.tzinfo is None:
        raise _NotAWorklog(f"{where} has no time zone")
    return moment


def _hours(data: Mapping[str, Any]) -> float:
    observed = _field(data, "source").get("observed")
    if isinstance(observed, dict) and "hours" in observed:
        hours = observed["hours"]
        if (
            isinstance(hours, int | float)
            and not isinstance(hours, bool)
            and math.isfinite(hours)
            and 0 < hours < 10**7
        ):
            return max(float(hours), 1.0)
        raise _NotAWorklog("source.observed.hours is not a number of hours")
    start = _moment(_field(data, "source", "window", "start"), "window.start")
    end = _moment(_field(data, "source", "window", "end"), "window.end")
    if start is not None and end is not None and end < start:
        raise _NotAWorklog("its window ends before it starts")
    return span_hours(start, end)


def _counterpart(
    index: int, item: Any, redact: Callable[[str], str]
) -> Counterpart:
    where = f"clusters[{index}]"
    if not isinstance(item, dict):
        raise _NotAWorklog(f"{where} is not an object")
    title = item.get("template") or item.get("title")
    severity = item.get("severity", "DEFAULT")
    if severity not in Severity.__members__:
        raise _NotAWorklog(f"{where}.severity is not a severity")
    return Counterpart(
        id=_text(item.get("id"), f"{where}.id")[:100],
        kind=_text(item.get("kind"), f"{where}.kind")[:20],
        title=redact(_text(title, f"{where}.title")[:_MAX_TITLE]),
        count=_count(item.get("count"), f"{where}.count"),
        severity=Severity[severity],
    )


def _parse_worklog(
    name: str, data: Any, redact: Callable[[str], str]
) -> Baseline:
    if _field(data, "tool", "name") != "gardener-gate":
        raise _NotAWorklog("tool.name is not gardener-gate")
    algorithm = _text(_field(data, "tool", "clustering"), "tool.clustering")
    items = _field(data, "clusters")
    if not isinstance(items, list):
        raise _NotAWorklog("clusters is not a list")
    clusters = tuple(
        _counterpart(index, item, redact) for index, item in enumerate(items)
    )
    events = _count(_field(data, "entries", "events"), "entries.events")
    source = _field(data, "source")
    revision, service = source.get("revision"), source.get("service")
    observed = source.get("observed")
    first_seen = (
        _moment(observed.get("first"), "source.observed.first")
        if isinstance(observed, dict)
        else None
    )
    baseline = Baseline(
        name=name,
        algorithm=algorithm[:20],
        hours=_hours(data),
        clusters=clusters,
        events=events,
        revision=revision if isinstance(revision, str) else None,
        service=service if isinstance(service, str) else None,
        first_seen=first_seen,
    )
    if data.get("partial"):
        return Baseline.absent(name, "that run read its logs only in part")
    if not events:
        return Baseline.absent(name, "that run had no events")
    return baseline
