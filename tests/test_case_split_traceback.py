"""Case py-traceback-split-lines: one traceback over many entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES

from gardener_gate.entry import LogEntry, normalize
from gardener_gate.severity import Severity
from gardener_gate.stitch import Stitcher

CASE = CASES / "py-traceback-split-lines"
INPUT = CASE / "input.json"
BATCH = "Processed batch <NUM> in <DURATION>"
TRACE = [
    "Traceback (most recent call last):",
    '  File "/app/orders/api.py", line 88, in create_order',
    "    total = pricing.compute_total(cart)",
    '  File "/app/orders/pricing.py", line 41, in compute_total',
    "    rate = TAX_RATES[cart.region]",
    "KeyError: 'nz-north'",
]
SECOND_OCCURRENCE = slice(7, 13)


def _raw_entries() -> list[dict[str, Any]]:
    return json.loads(INPUT.read_text("utf-8"))


def _trace_clusters(worklog: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in worklog["clusters"] if c["kind"] == "trace"]


def _line(
    seq: int,
    text: str,
    stamp: str,
    instance: str = "instance-a",
    stream: str = "stderr",
) -> LogEntry:
    entry = normalize(
        seq,
        {
            "insertId": f"line-{seq:03d}",
            "logName": f"projects/p/logs/run.googleapis.com%2F{stream}",
            "labels": {"instanceId": instance},
            "timestamp": stamp,
            "textPayload": text,
        },
    )
    assert isinstance(entry, LogEntry)
    return entry


def _close(seq: int) -> str:
    """A moment a fraction of a millisecond after the previous line."""
    return f"2025-05-12T09:14:07.{200000 + seq * 40:06d}Z"


def _with_third_occurrence(tmp_path: Path, index: int, text: str) -> Path:
    """The case plus one more traceback, with one line of it rewritten."""
    entries = _raw_entries()
    extra = json.loads(json.dumps(entries[SECOND_OCCURRENCE]))
    for entry in extra:
        entry["insertId"] += "-3"
        entry["timestamp"] = entry["timestamp"].replace("T11:", "T12:")
    extra[index]["textPayload"] = text
    path = tmp_path / "three-tracebacks.json"
    path.write_text(json.dumps(entries + extra), encoding="utf-8")
    return path


def test_thirteen_entries_become_three_events(gate):
    result = gate("run", "--logs", str(INPUT))

    entries = result.worklog["entries"]
    assert entries["read"] == 13
    assert entries["analysed"] == 13
    assert entries["events"] == 3


def test_both_tracebacks_form_exactly_one_error_cluster_of_two(gate):
    result = gate("run", "--logs", str(INPUT))

    errors = [
        c for c in result.worklog["clusters"] if c["severity"] == "ERROR"
    ]
    assert len(errors) == 1
    (cluster,) = errors
    assert cluster["kind"] == "trace"
    assert cluster["count"] == 2
    assert cluster["priority"] == "P1"
    assert cluster["location"] == "/app/orders/pricing.py:41 compute_total"


def test_trace_cluster_is_named_by_exception_function_and_file(gate):
    result = gate("run", "--logs", str(INPUT))

    (cluster,) = _trace_clusters(result.worklog)
    # Whether the container root /app/ is shown is the product's choice.
    assert cluster["title"].startswith("KeyError in compute_total (")
    assert cluster["title"].endswith("orders/pricing.py)")
    assert cluster["template"] == cluster["title"]


def test_trace_cluster_spans_the_first_lines_of_both_tracebacks(gate):
    result = gate("run", "--logs", str(INPUT))

    (cluster,) = _trace_clusters(result.worklog)
    assert cluster["first_seen"] == "2025-05-12T09:14:07.201000Z"
    assert cluster["last_seen"] == "2025-05-12T11:17:07.201000Z"


def test_frame_and_source_lines_make_no_clusters_of_their_own(gate):
    result = gate("run", "--logs", str(INPUT))

    templates = [c["template"] for c in result.worklog["clusters"]]
    assert len(templates) == 2
    assert [t for t in templates if 'File "' in t or "TAX_RATES" in t] == []
    assert [t for t in templates if t.startswith("KeyError:")] == []


def test_each_sample_holds_its_whole_traceback_as_error(gate):
    result = gate("run", "--logs", str(INPUT))

    (cluster,) = _trace_clusters(result.worklog)
    first, second = cluster["samples"]
    assert first["message"] == "\n".join(TRACE)
    assert second["message"] == "\n".join([*TRACE[:-1], "KeyError: 'xx-east'"])
    assert [first["severity"], second["severity"]] == ["ERROR", "ERROR"]
    assert second["severity_raw"] == "DEFAULT"


def test_interleaved_line_of_another_instance_stays_a_separate_info_event(
    gate,
):
    result = gate("run", "--logs", str(INPUT))

    cluster = result.cluster(template=BATCH)
    assert cluster["severity"] == "INFO"
    assert cluster["count"] == 1
    assert cluster["priority"] == "P10"
    assert [s["message"] for s in cluster["samples"]] == [
        "Processed batch 41 in 120ms"
    ]


def test_exception_value_is_not_part_of_the_cluster(gate):
    result = gate("run", "--logs", str(INPUT))

    (cluster,) = _trace_clusters(result.worklog)
    assert "nz-north" not in cluster["template"]
    assert "xx-east" not in cluster["template"]
    assert cluster["count"] == 2


@pytest.mark.parametrize(
    ("index", "text"),
    [
        pytest.param(5, "ValueError: unknown region", id="other-exception"),
        pytest.param(
            3,
            '  File "/app/orders/pricing.py", line 57, in compute_tax',
            id="other-innermost-function",
        ),
    ],
)
def test_other_exception_or_innermost_frame_makes_another_cluster(
    gate, tmp_path, index, text
):
    path = _with_third_occurrence(tmp_path, index, text)

    result = gate("run", "--logs", str(path))

    clusters = _trace_clusters(result.worklog)
    assert sorted(c["count"] for c in clusters) == [1, 2]
    assert result.worklog["entries"]["events"] == 4


def test_stitcher_joins_the_lines_of_one_instance_and_log():
    lines = [_line(n, text, _close(n)) for n, text in enumerate(TRACE)]

    events = list(Stitcher().events(lines))

    assert len(events) == 1
    assert events[0].message == "\n".join(TRACE)
    assert events[0].severity is Severity.ERROR
    assert events[0].stack is not None
    assert events[0].stack.exception == "KeyError"


def test_stitcher_leaves_lines_a_minute_apart_unjoined():
    lines = [
        _line(n, text, f"2025-05-12T09:{n:02d}:07Z")
        for n, text in enumerate(TRACE)
    ]

    events = list(Stitcher().events(lines))

    assert [e.message for e in events] == TRACE


@pytest.mark.parametrize(
    ("instance", "stream"),
    [("instance-b", "stderr"), ("instance-a", "stdout")],
    ids=["other-instance", "other-log"],
)
def test_stitcher_keeps_an_exception_line_from_elsewhere_apart(
    instance, stream
):
    lines = [_line(n, text, _close(n)) for n, text in enumerate(TRACE)]
    lines[-1] = _line(5, TRACE[-1], _close(5), instance, stream)

    events = list(Stitcher().events(lines))

    assert [e.message for e in events if "KeyError" in e.message] == [
        TRACE[-1]
    ]


def test_worklog_is_utf8_markdown_headed_by_the_service(gate):
    result = gate("run", "--logs", str(INPUT))

    text = (result.out / "worklog.md").read_bytes().decode("utf-8")
    assert text.startswith("# gardener-gate worklog: `orders-api`\n")
