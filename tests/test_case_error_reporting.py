"""Case error-reporting-fields: traces where Error Reporting looks."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import CASES

from gardener_gate.entry import LogEntry, normalize

CASE = CASES / "error-reporting-fields"
INPUT = CASE / "input.json"
REFUND = "Refund amount exceeds captured amount for order <NUM>"
REFUND_LOCATION = "orders/refunds.py:73 issue_refund"


def _trace(exception: str) -> str:
    return "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "/app/orders/email.py", line 22, in send_receipt',
            "    smtp.send(msg)",
            exception,
        ]
    )


def _raw_entries() -> list[dict[str, Any]]:
    return json.loads(INPUT.read_text("utf-8"))


def _cluster_section(markdown: str, title: str) -> str:
    """The Markdown section of the cluster called ``title``."""
    heading = re.search(
        rf"^## Cluster \d+: `{re.escape(title)}`", markdown, re.MULTILINE
    )
    assert heading is not None, title
    end = markdown.find("\n## ", heading.end())
    return markdown[heading.start() : end if end >= 0 else None]


def _trace_cluster(worklog: dict[str, Any]) -> dict[str, Any]:
    (cluster,) = [c for c in worklog["clusters"] if c["kind"] == "trace"]
    return cluster


@pytest.mark.parametrize(
    "index",
    [0, 1, 2, 5],
    ids=["stack_trace", "exception", "message", "nested-field"],
)
def test_trace_is_found_in_each_field_error_reporting_reads(index):
    record = _raw_entries()[index]

    entry = normalize(index, record)

    assert isinstance(entry, LogEntry)
    assert entry.stack is not None
    assert entry.stack.exception == "ConnectionRefusedError"
    assert entry.stack.culprit is not None
    assert entry.stack.culprit.function == "send_receipt"


@pytest.mark.parametrize(
    ("payload", "exception"),
    [
        pytest.param(
            {
                "message": _trace("TypeError: bad message"),
                "exception": _trace("KeyError: 'exception'"),
                "stack_trace": _trace("ValueError: from stack_trace"),
            },
            "ValueError",
            id="stack_trace-first",
        ),
        pytest.param(
            {
                "message": _trace("TypeError: bad message"),
                "exception": _trace("KeyError: 'exception'"),
            },
            "KeyError",
            id="exception-before-message",
        ),
        pytest.param(
            {
                "details": {"trace_text": _trace("OSError: nested")},
                "message": _trace("TypeError: bad message"),
            },
            "TypeError",
            id="message-before-other-fields",
        ),
        pytest.param(
            {
                "message": "job failed",
                "details": {"trace_text": _trace("OSError: nested")},
            },
            "OSError",
            id="any-field-last",
        ),
    ],
)
def test_trace_fields_are_searched_in_error_reporting_order(
    payload, exception
):
    record = {
        "insertId": "synthetic",
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "timestamp": "2025-05-12T22:00:00Z",
        "severity": "ERROR",
        "jsonPayload": payload,
    }

    entry = normalize(0, record)

    assert isinstance(entry, LogEntry)
    assert entry.stack is not None
    assert entry.stack.exception == exception


def test_four_copies_of_the_trace_form_one_error_cluster(gate):
    result = gate("run", "--logs", str(INPUT))

    cluster = _trace_cluster(result.worklog)
    assert cluster["severity"] == "ERROR"
    assert cluster["count"] == 4
    assert cluster["priority"] == "P1"
    assert cluster["location"] == "/app/orders/email.py:22 send_receipt"
    assert cluster["first_seen"] == "2025-05-12T22:00:00Z"
    assert cluster["last_seen"] == "2025-05-12T22:58:00Z"


def test_trace_cluster_is_titled_with_exception_function_and_file(gate):
    result = gate("run", "--logs", str(INPUT))

    cluster = _trace_cluster(result.worklog)
    # The file stays as the trace printed it (/app/...), as the
    # split-traceback and staging cases name their files.
    expected = "ConnectionRefusedError in send_receipt (/app/orders/email.py)"
    assert cluster["title"] == expected


def test_human_message_beside_the_trace_is_kept_as_the_summary(gate):
    result = gate("run", "--logs", str(INPUT))

    cluster = _trace_cluster(result.worklog)
    assert cluster["summary"] == "receipt not sent"


def test_reported_error_events_form_one_error_cluster_of_two(gate):
    result = gate("run", "--logs", str(INPUT))

    cluster = result.cluster(template=REFUND)
    assert cluster["kind"] == "message"
    assert cluster["severity"] == "ERROR"
    assert cluster["count"] == 2
    assert cluster["priority"] == "P1"
    assert len(result.worklog["clusters"]) == 2


def test_reported_error_events_keep_location_and_first_version(gate):
    result = gate("run", "--logs", str(INPUT))

    cluster = result.cluster(template=REFUND)
    assert cluster["location"] == REFUND_LOCATION
    assert cluster["first_version"] == "2025.05.12-rc3"


def test_markdown_gives_location_and_first_version_of_the_refund_error(
    gate,
):
    result = gate("run", "--logs", str(INPUT))

    section = _cluster_section(result.markdown, REFUND)
    assert f"- **Location:** `{REFUND_LOCATION}`" in section
    assert "- **First seen in version:** `2025.05.12-rc3`" in section


def test_all_six_entries_are_events_and_the_gate_fails(gate):
    result = gate("run", "--logs", str(INPUT))

    entries = result.worklog["entries"]
    assert result.code == 1
    assert result.worklog["verdict"] == "fail"
    assert entries["read"] == 6
    assert entries["skipped"] == 0
    assert entries["events"] == 6


def test_worklog_is_utf8_markdown_headed_by_the_service(gate):
    result = gate("run", "--logs", str(INPUT))

    text = (result.out / "worklog.md").read_bytes().decode("utf-8")
    assert text.startswith("# gardener-gate worklog: `orders-api`\n")
