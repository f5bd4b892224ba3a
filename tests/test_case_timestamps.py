"""Case gcloud-json-desc-timestamps: newest-first arrays, mixed times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES, rules_folder

from gardener_gate.entry import LogEntry, normalize

CASE = CASES / "gcloud-json-desc-timestamps"
INPUT = CASE / "input.json"
EMPTY = CASE / "input-empty.json"
TEMPLATE = "Inventory sync lag <DURATION>"
NO_TIMESTAMP_ID = "gcl999999999999999999999"
RECEIVE_NOTE = "no timestamp; receiveTimestamp used"


def _raw_entries() -> list[dict[str, Any]]:
    return json.loads(INPUT.read_text("utf-8"))


def _raw_entry(insert_id: str) -> dict[str, Any]:
    (found,) = [e for e in _raw_entries() if e["insertId"] == insert_id]
    return found


def _write(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def _comparable(worklog: dict[str, Any]) -> dict[str, Any]:
    """The worklog without what names the input file or the run time."""
    data = json.loads(json.dumps(worklog))
    del data["generated_at"]
    del data["source"]["path"]
    return data


def _all_timestamps(worklog: dict[str, Any]) -> list[str]:
    window = worklog["source"]["window"]
    found = [window["start"], window["end"]]
    for cluster in worklog["clusters"]:
        found += [cluster["first_seen"], cluster["last_seen"]]
        found += [hour["hour"] for hour in cluster["hours"]]
        found += [sample["timestamp"] for sample in cluster["samples"]]
    return found


def test_newest_first_array_forms_one_warning_cluster_of_six(gate):
    result = gate("run", "--logs", str(INPUT))

    cluster = result.cluster(template=TEMPLATE)
    assert len(result.worklog["clusters"]) == 1
    assert cluster["kind"] == "message"
    assert cluster["severity"] == "WARNING"
    assert cluster["count"] == 6
    assert result.worklog["entries"]["read"] == 6
    assert result.worklog["entries"]["skipped"] == 0
    assert result.worklog["entries"]["events"] == 6


def test_cluster_spans_from_the_offset_entry_to_the_nanosecond_one(gate):
    result = gate("run", "--logs", str(INPUT))

    cluster = result.cluster(template=TEMPLATE)
    assert cluster["first_seen"] == "2025-05-12T08:00:00.123456Z"
    assert cluster["last_seen"] == "2025-05-14T23:59:59.999999Z"


def test_six_warnings_stay_below_the_recurring_threshold_so_p5_passes(gate):
    result = gate("run", "--logs", str(INPUT))

    assert result.code == 0
    assert result.worklog["verdict"] == "pass"
    assert result.cluster(template=TEMPLATE)["priority"] == "P5"


def test_samples_run_oldest_first_with_the_tie_broken_by_insert_id(gate):
    result = gate("run", "--logs", str(INPUT))

    samples = result.cluster(template=TEMPLATE)["samples"]
    assert [(s["timestamp"], s["insertId"]) for s in samples] == [
        ("2025-05-12T08:00:00.123456Z", "gcl000000000000000000004"),
        ("2025-05-13T01:00:00.250000Z", NO_TIMESTAMP_ID),
        ("2025-05-13T08:30:00Z", "gcl000000000000000000002"),
    ]


def test_hours_of_the_time_shape_run_in_ascending_order(gate):
    result = gate("run", "--logs", str(INPUT))

    hours = result.cluster(template=TEMPLATE)["hours"]
    assert hours == [
        {"hour": "2025-05-12T08:00:00Z", "count": 1},
        {"hour": "2025-05-13T01:00:00Z", "count": 1},
        {"hour": "2025-05-13T08:00:00Z", "count": 2},
        {"hour": "2025-05-14T12:00:00Z", "count": 1},
        {"hour": "2025-05-14T23:00:00Z", "count": 1},
    ]


@pytest.mark.parametrize(
    "order",
    [
        pytest.param([5, 4, 3, 2, 1, 0], id="reversed"),
        pytest.param([4, 0, 5, 2, 3, 1], id="shuffled"),
    ],
)
def test_worklog_does_not_depend_on_the_order_of_the_file(
    gate, tmp_path, order
):
    entries = _raw_entries()
    reordered = _write(
        tmp_path / "reordered.json", [entries[i] for i in order]
    )

    original = gate("run", "--logs", str(INPUT))
    again = gate("run", "--logs", str(reordered))

    assert again.code == original.code == 0
    assert _comparable(again.worklog) == _comparable(original.worklog)


@pytest.mark.parametrize(
    ("insert_id", "expected"),
    [
        pytest.param(
            "gcl000000000000000000000",
            datetime(2025, 5, 14, 23, 59, 59, 999999, tzinfo=UTC),
            id="nine-digits-truncated",
        ),
        pytest.param(
            "gcl000000000000000000001",
            datetime(2025, 5, 14, 12, 0, 0, 500000, tzinfo=UTC),
            id="three-digits",
        ),
        pytest.param(
            "gcl000000000000000000002",
            datetime(2025, 5, 13, 8, 30, tzinfo=UTC),
            id="six-digits",
        ),
        pytest.param(
            "gcl000000000000000000003",
            datetime(2025, 5, 13, 8, 30, tzinfo=UTC),
            id="no-fraction",
        ),
        pytest.param(
            "gcl000000000000000000004",
            datetime(2025, 5, 12, 8, 0, 0, 123456, tzinfo=UTC),
            id="plus-two-hours-offset",
        ),
        pytest.param(
            NO_TIMESTAMP_ID,
            datetime(2025, 5, 13, 1, 0, 0, 250000, tzinfo=UTC),
            id="receive-timestamp",
        ),
    ],
)
def test_every_timestamp_form_is_read_as_its_utc_instant(insert_id, expected):
    raw = _raw_entry(insert_id)

    entry = normalize(0, raw)

    assert isinstance(entry, LogEntry)
    assert entry.timestamp == expected
    assert entry.timestamp.utcoffset() == timedelta(0)


def test_entry_without_timestamp_takes_receive_timestamp_and_notes_it():
    raw = _raw_entry(NO_TIMESTAMP_ID)

    entry = normalize(0, raw)

    assert isinstance(entry, LogEntry)
    assert entry.timestamp == datetime(
        2025, 5, 13, 1, 0, 0, 250000, tzinfo=UTC
    )
    assert entry.notes == (RECEIVE_NOTE,)


def test_worklog_notes_the_receive_timestamp_on_that_sample(gate):
    result = gate("run", "--logs", str(INPUT))

    samples = result.cluster(template=TEMPLATE)["samples"]
    (sample,) = [s for s in samples if s["insertId"] == NO_TIMESTAMP_ID]
    assert sample["timestamp"] == "2025-05-13T01:00:00.250000Z"
    assert sample["notes"] == [RECEIVE_NOTE]
    assert RECEIVE_NOTE in result.markdown


def test_entry_with_no_time_at_all_is_counted_without_a_crash(gate, tmp_path):
    timeless = _raw_entry(NO_TIMESTAMP_ID)
    del timeless["receiveTimestamp"]
    timeless["insertId"] = "gcl-no-time-at-all"
    path = _write(tmp_path / "timeless.json", [*_raw_entries(), timeless])

    result = gate("run", "--logs", str(path))

    cluster = result.cluster(template=TEMPLATE)
    assert result.code == 0
    assert cluster["count"] == 7
    assert cluster["first_seen"] == "2025-05-12T08:00:00.123456Z"
    assert cluster["last_seen"] == "2025-05-14T23:59:59.999999Z"


def test_every_time_in_the_worklog_json_is_utc_with_z(gate):
    result = gate("run", "--logs", str(INPUT))

    stamps = _all_timestamps(result.worklog)
    assert len(stamps) == 12
    assert [s for s in stamps if not s.endswith("Z")] == []
    assert "+02:00" not in json.dumps(result.worklog)


def test_markdown_shows_first_and_last_seen_in_utc_with_z(gate):
    result = gate("run", "--logs", str(INPUT))

    assert (
        "**First seen:** 2025-05-12T08:00:00.123456Z · "
        "**Last seen:** 2025-05-14T23:59:59.999999Z"
    ) in result.markdown
    assert "+02:00" not in result.markdown


def test_worklog_is_utf8_markdown_headed_by_the_service(gate):
    result = gate("run", "--logs", str(INPUT))

    text = (result.out / "worklog.md").read_bytes().decode("utf-8")
    assert text.startswith("# gardener-gate worklog: `orders-api`\n")


def test_empty_array_is_no_data_and_warns_under_the_shipped_policy(gate):
    result = gate("run", "--logs", str(EMPTY))

    assert result.code == 0
    assert result.worklog["verdict"] == "warn"
    assert result.worklog["clusters"] == []
    assert result.worklog["entries"] == {
        "read": 0,
        "skipped": 0,
        "skip_reasons": [],
        "duplicates": 0,
        "outside_window": 0,
        "outside_revision": 0,
        "analysed": 0,
        "events": 0,
    }
    assert "no log entries in the selected window" in result.markdown


@pytest.mark.parametrize(
    ("policy", "verdict", "code"),
    [("pass", "pass", 0), ("warn", "warn", 0), ("fail", "fail", 1)],
)
def test_empty_array_follows_the_no_data_policy_of_the_rules(
    gate, tmp_path, policy, verdict, code
):
    rules = rules_folder(
        tmp_path,
        f"version: 1\npolicy:\n  no_data: {policy}\n",
        name="policy.yaml",
    )

    result = gate("run", "--logs", str(EMPTY), "--rules", str(rules))

    assert result.code == code
    assert result.worklog["verdict"] == verdict
    assert "no log entries in the selected window" in result.markdown
