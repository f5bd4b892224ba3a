"""list-entries-time-window, read from a file: the window is applied here."""

from __future__ import annotations

from conftest import CASES

INPUT = CASES / "list-entries-time-window" / "input.json"


def test_entries_outside_the_window_are_counted_not_analysed(gate):
    result = gate(
        "run",
        "--logs",
        str(INPUT),
        "--window",
        "72h",
        "--until",
        "2025-05-15T00:00:00Z",
    )

    assert result.worklog["entries"]["read"] == 7
    assert result.worklog["entries"]["outside_window"] == 1
    assert result.worklog["entries"]["analysed"] == 6
    ledger = result.cluster(kind="message")
    assert ledger["template"] == "Ledger export failed for batch <NUM>"
    assert ledger["count"] == 6
    assert ledger["first_seen"] == "2025-05-12T00:00:00Z"
    assert result.worklog["source"]["window"] == {
        "start": "2025-05-12T00:00:00Z",
        "end": "2025-05-15T00:00:00Z",
        "given": True,
        "hours": 72.0,
    }


def test_without_a_window_the_whole_file_is_read(gate):
    result = gate("run", "--logs", str(INPUT))

    assert result.worklog["entries"]["outside_window"] == 0
    assert result.cluster(kind="message")["count"] == 7
