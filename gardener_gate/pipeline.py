"""One run of the gate: source, normalise, redact, cluster, decide."""

from __future__ import annotations

__all__ = [
    "Counts",
    "LogSource",
    "MeteredSource",
    "RunOptions",
    "RunResult",
    "SourceInfo",
    "judge",
    "run_day",
    "run_gate",
    "window_bounds",
]

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gardener_gate.baseline import Baseline, compare, span_hours
from gardener_gate.beside import Beside, Held, can_fork, held_logs, release
from gardener_gate.cluster import Cluster, Clusterer, ClusterState, Traffic
from gardener_gate.entry import LogEntry, normalize
from gardener_gate.errors import LogReadError, UsageError
from gardener_gate.group import EntryGroup
from gardener_gate.redact import Redactor, clean_text
from gardener_gate.rules import RuleSet
from gardener_gate.seen import KeySet
from gardener_gate.source import FileSource, Record, Skip
from gardener_gate.stitch import Stitcher, Unsplittable
from gardener_gate.verdict import Decision, decide

if TYPE_CHECKING:
    from gardener_gate.tracker import IssueLinks

logger = logging.getLogger(__name__)

MAX_SKIP_REASONS = 100
_MAX_INSTANCES = 1000
_MAX_REVISIONS = 1000
# Names counted for the header: revisions, and services, projects, regions.
_COUNTED_REVISIONS = 50
_COUNTED_ORIGINS = 20
# Events read between two looks at whether the second half gave up.
_ASK_EVERY = 4096


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What one run was asked to do."""

    revision: str | None = None
    window: timedelta | None = None
    until: datetime | None = None
    not_before: datetime | None = None
    threshold: int | None = None
    dry_run: bool = False
    now: datetime = field(default_factory=datetime.now)
    service: str | None = None
    project: str | None = None
    region: str | None = None


@dataclass(slots=True)
class Counts:
    """How many records went where (``entries`` in worklog.json)."""

    read: int = 0
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    duplicates: int = 0
    outside_window: int = 0
    outside_revision: int = 0
    events: int = 0

    @property
    def analysed(self) -> int:
        """Entries read, less duplicates and those outside the selection."""
        return (
            self.read
            - self.duplicates
            - self.outside_window
            - self.outside_revision
        )

    def skip(self, reason: str, count: int = 1) -> None:
        """Count skipped records, keeping the first reasons."""
        self.skipped += count
        if len(self.skip_reasons) < MAX_SKIP_REASONS:
            self.skip_reasons.append(reason)

    def join(self, later: Counts) -> None:
        """Add the counts of records read after these."""
        self.read += later.read
        self.skipped += later.skipped
        self.skip_reasons = (self.skip_reasons + later.skip_reasons)[
            :MAX_SKIP_REASONS
        ]
        self.duplicates += later.duplicates
        self.outside_window += later.outside_window
        self.outside_revision += later.outside_revision
        self.events += later.events


@dataclass(slots=True)
class SourceInfo:
    """Where the entries came from, as far as they tell."""

    kind: str
    name: str
    services: Counter[str] = field(default_factory=Counter)
    projects: Counter[str] = field(default_factory=Counter)
    regions: Counter[str] = field(default_factory=Counter)
    revisions: Counter[str] = field(default_factory=Counter)
    revision_starts: dict[str, datetime] = field(default_factory=dict)
    instances: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None
    window_given: bool = False
    bytes_processed: int | None = None
    bytes_billed: int | None = None

    seen_start: datetime | None = None
    seen_end: datetime | None = None

    def widen(self, moment: datetime | None) -> None:
        """Stretch the observed span (and window) to include ``moment``."""
        if moment is None:
            return
        if self.seen_start is None or moment < self.seen_start:
            self.seen_start = moment
        if self.seen_end is None or moment > self.seen_end:
            self.seen_end = moment
        if not self.window_given:
            self.window_start, self.window_end = self.seen_start, self.seen_end

    @property
    def active_hours(self) -> float:
        """Hours from the first entry analysed to the last: rates' base.

        A window given can reach before a revision started or after it
        stopped serving; the span of its entries is the time it logged.
        """
        return span_hours(self.seen_start, self.seen_end)


@dataclass(frozen=True, slots=True)
class RunResult:
    """Everything the worklog reports."""

    options: RunOptions
    rules: RuleSet
    source: SourceInfo
    counts: Counts
    clusters: tuple[Cluster, ...]
    traffic: Traffic
    decision: Decision
    cluster_overflow: int
    partial: str | None = None
    baseline: Baseline | None = None
    links: IssueLinks | None = None


class LogSource(Protocol):
    """Where records come from: a file, Cloud Logging, Log Analytics."""

    kind: str
    name: str
    partial: str | None

    def records(self) -> Iterator[Record | Skip | EntryGroup]:
        """Yield records in the order the source gives them.

        A source that groups like entries itself yields groups; their
        entries are never stitched, and pass the window and revision
        checks of the source's own query.
        """


@runtime_checkable
class MeteredSource(Protocol):
    """A source that pays by the byte and says, once read, how many."""

    bytes_processed: int | None
    bytes_billed: int | None


def run_gate(
    options: RunOptions,
    rules: RuleSet,
    logs: LogSource,
    baseline: Baseline | None = None,
    *,
    links: IssueLinks | None = None,
) -> RunResult:
    """Read the logs, cluster them and decide.

    ``links``: the repository's issues for the clusters, if looked up.

    Raises:
        LogReadError: the logs cannot be read, or the revision asked for is
            not in them.
    """
    source = SourceInfo(logs.kind, clean_text(logs.name))
    start, end = window_bounds(options)
    if end is not None:
        source.window_start, source.window_end = start, end
        source.window_given = True
    redactor = Redactor(rules.redact, rules.policy.redact_service_accounts)
    reading = None
    if isinstance(logs, FileSource):
        reading = _read_in_halves(logs, options, source, redactor, start, end)
    if reading is None:
        reading = _Reading(source, redactor, Stitcher())
        reading.read(logs.records(), options, start, end)
    # Read in halves, the first half's copy of the source holds the names.
    source, counts, observer, clusterer = (
        reading.source,
        reading.counts,
        reading.observer,
        reading.clusterer,
    )
    if counts.read == 0 and counts.skipped:
        raise LogReadError(
            f"{source.name}: none of its {counts.skipped} records is a log "
            f"entry ({counts.skip_reasons[0]})"
        )
    for group, samples in reading.groups:
        counts.events += group.count
        # The first sample is the group's earliest entry: the revision's
        # start comes out right.
        observer.start(samples[0])
        observer.revision(samples[0], group.count)
        observer.origin(
            samples[0], group.count, (name for name, _ in group.instances)
        )
        source.widen(group.first_seen)
        source.widen(group.last_seen)
        clusterer.add_group(samples, group)
    observer.finish()
    if isinstance(logs, MeteredSource):
        source.bytes_processed = logs.bytes_processed
        source.bytes_billed = logs.bytes_billed
    if (
        options.revision
        and counts.analysed == 0
        and counts.read
        and options.revision not in source.revision_starts
    ):
        # Entries of the revision outside the window are no data, not a
        # name the logs do not hold.
        seen = ", ".join(sorted(source.revisions)) or "none"
        raise LogReadError(
            f"revision {options.revision!r} wrote none of the {counts.read} "
            f"entries; revisions present: {seen}"
        )
    clusters = tuple(clusterer.clusters())
    return RunResult(
        options=options,
        rules=rules,
        source=source,
        counts=counts,
        clusters=clusters,
        traffic=clusterer.traffic,
        decision=_decide(
            options, rules, source, counts, clusters, baseline, links
        ),
        cluster_overflow=clusterer.overflow,
        partial=logs.partial,
        baseline=baseline,
        links=links,
    )


def judge(result: RunResult, baseline: Baseline) -> RunResult:
    """Decide again on the clusters of a run, against a baseline.

    For the revision before the one analysed, which only the run itself
    names when reading a file.
    """
    decision = _decide(
        result.options,
        result.rules,
        result.source,
        result.counts,
        result.clusters,
        baseline,
        result.links,
    )
    return replace(result, decision=decision, baseline=baseline)


def run_day(options: RunOptions) -> date:
    """The day acceptances expire against: ``--until``'s, or today's."""
    moment = options.until or options.now
    return moment.astimezone(UTC).date()


def _decide(
    options: RunOptions,
    rules: RuleSet,
    source: SourceInfo,
    counts: Counts,
    clusters: tuple[Cluster, ...],
    baseline: Baseline | None,
    links: IssueLinks | None,
) -> Decision:
    threshold = (
        options.threshold
        if options.threshold is not None
        else rules.policy.fail_on
    )
    compared = None
    if baseline is not None and baseline.missing is None:
        compared = compare(
            clusters,
            baseline,
            source.active_hours,
            rules.policy.frequency_factor,
        )
    return decide(
        clusters,
        rules,
        run_day(options),
        threshold,
        no_data=counts.events == 0,
        baseline=compared,
        no_baseline=baseline.missing if baseline is not None else None,
        links=links,
    )


def window_bounds(
    options: RunOptions,
) -> tuple[datetime | None, datetime | None]:
    """The window's start and end, the start no earlier than the revision.

    Raises:
        UsageError: the window reaches back before the year 1.
    """
    if options.window is None and options.until is None:
        return None, None
    end = options.until or options.now
    try:
        start = end - options.window if options.window is not None else None
    except OverflowError:
        raise UsageError(
            "--window reaches back before the year 1; give a shorter one"
        ) from None
    if options.not_before is not None and (
        start is None or options.not_before > start
    ):
        # The revision is younger than the window: nothing it logged can
        # be older than its start.
        start = options.not_before
    return start, end


class _Reading:
    """What reading records builds up: counts, names seen, clusters.

    A file read in two halves at once has one per half; the second is
    joined into the first, to the same result as reading the file whole.
    """

    def __init__(
        self, source: SourceInfo, redactor: Redactor, stitcher: Stitcher
    ) -> None:
        self.counts = Counts()
        self.source = source
        self.observer = _Observer(source, redactor)
        self.clusterer = Clusterer(redactor=redactor)
        self.seen = KeySet()
        self.stitcher = stitcher
        self.groups: list[tuple[EntryGroup, list[LogEntry]]] = []

    def read(
        self,
        records: Iterable[Record | Skip | EntryGroup],
        options: RunOptions,
        start: datetime | None,
        end: datetime | None,
        given_up: Callable[[], bool] | None = None,
    ) -> None:
        """Read ``records`` in; ``given_up`` is asked every so often whether
        to stop (raising ``_GivenUp``)."""
        entries = _select(
            _entries(records, self.counts, self.groups),
            options,
            self.counts,
            self.observer,
            self.seen,
            start,
            end,
        )
        self._count(self.stitcher.events(entries), given_up)

    def _count(
        self,
        events: Iterable[LogEntry],
        given_up: Callable[[], bool] | None = None,
    ) -> None:
        for event in events:
            self.counts.events += 1
            self.clusterer.add(event)
            if given_up and not self.counts.events % _ASK_EVERY and given_up():
                raise _GivenUp

    def half(self, partial: str | None, logged: Held) -> _Half:
        """What the second half hands over to be joined."""
        return _Half(
            counts=self.counts,
            seen_start=self.source.seen_start,
            seen_end=self.source.seen_end,
            observer=self.observer.state(),
            clusters=self.clusterer.state(),
            keys=self.seen,
            first_runs=self.stitcher.first_runs,
            partial=partial,
            logged=logged,
        )

    def join(self, half: _Half) -> str | None:
        """Take in the second half; why not, if it cannot be exact."""
        if self.seen.overlaps(half.keys):
            return "an entry is in both halves"
        why = self.observer.join(half.observer) or self.clusterer.join(
            half.clusters
        )
        if why:
            return why
        self.counts.join(half.counts)
        self.source.widen(half.seen_start)
        self.source.widen(half.seen_end)
        # Each stream's last run in the first half meets its first run in
        # the second, as it would have reading on.
        last_runs = self.stitcher.last_runs
        for key in {**last_runs, **half.first_runs}:
            run = last_runs.get(key, []) + half.first_runs.get(key, [])
            self._count(Stitcher().events(run))
        if self.clusterer.overflow:
            return "more clusters than the limit"
        return None


@dataclass(slots=True)
class _Half:
    """The second half's reading, as it crosses between processes."""

    counts: Counts
    seen_start: datetime | None
    seen_end: datetime | None
    observer: _ObserverState
    clusters: ClusterState
    keys: KeySet
    first_runs: dict[tuple[str, str], list[LogEntry]]
    partial: str | None
    logged: Held


def _read_in_halves(
    logs: FileSource,
    options: RunOptions,
    source: SourceInfo,
    redactor: Redactor,
    start: datetime | None,
    end: datetime | None,
) -> _Reading | None:
    """Read a large file as two halves at once, or None to read it whole.

    The second half is read in a forked process while this one reads the
    first. Where joining could give another result than one pass (an
    entry in both halves, a name or cluster limit reached, a trace run
    too long to set aside), the file is read again whole.
    """
    cut = logs.halves()
    if cut is None or not can_fork():
        return None

    def second() -> _Half | None:
        part = _Reading(replace(source), redactor, Stitcher(defer_first=True))
        with held_logs() as held:
            try:
                part.read(logs.records_between(cut, None), options, start, end)
            except Unsplittable as why:
                logger.debug("reading the file whole: %s", why)
                return None
        return part.half(logs.partial, held)

    beside = Beside(second)

    def given_up() -> bool:
        return beside.ready() and beside.result() is None

    first = _Reading(replace(source), redactor, Stitcher(hold_last=True))
    # What each half logs (skipped lines) is written out in file order
    # once the halves are joined, and not at all if the file is read again.
    records = logs.records_between(0, cut)
    stopped = False
    with held_logs() as held:
        try:
            first.read(records, options, start, end, given_up)
        except _GivenUp:
            stopped = True
    if stopped:
        logger.debug("reading the file whole: the second half gave up")
        return None
    half = beside.result()
    if half is None:
        logger.debug("reading the file whole: the second half failed")
        return None
    why = first.join(half)
    if why is not None:
        logger.debug("reading the file whole: %s", why)
        return None
    release(held + half.logged)
    logs.partial = logs.partial or half.partial
    return first


class _GivenUp(Exception):
    """The second half gave up: the first stops reading."""


def _entries(
    records: Iterable[Record | Skip | EntryGroup],
    counts: Counts,
    groups: list[tuple[EntryGroup, list[LogEntry]]],
) -> Iterator[LogEntry]:
    for record in records:
        if isinstance(record, EntryGroup):
            _read_group(record, counts, groups)
            continue
        if isinstance(record, Skip):
            counts.skip(record.reason)
            logger.info("skipped %s", record.reason)
            continue
        entry = normalize(record.position, record.value)
        if isinstance(entry, str):
            logger.info("skipped record %s: %s", record.position, entry)
            counts.skip(f"{record.where}: {entry}")
            continue
        counts.read += 1
        yield entry


def _read_group(
    group: EntryGroup,
    counts: Counts,
    groups: list[tuple[EntryGroup, list[LogEntry]]],
) -> None:
    # Like entries share what decides their cluster, so the group stands
    # or falls with its samples: unreadable samples skip the whole group.
    read = [normalize(n, raw) for n, raw in enumerate(group.samples)]
    samples = [entry for entry in read if not isinstance(entry, str)]
    if not samples:
        reason = next(
            (r for r in read if isinstance(r, str)), "no readable sample"
        )
        logger.info("skipped group of %s: %s", group.count, reason)
        counts.skip(f"group of {group.count} entries: {reason}", group.count)
        return
    counts.read += group.count + group.duplicates
    counts.duplicates += group.duplicates
    groups.append((group, samples))


@dataclass(slots=True)
class _ObserverState:
    """What an observer noted, without the objects it reports to."""

    revisions: Counter[str]
    starts: dict[str, datetime]
    first_origin: tuple[str | None, ...]
    instances: set[str]
    origins: tuple[Counter[str], ...]


def _join_counts(ours: Counter[str], theirs: Counter[str], limit: int) -> bool:
    """Add ``theirs`` to ``ours`` if no value was or would be left out."""
    if len(ours) >= limit or len(theirs) >= limit:
        return False
    if len(ours.keys() | theirs.keys()) > limit:
        return False
    ours.update(theirs)
    return True


class _Observer:
    """Notes where entries came from; the names are redacted at the end.

    Revision and service names reach the worklog, so they pass through
    the same redaction as messages do, once per distinct name.
    """

    def __init__(self, source: SourceInfo, redactor: Redactor) -> None:
        self._source = source
        self._redactor = redactor
        self._revisions: Counter[str] = Counter()
        self._starts: dict[str, datetime] = {}
        self._first_origin: tuple[str | None, ...] = (None, None, None)
        self._instances: set[str] = set()
        self._origins: tuple[Counter[str], ...] = (
            Counter(),
            Counter(),
            Counter(),
        )
        self._last_where: tuple[str | None, ...] = (None, None, None)
        self._repeats = 0

    def start(self, entry: LogEntry) -> None:
        """Note when the entry's revision was first seen, window or not.

        Every revision's start, so that the one before can be found among
        many; the counts shown stop at fifty names.
        """
        if not any(self._first_origin):
            self._first_origin = (entry.service, entry.project, entry.location)
        label, moment = entry.revision, entry.timestamp
        if not label or moment is None:
            return
        first = self._starts.get(label)
        if first is None:
            if len(self._starts) < _MAX_REVISIONS:
                self._starts[label] = moment
        elif moment < first:
            self._starts[label] = moment

    def revision(self, entry: LogEntry, count: int = 1) -> None:
        label = entry.revision or ""
        if label in self._revisions or (
            len(self._revisions) < _COUNTED_REVISIONS
        ):
            self._revisions[label] += count

    def origin(
        self,
        entry: LogEntry,
        count: int = 1,
        instances: Iterable[str] = (),
    ) -> None:
        where = (entry.service, entry.project, entry.location)
        if where == self._last_where:
            # Most entries come from where the one before came from.
            self._repeats += count
        else:
            self._count_where()
            self._last_where, self._repeats = where, count
        for instance in (entry.instance, *instances):
            if instance and len(self._instances) < _MAX_INSTANCES:
                self._instances.add(instance)
        self._source.widen(entry.timestamp)

    def _count_where(self) -> None:
        for counter, value in zip(
            self._origins, self._last_where, strict=True
        ):
            if value and (value in counter or len(counter) < _COUNTED_ORIGINS):
                counter[value] += self._repeats
        self._repeats = 0

    def state(self) -> _ObserverState:
        """What was noted, to be joined into another observer."""
        self._count_where()
        return _ObserverState(
            self._revisions,
            self._starts,
            self._first_origin,
            self._instances,
            self._origins,
        )

    def join(self, later: _ObserverState) -> str | None:
        """Add what was noted of later entries; why not, if it cannot be
        exact (a limit on names reached)."""
        self._count_where()
        starts = later.starts.keys() | self._starts.keys()
        if len(starts) >= _MAX_REVISIONS:
            return "more revisions than are noted"
        for ours, theirs in zip(self._origins, later.origins, strict=True):
            if not _join_counts(ours, theirs, _COUNTED_ORIGINS):
                return "more services, projects or regions than are noted"
        if not _join_counts(
            self._revisions, later.revisions, _COUNTED_REVISIONS
        ):
            return "more revisions than are counted"
        for name, moment in later.starts.items():
            first = self._starts.get(name)
            if first is None or moment < first:
                self._starts[name] = moment
        if not any(self._first_origin):
            self._first_origin = later.first_origin
        for instance in later.instances:
            if len(self._instances) >= _MAX_INSTANCES:
                break
            self._instances.add(instance)
        return None

    def finish(self) -> None:
        """Put the redacted names into the source's counts."""
        self._count_where()
        text = self._redactor.text
        for name, count in self._revisions.items():
            self._source.revisions[text(name) if name else "(none)"] += count
        for name, moment in self._starts.items():
            self._source.revision_starts[text(name)] = moment
        self._source.instances = len(self._instances)
        targets = (
            self._source.services,
            self._source.projects,
            self._source.regions,
        )
        for target, counter, first in zip(
            targets, self._origins, self._first_origin, strict=True
        ):
            for name, count in counter.items():
                target[text(name)] += count
            if not counter and first:
                # Nothing in the window: the header still names the
                # service the entries were of, with no entry counted.
                target[text(first)] = 0


def _select(
    entries: Iterable[LogEntry],
    options: RunOptions,
    counts: Counts,
    observer: _Observer,
    seen: KeySet,
    start: datetime | None,
    end: datetime | None,
) -> Iterator[LogEntry]:
    for entry in entries:
        if entry.insert_id and not seen.add(
            hash((entry.log_name, entry.timestamp, entry.insert_id))
        ):
            counts.duplicates += 1
            continue
        observer.start(entry)
        moment = entry.timestamp
        if moment is not None and (
            (start is not None and moment < start)
            or (end is not None and moment >= end)
        ):
            counts.outside_window += 1
            continue
        observer.revision(entry)
        if options.revision and entry.revision != options.revision:
            counts.outside_revision += 1
            continue
        observer.origin(entry)
        yield entry
