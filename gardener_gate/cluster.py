"""Grouping events into issue clusters.

Application messages cluster on their template (variables masked, see
``masking``); request logs on their HTTP status alone, with a breakdown of
routes, clients and platform messages inside; stack traces on the exception
that ended them and the innermost frame of the application's own code;
audit logs on service, method and outcome. Successful requests are not
issues: they feed the traffic baseline.

A cluster's id is a hash of its kind and key, prefixed with the version of
this algorithm, so that ids stay the same from run to run and change, on
purpose, when the algorithm does.
"""

from __future__ import annotations

__all__ = [
    "ALGORITHM",
    "OVERFLOW_ID",
    "Cluster",
    "ClusterState",
    "Clusterer",
    "Traffic",
    "is_traffic",
]

import bisect
import hashlib
import heapq
import http
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gardener_gate.clock import format_time
from gardener_gate.entry import LogEntry
from gardener_gate.group import EntryGroup
from gardener_gate.masking import digit_key, mask, shape, template_route
from gardener_gate.redact import Redactor
from gardener_gate.severity import Severity
from gardener_gate.stacktrace import StackTrace, find_trace

ALGORITHM = "c1"
_LATEST = datetime.max.replace(tzinfo=UTC)
SAMPLES = 3
MAX_CLUSTERS = 5000
_BREAKDOWN_KEYS = 50
# Values counted apart before the rest count as (other); the rows shown
# are the most frequent of them, whatever order the events came in.
_BREAKDOWN_KEEP = 1000
_OTHER = "(other)"
_MESSAGE_CHARS = 2000
_MESSAGE_LINES = 40
_PAYLOAD_CHARS = 4000
_STRING_CHARS = 500
# A position of a template whose value varies across at least this many
# clusters (all else equal) is a variable; fewer distinct words there are
# kept apart, since "shipped" and "cancelled" are different events.
_VARIABLE_WORDS = 3
_MERGE_WIDTH = 64
_DECIDED = 50_000
_DIGIT = re.compile(r"[0-9]")
_PAIR_WIDTH = 24


@dataclass(frozen=True, slots=True)
class Cluster:
    """One issue cluster, as the rest of the pipeline sees it."""

    id: str
    kind: str
    title: str
    template: str
    severity: Severity
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    samples: tuple[dict[str, Any], ...]
    hours: tuple[tuple[int, int], ...]
    status: int | None = None
    breakdown: dict[str, tuple[tuple[str, int], ...]] = field(
        default_factory=dict
    )
    location: str | None = None
    summary: str | None = None
    first_version: str | None = None
    latency_p50: float | None = None
    frames: tuple[str, ...] = ()
    sole_instance: str | None = None

    @property
    def routes(self) -> tuple[str, ...]:
        """Templated routes of an HTTP cluster, without their methods."""
        return tuple(
            route.split(" ", 1)[-1]
            for route, _ in self.breakdown.get("routes", ())
        )

    @property
    def clients(self) -> tuple[str, ...]:
        """User agents seen in an HTTP cluster."""
        return tuple(agent for agent, _ in self.breakdown.get("clients", ()))

    def texts(self) -> tuple[str, ...]:
        """The texts a signature's ``message`` pattern is searched in."""
        found = [self.template]
        if self.summary:
            found.append(self.summary)
        found.extend(str(s.get("message", "")) for s in self.samples)
        return tuple(found)


@dataclass(slots=True)
class Traffic:
    """Successful requests: the baseline, never an issue."""

    count: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    latencies: _LatencyHistogram = field(
        default_factory=lambda: _LatencyHistogram()
    )

    def as_dict(self) -> dict[str, Any]:
        """The ``traffic`` object of worklog.json."""
        return {
            "count": self.count,
            "by_status": {
                str(k): v for k, v in sorted(self.by_status.items())
            },
            "latency_p50_s": self.latencies.quantile(0.5),
            "latency_p95_s": self.latencies.quantile(0.95),
        }


class _LatencyHistogram:
    """Latency quantiles in bounded memory.

    The first values are kept exactly; past that, log-scale buckets about
    2.5% wide take over, so that millions of requests cost a few hundred
    counters.
    """

    _EXACT = 1024

    def __init__(self) -> None:
        self._values: list[float] = []
        self._buckets: Counter[int] = Counter()
        self.total = 0

    def add(self, seconds: float | None) -> None:
        if seconds is None or seconds < 0 or math.isnan(seconds):
            return
        self.total += 1
        if self._buckets:
            self._buckets[self._bucket(seconds)] += 1
        elif len(self._values) >= self._EXACT:
            self._spill()
            self._buckets[self._bucket(seconds)] += 1
        else:
            self._values.append(seconds)

    def merge(self, other: _LatencyHistogram) -> None:
        self.add_counts(other._values, other._buckets.items())

    def add_counts(
        self, values: Iterable[float], buckets: Iterable[tuple[int, int]]
    ) -> None:
        """Add exact values, and counts already put into buckets."""
        for value in values:
            self.add(value)
        counted = Counter(dict(buckets))
        if counted:
            self._spill()
            self._buckets.update(counted)
            self.total += sum(counted.values())

    def quantile(self, q: float) -> float | None:
        if not self.total:
            return None
        if not self._buckets:
            return round(_interpolate(sorted(self._values), q), 6)
        rank = q * self.total
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return round(math.exp(bucket / 40), 6)
        return None

    def _spill(self) -> None:
        for value in self._values:
            self._buckets[self._bucket(value)] += 1
        self._values.clear()

    @staticmethod
    def _bucket(seconds: float) -> int:
        return round(math.log(max(seconds, 1e-6)) * 40)


def _interpolate(values: list[float], q: float) -> float:
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


class _Breakdown(Counter[str]):
    """A counter that folds values past a limit into one ``(other)`` row.

    Past the limit, the values named are those with the smallest ranks (a
    stable hash), whatever order events came in: a value among them was
    named from its first event on, so its count is exact, and two halves
    of a file join to what one pass counts.
    """

    def add(self, value: str, count: int = 1) -> None:
        if value in self:
            self[value] += count
            return
        named = len(self) - (_OTHER in self)
        if value == _OTHER or named < _BREAKDOWN_KEEP:
            self[value] = count
            return
        ranks = self._ranks()
        rank = _rank(value)
        if rank < -ranks[0][0]:
            _, evicted = heapq.heapreplace(ranks, (-rank, value))
            self[_OTHER] += self.pop(evicted)
            self[value] = count
        else:
            self[_OTHER] += count

    def _ranks(self) -> list[tuple[int, str]]:
        # A heap of the named values, largest rank first; built when the
        # limit is first reached (or lost on the way between processes).
        ranks: list[tuple[int, str]] | None = self.__dict__.get("ranks")
        if ranks is None:
            ranks = [(-_rank(v), v) for v in self if v != _OTHER]
            heapq.heapify(ranks)
            self.__dict__["ranks"] = ranks
        return ranks

    def rows(self) -> tuple[tuple[str, int], ...]:
        """The most frequent values, and the rest as ``(other)``."""
        ranked = sorted(
            (kv for kv in self.items() if kv[0] != _OTHER),
            key=lambda kv: (-kv[1], kv[0]),
        )
        other = self[_OTHER] + sum(n for _, n in ranked[_BREAKDOWN_KEYS:])
        shown = ranked[:_BREAKDOWN_KEYS]
        if other:
            shown.append((_OTHER, other))
        return tuple(sorted(shown, key=lambda kv: (-kv[1], kv[0])))


@dataclass(slots=True)
class _Stats:
    kind: str
    key: str
    title: str
    severity: Severity
    status: int | None = None
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    samples: list[tuple[tuple[float, str, int], dict[str, Any]]] = field(
        default_factory=list
    )
    hours: Counter[int] = field(default_factory=Counter)
    breakdown: dict[str, _Breakdown] = field(default_factory=dict)
    latencies: _LatencyHistogram = field(
        default_factory=lambda: _LatencyHistogram()
    )
    # The trace of the earliest event, whatever order events came in.
    stack: tuple[tuple[float, str, int], StackTrace] | None = None
    first_version: tuple[datetime | None, str] | None = None
    first_summary: tuple[tuple[float, str, int], str] | None = None
    members: list[tuple[str, str]] = field(default_factory=list)
    # Up to two full instance ids, and whether an event had none: enough
    # to tell a cluster that one instance alone logged.
    hosts: set[str] = field(default_factory=set)
    unplaced: bool = False

    def add(
        self,
        event: LogEntry,
        seen: _Seen | None,
        redactor: Redactor,
    ) -> None:
        # ``seen`` is None for a message as logged, with no trace.
        self.count += 1
        moment = event.timestamp
        if moment is not None:
            self._widen(moment)
            self.hours[int(moment.timestamp() // 3600)] += 1
        self._keep_sample(event, seen, redactor)
        if event.version:
            self._note_version(event.version, moment)
        if event.http is not None:
            self.latencies.add(event.http.latency)
        if (
            event.instance
            or event.revision
            or event.logger
            or event.location_hint
            or event.http is not None
        ):
            instances = ((event.instance, 1),) if event.instance else ()
            message = event.message if seen is None else seen.message
            self._count_parts(event, 1, instances, message, redactor.text)
        else:
            # A plain line: nothing to count apart, and no instance.
            self.unplaced = True

    def add_group(
        self,
        samples: Sequence[LogEntry],
        group: EntryGroup,
        text: Callable[[str], str],
    ) -> None:
        # The source grouped like entries: the samples tell what they are,
        # the group how many there were, when, where and how fast.
        self.count += group.count
        self._widen(group.first_seen)
        self._widen(group.last_seen)
        self.hours.update(dict(group.hours))
        for event in samples:
            self._keep_sample(event, _Seen(event.message, event.stack), None)
        self._note_version(samples[0].version, group.first_seen)
        self.latencies.add_counts(group.latencies, group.latency_buckets)
        self._count_parts(
            samples[0],
            group.count,
            group.instances,
            samples[0].message,
            text,
        )

    def _widen(self, moment: datetime | None) -> None:
        if moment is None:
            return
        if self.first_seen is None or moment < self.first_seen:
            self.first_seen = moment
        if self.last_seen is None or moment > self.last_seen:
            self.last_seen = moment

    def _keep_sample(
        self, event: LogEntry, seen: _Seen | None, redactor: Redactor | None
    ) -> None:
        # ``seen`` holds the event's redacted message and trace; the rest
        # of the event is redacted only when it becomes a sample, which
        # few events do (``redactor`` is None for events redacted whole).
        order = _order(event)
        if len(self.samples) < SAMPLES or order < self.samples[-1][0]:
            shown = event if redactor is None else redactor.entry(event)
            bisect.insort(self.samples, (order, _sample(shown)))
            del self.samples[SAMPLES:]
        if seen is None or seen.stack is None:
            return
        if self.stack is None or order < self.stack[0]:
            self.stack = (order, seen.stack)
        summary = _human_line(seen.message)
        if summary and (
            self.first_summary is None or order < self.first_summary[0]
        ):
            self.first_summary = (order, summary)

    def _note_version(
        self, version: str | None, moment: datetime | None
    ) -> None:
        # Equal moments fall to the smaller version, whatever the order.
        if version and (
            self.first_version is None
            or ((moment or _LATEST), version)
            < ((self.first_version[0] or _LATEST), self.first_version[1])
        ):
            self.first_version = (moment, version)

    def _count_parts(
        self,
        event: LogEntry,
        count: int,
        instances: Iterable[tuple[str, int]],
        message: str,
        text: Callable[[str], str],
    ) -> None:
        # Values are counted redacted (``text``, cached per distinct
        # value): values that redact alike are one value, and the limit on
        # values counts what is shown.
        if event.revision:
            self._tally("revisions", text(event.revision), count)
        placed = 0
        for instance, times in instances:
            self._tally("instances", text(instance)[-12:], times)
            placed += times
            if len(self.hosts) < 2:
                self.hosts.add(instance)
        if placed < count:
            self.unplaced = True
        if event.logger:
            self._tally("loggers", text(event.logger), count)
        if event.location_hint:
            self._tally("locations", text(event.location_hint), count)
        if event.http is not None:
            route = template_route(text(event.http.url))
            method = text(event.http.method)
            self._tally("routes", f"{method} {route}", count)
            agent = text(event.http.user_agent) or "(none)"
            self._tally("clients", agent, count)
            if message.strip():
                self._tally("platform messages", mask(message), count)

    def _tally(self, name: str, value: str, count: int = 1) -> None:
        rows = self.breakdown.get(name)
        if rows is None:
            rows = self.breakdown[name] = _Breakdown()
        rows.add(value, count)

    def join(self, later: _Stats) -> None:
        """Add the same cluster's events counted elsewhere."""
        if self.kind == "message":
            self.title = min(self.title, later.title)
        self.absorb(later, members=False)

    def absorb(self, other: _Stats, *, members: bool = True) -> None:
        if members:
            self.members.extend(other.members)
        self.hosts = set(sorted(self.hosts | other.hosts)[:2])
        self.unplaced = self.unplaced or other.unplaced
        self.count += other.count
        self._widen(other.first_seen)
        self._widen(other.last_seen)
        self.samples = sorted(self.samples + other.samples)[:SAMPLES]
        self.hours.update(other.hours)
        for name, rows in other.breakdown.items():
            for value, count in rows.items():
                self._tally(name, value, count)
        self.latencies.merge(other.latencies)
        self.severity = max(self.severity, other.severity)
        if other.first_summary is not None and (
            self.first_summary is None
            or other.first_summary < self.first_summary
        ):
            self.first_summary = other.first_summary
        if other.stack is not None and (
            self.stack is None or other.stack[0] < self.stack[0]
        ):
            self.stack = other.stack
        if other.first_version is not None:
            self._note_version(other.first_version[1], other.first_version[0])

    def freeze(self, redactor: Redactor) -> Cluster:
        # Hosts and versions were kept as logged; they are redacted here.
        text = redactor.text
        breakdown = {name: b.rows() for name, b in self.breakdown.items()}
        frames: tuple[str, ...] = ()
        # The most frequent location named, never the (other) row.
        named = (v for v, _ in breakdown.get("locations", ()) if v != _OTHER)
        location = next(named, None)
        if self.stack is not None:
            stack = self.stack[1]
            frames = tuple(
                f"{f.file}:{f.line} in {f.function}"
                for f in stack.frames
                if f.is_app
            )
            culprit = stack.culprit
            if culprit is not None and location is None:
                location = f"{culprit.file}:{culprit.line} {culprit.function}"
        return Cluster(
            id=cluster_id(self.kind, self.key),
            kind=self.kind,
            title=self.title,
            template=self.title,
            severity=self.severity,
            count=self.count,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            samples=tuple(sample for _, sample in self.samples),
            hours=tuple(sorted(self.hours.items())),
            status=self.status,
            breakdown=breakdown,
            location=location,
            summary=self.first_summary[1] if self.first_summary else None,
            first_version=text(self.first_version[1])
            if self.first_version
            else None,
            latency_p50=self.latencies.quantile(0.5),
            frames=frames,
            sole_instance=(
                text(next(iter(self.hosts)))
                if len(self.hosts) == 1 and not self.unplaced
                else None
            ),
        )


def _rank(value: str) -> int:
    digest = hashlib.blake2b(
        value.encode("utf-8", "surrogatepass"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def cluster_id(kind: str, key: str) -> str:
    """The stable id of a cluster: algorithm version and a key hash."""
    digest = hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()
    return f"{ALGORITHM}-{digest[:12]}"


# Past the cap, events of new shapes share this one cluster. It holds
# unrelated events, so no signature may accept it.
OVERFLOW_ID = cluster_id("message", "overflow")


@dataclass(slots=True)
class ClusterState:
    """What a clusterer counted, to be joined into another."""

    stats: dict[tuple[str, str], _Stats]
    traffic: Traffic
    overflow: int


@dataclass(slots=True)
class _Seen:
    """What an event's cluster is decided on: its redacted message and
    the trace read from it."""

    message: str
    stack: StackTrace | None


class Clusterer:
    """Accumulates events into clusters, in memory bounded by clusters.

    Events come in as read; the clusterer redacts what it keeps with
    ``redactor`` (the message of every event, the rest of the few events
    kept as samples, and breakdown values once each).
    """

    def __init__(
        self,
        max_clusters: int = MAX_CLUSTERS,
        redactor: Redactor | None = None,
    ) -> None:
        self._redactor = redactor if redactor is not None else Redactor()
        self._stats: dict[tuple[str, str], _Stats] = {}
        self._decided: dict[
            tuple[bytes, Severity], tuple[_Stats, tuple[str, str]]
        ] = {}
        self._max = max_clusters
        self.traffic = Traffic()
        self.overflow = 0
        self.assignment: dict[tuple[str, str], str] = {}
        self._frozen: list[Cluster] | None = None

    def add(self, event: LogEntry) -> tuple[str, str] | None:
        """Count one event into its cluster, or into the traffic baseline.

        Returns the shape the event was counted under (None for traffic);
        after ``clusters()``, ``assignment`` maps each shape to its
        cluster's id.
        """
        digits = None
        if event.http is not None:
            if is_traffic(event):
                self.count_traffic(event)
                return None
        elif (
            event.kind == "message"
            and event.stack is None
            and event.flattened is None
        ):
            digits = digit_key(event.message)
            known = (
                self._decided.get((digits, event.severity))
                if digits is not None
                else None
            )
            if known is not None:
                # Decided only for keys found clean: nothing to redact.
                known[0].add(event, None, self._redactor)
                return known[1]
        seen = self._seen(event)
        stats, shape, title = self._stats_for(event, seen)
        stats.add(event, seen, self._redactor)
        if (
            digits is not None
            and shape[1] != "overflow"
            and _DIGIT.search(title) is None
            and self._redactor.known_clean(digits)
        ):
            # A message with nothing to redact whose template keeps no
            # digit decides for every message that differs from it only
            # in its digits (see masking and redact).
            if len(self._decided) >= _DECIDED:
                self._decided.clear()
            self._decided[(digits, event.severity)] = (stats, shape)
        return shape

    def _seen(self, event: LogEntry) -> _Seen:
        message = self._redactor.message(event)
        if event.stack is None or message == event.message:
            return _Seen(message, event.stack)
        # Paths and exception names are shown too: the trace is read again
        # from the redacted text.
        return _Seen(message, find_trace(message))

    def add_group(
        self, samples: Sequence[LogEntry], group: EntryGroup
    ) -> None:
        """Count a group of like entries that the source counted for us.

        ``samples`` are the group's earliest entries, normalised; the first
        decides the cluster, as it would have decided for every entry of
        the group.
        """
        samples = [self._redactor.entry(sample) for sample in samples]
        first = samples[0]
        if is_traffic(first):
            assert first.http is not None and first.http.status is not None
            self.traffic.count += group.count
            self.traffic.by_status[first.http.status] += group.count
            self.traffic.latencies.add_counts(
                group.latencies, group.latency_buckets
            )
            return
        seen = _Seen(first.message, first.stack)
        stats, shape, _ = self._stats_for(first, seen)
        for event in samples[1:]:
            kind, key, title = _identify(
                event, _Seen(event.message, event.stack)
            )
            if (kind, key) == shape and kind == "message":
                stats.title = min(stats.title, title)
        stats.add_group(samples, group, self._redactor.text)

    def _stats_for(
        self, event: LogEntry, seen: _Seen
    ) -> tuple[_Stats, tuple[str, str], str]:
        if self._frozen is not None:
            # Decided events come here too once merging cleared them.
            raise RuntimeError("an event counted after the clusters were")
        http_status = event.http.status if event.http is not None else None
        kind, key, title = _identify(event, seen)
        stats = self._stats.get((kind, key))
        if stats is None:
            if len(self._stats) >= self._max:
                # Past the cap, new shapes share one visible cluster rather
                # than evicting a cluster that is already counted.
                self.overflow += 1
                kind, key = "message", "overflow"
                title = "Other events (cluster limit reached)"
                stats = self._stats.get((kind, key))
            if stats is None:
                stats = _Stats(kind, key, title, event.severity, http_status)
                stats.members.append((kind, key))
                self._stats[(kind, key)] = stats
        elif kind == "message" and title < stats.title:
            # Events of one shape can read differently (vis=<NUM> and
            # vis=<HEX>); the title is the same whatever the input order.
            stats.title = title
        stats.severity = max(stats.severity, event.severity)
        return stats, (kind, key), title

    def state(self) -> ClusterState:
        """What was counted, to be joined into another clusterer."""
        return ClusterState(self._stats, self.traffic, self.overflow)

    def join(self, later: ClusterState) -> str | None:
        """Add what another clusterer counted; why not, if a cluster limit
        makes the result depend on which events came first."""
        if self._frozen is not None:
            raise RuntimeError("clusters joined after they were merged")
        if self.overflow or later.overflow:
            return "more clusters than the limit"
        for key, stats in later.stats.items():
            mine = self._stats.get(key)
            if mine is None:
                self._stats[key] = stats
            else:
                mine.join(stats)
        if len(self._stats) > self._max:
            return "more clusters than the limit"
        self.traffic.count += later.traffic.count
        self.traffic.by_status.update(later.traffic.by_status)
        self.traffic.latencies.merge(later.traffic.latencies)
        return None

    def count_traffic(self, event: LogEntry) -> None:
        """Count a successful request into the baseline: status, latency.

        Only those two are kept, so the event need not be redacted.
        """
        assert event.http is not None and event.http.status is not None
        self.traffic.count += 1
        self.traffic.by_status[event.http.status] += 1
        self.traffic.latencies.add(event.http.latency)

    def clusters(self) -> list[Cluster]:
        """The clusters, with variable words merged, most events first.

        Merging ends the counting: later calls give the same clusters,
        and an event counted after the first raises RuntimeError.
        """
        if self._frozen is not None:
            return list(self._frozen)
        self._decided.clear()
        merged = _merge_variables(list(self._stats.values()))
        frozen = []
        for stats in merged:
            cluster = stats.freeze(self._redactor)
            frozen.append(cluster)
            for member in stats.members:
                self.assignment[member] = cluster.id
        frozen.sort(key=lambda c: (-c.count, c.id))
        self._frozen = frozen
        return list(frozen)


def is_traffic(event: LogEntry) -> bool:
    """Whether an event is a successful request (2xx, 3xx), not an issue."""
    status = event.http.status if event.http is not None else None
    return status is not None and 200 <= status < 400


def _identify(event: LogEntry, seen: _Seen) -> tuple[str, str, str]:
    if event.http is not None:
        status = event.http.status
        return "http", str(status or "unknown"), _http_title(status)
    if event.kind == "audit":
        title = seen.message
        return "audit", f"{event.severity.name}\0{title}", title
    if seen.stack is not None:
        stack = seen.stack
        culprit = stack.culprit
        if culprit is None:
            title = stack.exception
        else:
            title = f"{stack.exception} in {culprit.function} ({culprit.file})"
        return "trace", title, title
    template = mask(seen.message)
    return "message", f"{event.severity.name}\0{shape(template)}", template


def _http_title(status: int | None) -> str:
    if status is None:
        return "HTTP status unknown"
    if status == 499:
        return "HTTP 499 Client Closed Request"
    try:
        return f"HTTP {status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _human_line(message: str) -> str | None:
    first = message.split("\n", 1)[0].strip()
    if not first or first.startswith("Traceback"):
        return None
    return mask(first)


def _order(event: LogEntry) -> tuple[float, str, int]:
    stamp = event.timestamp.timestamp() if event.timestamp else 0.0
    return stamp, event.insert_id, event.seq


def _sample(event: LogEntry) -> dict[str, Any]:
    sample: dict[str, Any] = {}
    if event.timestamp is not None:
        sample["timestamp"] = format_time(event.timestamp)
    sample["severity"] = event.severity.name
    if event.severity_raw != event.severity.name:
        sample["severity_raw"] = event.severity_raw
    for name, value in (
        ("insertId", event.insert_id),
        ("log", event.stream if event.log_name else ""),
        ("revision", event.revision),
        ("instance", (event.instance or "")[-12:]),
        ("logger", event.logger),
    ):
        if value:
            sample[name] = value
    if event.labels:
        sample["labels"] = dict(event.labels)
    if event.message.strip():
        sample["message"] = trim_message(event.message)
    if event.fragments > 1:
        sample["stitched_from"] = event.fragments
    if event.http is not None:
        sample["httpRequest"] = {
            "requestMethod": event.http.method,
            "requestUrl": event.http.url[:_STRING_CHARS],
            "status": event.http.status,
            "latency_s": event.http.latency,
            "userAgent": event.http.user_agent[:_STRING_CHARS],
        }
    if event.payload is not None:
        sample["payload"] = _trim_payload(dict(event.payload))
    if event.notes:
        sample["notes"] = list(event.notes)
    return sample


def trim_message(text: str) -> str:
    """Cap a message for display, saying how long it really was."""
    lines = text.split("\n")
    trimmed = "\n".join(lines[:_MESSAGE_LINES])[:_MESSAGE_CHARS]
    if trimmed == text:
        return text
    return f"{trimmed}… (truncated, {len(text)} chars)"


def _trim_payload(payload: Any) -> Any:
    def trim(value: Any, depth: int) -> Any:
        if isinstance(value, str):
            if len(value) > _STRING_CHARS:
                return (
                    f"{value[:_STRING_CHARS]}… (truncated, {len(value)} chars)"
                )
            return value
        if depth > 6:
            return "…"
        if isinstance(value, dict):
            return {k: trim(v, depth + 1) for k, v in list(value.items())[:50]}
        if isinstance(value, list):
            return [trim(v, depth + 1) for v in value[:20]]
        return value

    trimmed = trim(payload, 0)
    if (
        len(json.dumps(trimmed, ensure_ascii=False, default=str))
        > _PAYLOAD_CHARS
    ):
        return {"(keys)": sorted(str(k) for k in payload)[:50]}
    return trimmed


def _merge_variables(stats: Iterable[_Stats]) -> list[_Stats]:
    """Merge message clusters that differ only in one variable position."""
    rest: list[_Stats] = []
    groups: dict[tuple[str, int], list[_Stats]] = {}
    for item in stats:
        if item.kind != "message" or item.key == "overflow":
            rest.append(item)
            continue
        severity, _, form = item.key.partition("\0")
        groups.setdefault((severity, len(form.split(" "))), []).append(item)
    for (severity, _), members in sorted(groups.items()):
        rest.extend(_merge_group(severity, members))
    return rest


def _tokens(item: _Stats) -> list[str]:
    return item.key.partition("\0")[2].split(" ")


def _merge_group(severity: str, members: list[_Stats]) -> list[_Stats]:
    members.sort(key=lambda s: s.key)
    if len(_tokens(members[0])) > _MERGE_WIDTH:
        # Long texts vary in too many places for merging by position.
        return members
    changed = True
    while changed and len(members) > 1:
        changed = False
        # Keys change only where clusters merge, after which this pass
        # ends: each key is split once a pass.
        split = [(item, tuple(_tokens(item))) for item in members]
        width = len(split[0][1])
        merged: set[int] = set()
        # The first word names the event ("cupsd startup succeeded" and
        # "klogd startup succeeded" are two events), so it never varies;
        # where all keys agree, no two can merge.
        varying = [
            position
            for position in range(1, width)
            if len({tokens[position] for _, tokens in split}) > 1
        ]
        for position in varying:
            buckets: dict[
                tuple[tuple[str, ...], tuple[str, ...]], list[_Stats]
            ] = {}
            for item, tokens in split:
                hole = (tokens[:position], tokens[position + 1 :])
                buckets.setdefault(hole, []).append(item)
            # Most buckets hold one cluster; only the others are sorted.
            for (before, after), group in sorted(
                (hole, group)
                for hole, group in buckets.items()
                if len(group) > 1
            ):
                if not _is_variable(group, position):
                    continue
                group.sort(key=lambda s: (-s.count, s.key))
                keep = group[0]
                _widen(keep, severity, [*before, "\0", *after], position)
                for other in group[1:]:
                    keep.absorb(other)
                    merged.add(id(other))
                changed = True
            if changed:
                break
        if changed:
            members = [item for item in members if id(item) not in merged]
        elif width <= _PAIR_WIDTH and len(members) <= 1000:
            changed = _merge_pairs(severity, members, width)
    return members


def _merge_pairs(severity: str, members: list[_Stats], width: int) -> bool:
    # Two key=value tokens can vary together (name=android, ws=null and
    # name=com.android.phone, ws=WorkSource{1}); no single position then
    # differs alone, so pairs of value positions are tried: positions
    # where some cluster holds a variable or a key=value token, and where
    # clusters differ (a pair with a position alike in all is one position,
    # which the single positions already tried).
    split = [(item, _tokens(item)) for item in members]
    values = [
        position
        for position in range(1, width)
        if len({tokens[position] for _, tokens in split}) > 1
        and any(
            tokens[position] == "<*>" or _key_prefix(tokens[position])
            for _, tokens in split
        )
    ]
    for index, first in enumerate(values):
        for second in values[index + 1 :]:
            buckets: dict[tuple[str, ...], list[_Stats]] = {}
            for item, tokens in split:
                holed = list(tokens)
                holed[first] = holed[second] = "\0"
                buckets.setdefault(tuple(holed), []).append(item)
            for _, group in sorted(
                (holed, group)
                for holed, group in buckets.items()
                if len(group) > 1
            ):
                if not all(
                    _is_value_position({_tokens(i)[p] for i in group})
                    for p in (first, second)
                ):
                    continue
                group.sort(key=lambda s: (-s.count, s.key))
                keep = group[0]
                tokens = _tokens(keep)
                _widen(keep, severity, tokens, first)
                _widen(keep, severity, _tokens(keep), second)
                for other in group[1:]:
                    keep.absorb(other)
                    members.remove(other)
                return True
    return False


def _widen(
    keep: _Stats, severity: str, tokens: list[str], position: int
) -> None:
    wildcard = _wildcard(_tokens(keep)[position])
    tokens[position] = wildcard
    keep.key = f"{severity}\0{' '.join(tokens)}"
    title = keep.title.split(" ")
    if len(title) == len(tokens):
        title[position] = wildcard
        keep.title = " ".join(title)
    else:
        keep.title = " ".join(tokens)


def _is_variable(group: list[_Stats], position: int) -> bool:
    values = {_tokens(item)[position] for item in group}
    if _is_value_position(values):
        return True
    constant = sum(1 for token in _tokens(group[0]) if "<*>" not in token)
    if constant - 1 < 2:
        # Too little would be left to tell the events apart.
        return False
    return len(values) >= _VARIABLE_WORDS


def _is_value_position(values: set[str]) -> bool:
    """Whether a position holds values: a variable, or one key's values."""
    if "<*>" in values:
        # A position already variable takes in a plain value too.
        return True
    prefixes = {_key_prefix(value) for value in values}
    return len(prefixes) == 1 and bool(next(iter(prefixes)))


def _key_prefix(token: str) -> str:
    for sign in ("=", ":"):
        head, found, tail = token.partition(sign)
        if found and head and tail:
            return head + sign
    return ""


def _wildcard(token: str) -> str:
    prefix = _key_prefix(token)
    closing = ""
    for char in ")],;":
        if token.endswith(char):
            closing = char
            break
    return f"{prefix}<*>{closing}"
