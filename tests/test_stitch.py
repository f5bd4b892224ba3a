"""Joining traces split over entries, and leaving whole ones alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gardener_gate.entry import normalize
from gardener_gate.stitch import Stitcher

START = datetime(2025, 5, 12, 10, 0, tzinfo=UTC)


def make_entry(seq: int, text: str, seconds: float = 0.0, **overrides):
    raw = {
        "insertId": f"id-{seq}",
        "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
        "timestamp": (START + timedelta(seconds=seconds)).isoformat(),
        "textPayload": text,
        "labels": {"instanceId": "instance-a"},
    }
    raw.update(overrides)
    entry = normalize(seq, raw)
    assert not isinstance(entry, str)
    return entry


def _events(entries):
    return list(Stitcher().events(entries))


def test_whole_tracebacks_a_second_apart_stay_separate():
    whole = (
        "Traceback (most recent call last):\n"
        '  File "/app/x.py", line 1, in f\n    g()\nValueError: bad'
    )
    entries = [make_entry(n, whole, seconds=n) for n in range(5)]

    events = _events(entries)

    assert len(events) == 5
    assert {e.stack.exception for e in events} == {"ValueError"}


def test_two_split_tracebacks_in_a_row_make_two_events():
    lines = [
        "Traceback (most recent call last):",
        '  File "/app/x.py", line 1, in f',
        "    g()",
        "ValueError: bad",
    ]
    entries = [
        make_entry(n, line, seconds=n * 0.001)
        for n, line in enumerate(lines + lines)
    ]

    events = _events(entries)

    assert [e.fragments for e in events] == [4, 4]


def test_a_chained_traceback_stays_one_event():
    lines = [
        "Traceback (most recent call last):",
        '  File "/app/x.py", line 1, in f',
        "KeyError: 'a'",
        "During handling of the above exception, another exception occurred:",
        "Traceback (most recent call last):",
        '  File "/app/x.py", line 3, in f',
        "ValueError: bad",
    ]
    entries = [
        make_entry(n, line, seconds=n * 0.001) for n, line in enumerate(lines)
    ]

    events = _events(entries)

    assert len(events) == 1
    assert events[0].stack.exception == "ValueError"


def test_fragments_of_other_instances_are_not_joined():
    entries = [
        make_entry(0, "Traceback (most recent call last):"),
        make_entry(1, '  File "/app/x.py", line 1, in f', 0.001),
        make_entry(
            2, "Processed batch 41", 0.002, labels={"instanceId": "instance-b"}
        ),
        make_entry(3, "ValueError: bad", 0.003),
    ]

    events = _events(entries)

    assert sorted(e.fragments for e in events) == [1, 3]
