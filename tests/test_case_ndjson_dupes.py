"""Case gcs-ndjson-export-dupes: sink exports with repeated entries."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest
from conftest import CASES

from gardener_gate.source import Record, Skip, read_records

CASE = CASES / "gcs-ndjson-export-dupes"
NDJSON = CASE / "input.ndjson"
ARRAY = CASE / "input.json"
TIMEOUT = "Payment provider timeout after <DURATION>"
MIRROR_ID = "8f0b45c1b4ddd98553a08f8a"
BOTH_FORMS = pytest.mark.parametrize(
    "name", ["input.json", "input.ndjson"], ids=["array", "ndjson"]
)


def _counts(skipped: int) -> dict[str, int]:
    return {
        "read": 7,
        "skipped": skipped,
        "duplicates": 2,
        "outside_window": 0,
        "outside_revision": 0,
        "analysed": 5,
        "events": 5,
    }


def _numbers(entries: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in entries.items() if k != "skip_reasons"}


def _without_input_details(worklog: dict[str, Any]) -> dict[str, Any]:
    """The worklog less the file name, run time and skipped records."""
    data = json.loads(json.dumps(worklog))
    del data["generated_at"]
    del data["source"]["path"]
    del data["entries"]["skipped"]
    del data["entries"]["skip_reasons"]
    return data


def test_reader_yields_each_line_and_skips_only_the_truncated_ninth():
    with NDJSON.open("rb") as stream:
        records = list(read_records(stream, "auto", "input.ndjson"))

    parsed = [r.position for r in records if isinstance(r, Record)]
    skips = [r for r in records if isinstance(r, Skip)]
    assert parsed == [1, 2, 3, 4, 6, 7, 8]
    assert [s.position for s in skips] == [9]
    assert skips[0].reason.startswith("line 9: ")


@pytest.mark.parametrize(
    "fmt_args", [[], ["--format", "ndjson"]], ids=["detected", "given"]
)
def test_ndjson_export_is_read_whether_detected_or_given(gate, fmt_args):
    result = gate("run", "--logs", str(NDJSON), *fmt_args)

    assert result.code == 1
    assert result.worklog["partial"] is False
    assert _numbers(result.worklog["entries"]) == _counts(skipped=1)


def test_array_export_counts_seven_read_two_duplicates_five_events(gate):
    result = gate("run", "--logs", str(ARRAY))

    assert result.code == 1
    assert _numbers(result.worklog["entries"]) == _counts(skipped=0)
    assert result.worklog["entries"]["skip_reasons"] == []


def test_export_file_named_with_colons_is_read_as_ndjson(gate, tmp_path):
    shard = tmp_path / "08:00:00_08:59:59_S0.json"
    shutil.copyfile(NDJSON, shard)

    result = gate("run", "--logs", str(shard))

    assert result.code == 1
    assert _numbers(result.worklog["entries"]) == _counts(skipped=1)


def test_truncated_last_line_is_skipped_with_its_line_number(gate):
    result = gate("run", "--logs", str(NDJSON))

    reasons = result.worklog["entries"]["skip_reasons"]
    assert len(reasons) == 1
    assert reasons[0].startswith("line 9: ")
    assert "## Skipped records" in result.markdown
    assert f"- `{reasons[0]}`" in result.markdown


def test_truncated_last_line_is_warned_about_on_stderr(gate):
    result = gate("run", "--logs", str(NDJSON))

    assert "line 9" in result.stderr


@BOTH_FORMS
def test_repeated_timeout_entry_counts_once_in_an_error_cluster_of_two(
    gate, name
):
    result = gate("run", "--logs", str(CASE / name))

    cluster = result.cluster(template=TIMEOUT)
    assert cluster["kind"] == "message"
    assert cluster["severity"] == "ERROR"
    assert cluster["count"] == 2
    assert cluster["priority"] == "P1"
    assert cluster["first_seen"] == "2025-05-12T16:00:00Z"
    assert cluster["last_seen"] == "2025-05-12T16:07:00Z"


@BOTH_FORMS
def test_repeated_503_refund_request_counts_once(gate, name):
    result = gate("run", "--logs", str(CASE / name))

    cluster = result.cluster(kind="http", http_status=503)
    assert cluster["count"] == 1
    assert cluster["priority"] == "P1"
    assert cluster["breakdown"]["routes"] == [
        {"value": "POST /api/v1/refunds", "count": 1}
    ]
    assert result.worklog["traffic"]["count"] == 0


@BOTH_FORMS
def test_same_insert_id_under_another_log_name_is_not_a_duplicate(gate, name):
    result = gate("run", "--logs", str(CASE / name))

    samples = [
        sample
        for cluster in result.worklog["clusters"]
        for sample in cluster["samples"]
        if sample["insertId"] == MIRROR_ID
    ]
    assert sorted(s["log"] for s in samples) == ["stderr", "stdout"]
    assert sorted(s["message"] for s in samples) == [
        "Refund queued for order 5521",
        "Refund queued for order 5521 (stderr mirror)",
    ]


@BOTH_FORMS
def test_info_refund_events_are_informational_and_do_not_fail(gate, name):
    result = gate("run", "--logs", str(CASE / name))

    info = [c for c in result.worklog["clusters"] if c["severity"] == "INFO"]
    assert sorted(c["template"] for c in info) == [
        "Refund queued for order <NUM>",
        "Refund queued for order <NUM> (stderr mirror)",
    ]
    assert {(c["priority"], c["fails"], c["count"]) for c in info} == {
        ("P10", False, 1)
    }
    assert result.worklog["verdict"] == "fail"
    assert result.worklog["summary"]["failing"] == 2


def test_array_and_ndjson_give_identical_results_but_for_skipped(gate):
    from_array = gate("run", "--logs", str(ARRAY))
    from_ndjson = gate("run", "--logs", str(NDJSON))

    assert from_ndjson.code == from_array.code == 1
    assert _without_input_details(from_ndjson.worklog) == (
        _without_input_details(from_array.worklog)
    )
    assert len(from_ndjson.worklog["clusters"]) == 4


@BOTH_FORMS
def test_worklog_is_utf8_markdown_headed_by_the_service(gate, name):
    result = gate("run", "--logs", str(CASE / name))

    text = (result.out / "worklog.md").read_bytes().decode("utf-8")
    assert text.startswith("# gardener-gate worklog: `orders-api`\n")
