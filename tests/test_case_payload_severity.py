"""Case payload-severity-normalization: the payload's level wins."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import CASES

from gardener_gate.entry import LogEntry, normalize
from gardener_gate.severity import Severity, parse_level

CASE = CASES / "payload-severity-normalization"
INPUT = CASE / "input.json"
BLANK_IDS = ("03ae60dd1765bbe68a7dd2a1", "db0528673fe433a8829ed87e")
STDERR_INFO_ID = "d7e832dd226da1e2e039a541"
SESSION_ID = "17ae2ffae074f8b8e9b4d0ff"

# insertId, top-level severity as written, effective severity, priority
ROWS = [
    pytest.param(STDERR_INFO_ID, "ERROR", "INFO", "P10", id="1-levelname"),
    pytest.param(
        "78f0643f5904c729fcbe33df", "DEFAULT", "WARNING", "P5", id="2-warn"
    ),
    pytest.param(
        "17dd14d732beba6f50b19171", "DEFAULT", "WARNING", "P5", id="3-WARN"
    ),
    pytest.param(
        "c4409ff14fd386f8f09564eb", "DEFAULT", "DEBUG", "P10", id="4-TRACE"
    ),
    pytest.param(
        "0e8a6c5d5918435684e5b42f", "DEFAULT", "CRITICAL", "P0", id="5-fatal"
    ),
    pytest.param(SESSION_ID, "DEFAULT", "WARNING", "P5", id="6-text-prefix"),
    pytest.param(
        "c6b49c00b45ec0ca16a56337", "INFO", "ERROR", "P1", id="9-error"
    ),
    pytest.param(
        "a47639c1303fbbb6bed09970", "DEFAULT", "WARNING", "P5", id="10-Warning"
    ),
    pytest.param(
        "41fb11f27be6c5817970a461", "NOTICE", "NOTICE", "P10", id="11-notice"
    ),
]


def _raw_entry(insert_id: str) -> dict[str, Any]:
    entries = json.loads(INPUT.read_text("utf-8"))
    (found,) = [e for e in entries if e["insertId"] == insert_id]
    return found


def _cluster_holding(worklog: dict[str, Any], insert_id: str) -> Any:
    found = [
        (cluster, sample)
        for cluster in worklog["clusters"]
        for sample in cluster["samples"]
        if sample["insertId"] == insert_id
    ]
    assert len(found) == 1, insert_id
    return found[0]


def _entry(payload: dict[str, Any], severity: str | None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "insertId": "synthetic",
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "timestamp": "2025-05-12T12:00:00Z",
        "jsonPayload": payload,
    }
    if severity is not None:
        raw["severity"] = severity
    return raw


@pytest.mark.parametrize(("insert_id", "raw", "effective", "priority"), ROWS)
def test_entry_keeps_the_written_severity_and_the_effective_one(
    insert_id, raw, effective, priority
):
    record = _raw_entry(insert_id)

    entry = normalize(0, record)

    assert isinstance(entry, LogEntry)
    assert entry.severity is Severity[effective]
    assert entry.severity_raw == raw


@pytest.mark.parametrize(("insert_id", "raw", "effective", "priority"), ROWS)
def test_cluster_takes_the_effective_severity_and_its_priority(
    gate, insert_id, raw, effective, priority
):
    result = gate("run", "--logs", str(INPUT))

    cluster, sample = _cluster_holding(result.worklog, insert_id)
    assert cluster["severity"] == effective
    assert cluster["priority"] == priority
    assert cluster["count"] == 1
    assert sample["severity"] == effective
    # The sample names the written severity where it differs.
    assert sample.get("severity_raw", effective) == raw


def test_info_line_on_stderr_is_not_reported_as_an_error_cluster(gate):
    result = gate("run", "--logs", str(INPUT))

    errors = [
        sample["insertId"]
        for cluster in result.worklog["clusters"]
        if cluster["severity"] in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY")
        for sample in cluster["samples"]
    ]
    assert sorted(errors) == [
        "0e8a6c5d5918435684e5b42f",
        "c6b49c00b45ec0ca16a56337",
    ]


def test_text_level_prefix_is_parsed_off_the_message(gate):
    result = gate("run", "--logs", str(INPUT))

    cluster, sample = _cluster_holding(result.worklog, SESSION_ID)
    assert cluster["template"] == "Session cookie missing on <PATH>"
    assert sample["message"] == "Session cookie missing on /api/v1/me"
    assert sample["logger"] == "orders.auth"


@pytest.mark.parametrize("insert_id", BLANK_IDS, ids=["spaces", "empty"])
def test_blank_text_payload_is_not_an_entry(insert_id):
    record = _raw_entry(insert_id)

    entry = normalize(0, record)

    assert isinstance(entry, str)


def test_blank_entries_are_skipped_without_a_cluster_or_a_crash(gate):
    result = gate("run", "--logs", str(INPUT))

    entries = result.worklog["entries"]
    sample_ids = {
        sample["insertId"]
        for cluster in result.worklog["clusters"]
        for sample in cluster["samples"]
    }
    assert result.code == 1
    assert entries["skipped"] == 2
    assert entries["skip_reasons"] == [
        "record 7: empty message",
        "record 8: empty message",
    ]
    assert entries["events"] == 9
    assert len(result.worklog["clusters"]) == 9
    assert sample_ids.isdisjoint(BLANK_IDS)


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(
            {
                "insertId": "no-severity-text",
                "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
                "timestamp": "2025-05-12T12:00:00Z",
                "textPayload": "worker started",
            },
            id="text",
        ),
        pytest.param(
            _entry({"message": "worker started"}, None), id="json-no-level"
        ),
    ],
)
def test_missing_severity_is_read_as_default(record):
    entry = normalize(0, record)

    assert isinstance(entry, LogEntry)
    assert entry.severity is Severity.DEFAULT
    assert entry.severity_raw == "DEFAULT"


@pytest.mark.parametrize(
    ("payload", "top", "effective"),
    [
        pytest.param({"level": 30}, "ERROR", "INFO", id="pino-30"),
        pytest.param({"level": 40}, None, "WARNING", id="pino-40"),
        pytest.param({"level": 50}, "INFO", "ERROR", id="pino-50"),
        pytest.param({"level": 60}, None, "CRITICAL", id="pino-60"),
        pytest.param({"log.level": "warn"}, None, "WARNING", id="log.level"),
        pytest.param({"Severity": "error"}, "INFO", "ERROR", id="Severity"),
        pytest.param({"LEVELNAME": "info"}, "ERROR", "INFO", id="LEVELNAME"),
        pytest.param({"level": "CRIT"}, "DEFAULT", "CRITICAL", id="CRIT"),
    ],
)
def test_payload_level_wins_over_the_top_level_severity(
    payload, top, effective
):
    record = _entry({**payload, "message": "payment retried"}, top)

    entry = normalize(0, record)

    assert isinstance(entry, LogEntry)
    assert entry.severity is Severity[effective]
    assert entry.severity_raw == (top or "DEFAULT")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("trace", Severity.DEBUG),
        ("debug", Severity.DEBUG),
        ("info", Severity.INFO),
        ("notice", Severity.NOTICE),
        ("warn", Severity.WARNING),
        ("warning", Severity.WARNING),
        ("error", Severity.ERROR),
        ("err", Severity.ERROR),
        ("critical", Severity.CRITICAL),
        ("crit", Severity.CRITICAL),
        ("fatal", Severity.CRITICAL),
        ("alert", Severity.ALERT),
        ("emerg", Severity.EMERGENCY),
        ("emergency", Severity.EMERGENCY),
    ],
)
def test_level_words_map_to_cloud_severities_in_any_case(word, expected):
    spellings = [word, word.upper(), word.capitalize(), f" {word} "]

    found = [parse_level(spelling) for spelling in spellings]

    assert found == [expected] * 4


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (10, Severity.DEBUG),
        (20, Severity.DEBUG),
        (30, Severity.INFO),
        (40, Severity.WARNING),
        (50, Severity.ERROR),
        (60, Severity.CRITICAL),
    ],
)
def test_pino_level_numbers_map_to_cloud_severities(number, expected):
    assert parse_level(number) is expected


def test_unknown_level_word_is_not_guessed():
    assert parse_level("loud") is None


def test_worklog_is_utf8_markdown_headed_by_the_service(gate):
    result = gate("run", "--logs", str(INPUT))

    text = (result.out / "worklog.md").read_bytes().decode("utf-8")
    assert text.startswith("# gardener-gate worklog: `orders-api`\n")
