"""Joining stack traces that arrived split over several entries.

Cloud Run writes one entry per line when a program prints a multi-line
traceback without a structured logger. The fragments of one trace share
the instance and the log, and arrive within a moment of each other, in
whatever order the file lists them. The stitcher holds such text entries
per (instance, log) until the stream moves on, then joins each run of
trace lines into a single event.
"""

from __future__ import annotations

__all__ = [
    "Stitcher",
    "Unsplittable",
]

import dataclasses
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta

from gardener_gate.entry import LogEntry
from gardener_gate.severity import Severity
from gardener_gate.stacktrace import (
    find_trace,
    is_chain_marker,
    is_exception_line,
    is_trace_continuation,
    is_trace_start,
)

_GAP = timedelta(seconds=1)
_HOLD = 512
_KEEP = 64
_FRAME = re.compile(r'^\s+(File "|at )')
# A key printed line by line: its lines are joined, so that redaction
# sees the whole block, not lines of base64 that look like words.
_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,60}KEY(?: BLOCK)?-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]{0,60}KEY(?: BLOCK)?-----")
_KEY_BODY = re.compile(r"[A-Za-z0-9+/]{1,4096}={0,2}")
# The headers of an encrypted PEM key and of PGP armour, before the body.
_KEY_HEADER = re.compile(
    r"(?:Proc-Type|DEK-Info|Version|Comment|MessageID|Hash|Charset): .{0,200}"
)
# The checksum line that ends PGP armour.
_KEY_CHECKSUM = re.compile(r"=[A-Za-z0-9+/]{4}")
# Blank lines, which are no entries, within a key: the armour's own, and
# one after each line where a program printed lines ending in a newline.
_KEY_GAP = 4

StreamKey = tuple[str, str]


class Unsplittable(Exception):
    """A stream's first run is too long to be set aside for joining."""


class Stitcher:
    """Turns entries into events, joining split traces on the way.

    A file read in parts gets a stitcher per part. The first part's keeps
    each stream's last run (``hold_last``), and the next part's sets aside
    each stream's first run (``defer_first``): the two runs meet in one
    more stitcher, as they would have met had the file been read whole.
    """

    def __init__(
        self, *, defer_first: bool = False, hold_last: bool = False
    ) -> None:
        self._held: dict[StreamKey, list[LogEntry]] = {}
        self.joined = 0
        self._defer_first = defer_first
        self._hold_last = hold_last
        self._started: set[StreamKey] = set()
        self.first_runs: dict[StreamKey, list[LogEntry]] = {}

    @property
    def last_runs(self) -> dict[StreamKey, list[LogEntry]]:
        """Each stream's run held at the end, with ``hold_last``."""
        return {key: held for key, held in self._held.items() if held}

    def events(self, entries: Iterable[LogEntry]) -> Iterator[LogEntry]:
        """Yield every entry once, split traces as one event each.

        Raises:
            Unsplittable: with ``defer_first``, a first run outgrew what
                is held of a stream.
        """
        for entry in entries:
            if not _may_be_fragment(entry):
                yield entry
                continue
            key = (entry.instance or "", entry.log_name)
            held = self._held.setdefault(key, [])
            # A run may span blank lines, which are no entries (_KEY_GAP).
            if held and not _near(held[-1], entry, lines=_KEY_GAP):
                yield from self._close(key, held)
                held.clear()
            held.append(entry)
            if len(held) > _HOLD:
                if self._defer_first and key not in self._started:
                    # Where the run would be cut depends on how much of
                    # it the part before holds.
                    raise Unsplittable(f"a run of over {_HOLD} lines")
                cut = _safe_cut(held)
                yield from self._assemble(held[:cut])
                del held[:cut]
        if self._hold_last:
            return
        for key, held in self._held.items():
            yield from self._close(key, held)
        self._held.clear()

    def _close(
        self, key: StreamKey, held: list[LogEntry]
    ) -> Iterator[LogEntry]:
        if self._defer_first and key not in self._started:
            self._started.add(key)
            self.first_runs[key] = list(held)
            return iter(())
        return self._assemble(held)

    def _assemble(self, held: list[LogEntry]) -> Iterator[LogEntry]:
        fragments = sorted(held, key=_order)
        start = 0
        while start < len(fragments):
            end = _run_end(fragments, start)
            run = fragments[start:end]
            if len(run) > 1 and (_holds_trace(run) or _is_key(run)):
                self.joined += len(run) - 1
                yield _join(run)
                start = end
            else:
                yield fragments[start]
                start += 1


def _may_be_fragment(entry: LogEntry) -> bool:
    # An entry of several lines was written whole; only one-line text
    # entries can be pieces of a trace.
    return (
        entry.kind == "message"
        and entry.payload is None
        and "\n" not in entry.message.strip()
    )


def _order(entry: LogEntry) -> tuple[float, str, int]:
    stamp = entry.timestamp.timestamp() if entry.timestamp else 0.0
    return stamp, entry.insert_id, entry.seq


def _near(before: LogEntry, after: LogEntry, lines: int = 1) -> bool:
    if before.timestamp is None or after.timestamp is None:
        return abs(after.seq - before.seq) <= lines
    return abs(after.timestamp - before.timestamp) <= _GAP


def _first_line(entry: LogEntry) -> str:
    return entry.message.split("\n", 1)[0]


def _opens_key(entry: LogEntry) -> bool:
    line = _first_line(entry)
    return bool(_KEY_BEGIN.search(line)) and not _KEY_END.search(line)


def _is_key(run: list[LogEntry]) -> bool:
    return _opens_key(run[0]) and bool(_KEY_END.search(_first_line(run[-1])))


def _key_end(fragments: list[LogEntry], start: int) -> int | None:
    # Only a key that reaches its END line is joined, and only lines a key
    # holds in their place: headers, then lines of one width, a shorter
    # last one and a checksum. A line that merely names a PEM header, or
    # a line logged amid a key, must not take other lines along.
    end = start + 1
    width = 0
    last = False
    while end < len(fragments) and _near(
        fragments[end - 1], fragments[end], lines=_KEY_GAP
    ):
        line = _first_line(fragments[end]).strip()
        if _KEY_END.search(line):
            return end + 1
        if _KEY_HEADER.fullmatch(line) and not width:
            pass
        elif _KEY_CHECKSUM.fullmatch(line):
            last = True
        elif _KEY_BODY.fullmatch(line) and not last:
            if not width:
                width = len(line)
            elif len(line) > width:
                return None
            last = len(line) < width
        else:
            return None
        end += 1
    return None


def _run_end(fragments: list[LogEntry], start: int) -> int:
    if _opens_key(fragments[start]):
        end = _key_end(fragments, start)
        if end is not None:
            return end
    python_open = is_trace_start(_first_line(fragments[start]))
    end = start + 1
    while end < len(fragments) and _near(fragments[end - 1], fragments[end]):
        line = _first_line(fragments[end])
        if is_trace_continuation(line):
            python_open = python_open or is_trace_start(line)
            end += 1
            continue
        if python_open and is_exception_line(line):
            end += 1
            python_open = False
            # A finished trace goes on only into a chained one.
            if end < len(fragments) and is_chain_marker(
                _first_line(fragments[end])
            ):
                continue
        break
    return end


def _holds_trace(run: list[LogEntry]) -> bool:
    head = run[0]
    if not is_trace_start(_first_line(head)) and (
        Severity.DEFAULT < head.severity < Severity.WARNING
    ):
        return False
    return any(
        is_trace_start(_first_line(f)) or _FRAME.match(f.message) for f in run
    )


def _join(run: list[LogEntry]) -> LogEntry:
    message = "\n".join(fragment.message for fragment in run)
    stack = find_trace(message)
    severity = max(f.severity for f in run)
    if stack is not None or not _opens_key(run[0]):
        # A trace is an error, whatever the stream said of its lines.
        severity = max(severity, Severity.ERROR)
    return dataclasses.replace(
        run[0],
        message=message,
        severity=severity,
        stack=stack,
        fragments=len(run),
    )


def _safe_cut(held: list[LogEntry]) -> int:
    cut = len(held) - _KEEP
    while cut > 1 and is_trace_continuation(_first_line(held[cut])):
        cut -= 1
    return cut
