"""Joining traces split over entries, and leaving whole ones alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

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


KEY_LINES = [
    "could not load key: -----BEGIN RSA PRIVATE KEY-----",
    "Proc-Type: 4,ENCRYPTED",
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "-----END RSA PRIVATE KEY-----",
]


def test_a_key_printed_line_by_line_is_one_event():
    # Alone, a line of base64 is a word: only the whole block is a key.
    text = "\n".join(["INFO starting", *KEY_LINES, "INFO done"])
    entries = [
        make_entry(n, line, seconds=n * 0.001)
        for n, line in enumerate(text.split("\n"))
    ]

    events = _events(entries)

    assert [e.fragments for e in events] == [1, 5, 1]
    assert events[1].message == "\n".join(KEY_LINES)
    assert events[1].stack is None
    assert events[1].severity.name == "DEFAULT"


def test_a_key_without_its_end_is_not_joined_and_leaks_nothing(tmp_path, gate):
    logs = tmp_path / "app.log"
    logs.write_text(
        "\n".join(
            [
                KEY_LINES[0],
                KEY_LINES[2],
                "INFO key loaded, serving",
                "INFO done",
            ]
        )
    )

    result = gate("run", "--logs", str(logs))

    titles = sorted(c["title"] for c in result.worklog["clusters"])
    assert titles == [
        "<REDACTED>",
        "could not load key: <REDACTED>",
        "done",
        "key loaded, serving",
    ]
    assert "MIIEow" not in result.markdown + json.dumps(result.worklog)


def test_a_line_that_names_a_key_header_takes_no_line_along(tmp_path, gate):
    logs = tmp_path / "app.log"
    logs.write_text(
        "ERROR config: SIGNING_KEY must start with -----BEGIN PRIVATE KEY-----"
        "\npanic: runtime error: invalid memory address\n"
        "Error: connect ECONNREFUSED 127.0.0.1:5432\n"
    )

    result = gate("run", "--logs", str(logs))

    assert len(result.worklog["clusters"]) == 3


@pytest.mark.parametrize("newline", ["\n", "\n\n"])
def test_an_armoured_key_in_a_text_log_leaves_no_line_out(
    tmp_path, gate, newline
):
    # Printed lines that end in a newline come double spaced: the
    # armour's own blank line then makes three.
    logs = tmp_path / "app.log"
    lines = [
        "WARNING signing key: -----BEGIN PGP PRIVATE KEY BLOCK-----",
        "Version: 1",
        "",
        "lQOYBGZ5xk8BCACx9Q2",
        "=Ab12",
        "-----END PGP PRIVATE KEY BLOCK-----",
        "INFO done",
    ]
    logs.write_text(newline.join(lines) + "\n")

    result = gate("run", "--logs", str(logs))

    titles = sorted(c["title"] for c in result.worklog["clusters"])
    assert titles == ["done", "signing key: <REDACTED>"]


def test_a_key_on_one_line_is_not_extended():
    lines = [
        "key -----BEGIN EC PRIVATE KEY-----abc-----END EC PRIVATE KEY-----",
        "next",
    ]
    entries = [
        make_entry(n, line, seconds=n * 0.001) for n, line in enumerate(lines)
    ]

    assert [e.fragments for e in _events(entries)] == [1, 1]


def test_a_line_not_of_the_key_ends_it_and_keeps_its_cluster(tmp_path, gate):
    logs = tmp_path / "app.log"
    logs.write_text(
        "\n".join([*KEY_LINES[:2], "INFO health check passed", *KEY_LINES[2:]])
    )

    result = gate("run", "--logs", str(logs))

    titles = [c["title"] for c in result.worklog["clusters"]]
    assert "health check passed" in titles
    assert "MIIEow" not in result.markdown + json.dumps(result.worklog)


def test_lines_after_a_key_header_without_end_stay_apart():
    lines = ["key: -----BEGIN PRIVATE KEY-----", "    g()"]
    entries = [
        make_entry(n, line, seconds=n * 0.001) for n, line in enumerate(lines)
    ]

    assert [e.fragments for e in _events(entries)] == [1, 1]


@pytest.mark.parametrize(
    ("amid", "at"),
    [
        (["Error: payment gateway timeout", "KeyError: 'order_id'"], 3),
        (["Done"], 3),
        (["Version: 2.3.1"], 3),
        (["=Ab12"], 1),
        (["Ready"], 2),
    ],
)
def test_lines_logged_amid_a_key_keep_their_clusters(tmp_path, gate, amid, at):
    # In its place a key holds headers, then lines of one width, a shorter
    # last one and a checksum: nothing else is taken for a line of it.
    logs = tmp_path / "app.log"
    logs.write_text("\n".join([*KEY_LINES[:at], *amid, *KEY_LINES[at:]]))

    result = gate("run", "--logs", str(logs))

    shown = json.dumps(result.worklog)
    assert all(line in shown for line in amid)
    assert "MIIEow" not in shown
    assert "VTLw7" not in shown
