"""Priorities, statuses and verdicts decided from rules."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import CASES, rules_folder

STAGING = CASES / "staging-3day" / "input.json"


def make_entry(**overrides):
    """A Cloud Run stdout entry; keyword arguments replace its fields."""
    entry = {
        "insertId": "id-0",
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "timestamp": "2025-05-12T10:00:00Z",
        "severity": "WARNING",
        "jsonPayload": {"message": "Payment provider slow", "logger": "pay"},
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "service_name": "orders-api",
                "revision_name": "orders-api-00001-abc",
            },
        },
    }
    entry.update(overrides)
    return entry


def _logs(tmp_path: Path, entries: list[dict]) -> str:
    path = tmp_path / "logs.json"
    path.write_text(json.dumps(entries))
    return str(path)


def _rules(tmp_path: Path, text: str) -> str:
    return str(rules_folder(tmp_path, textwrap.dedent(text).lstrip()))


def _warnings(count: int, message: str = "Payment provider slow"):
    return [
        make_entry(
            insertId=f"id-{n}",
            timestamp=f"2025-05-12T10:{n:02d}:00Z",
            jsonPayload={"message": message, "logger": "pay"},
        )
        for n in range(count)
    ]


def test_ten_warnings_are_p2_and_fail_nine_are_p5_and_pass(gate, tmp_path):
    ten = gate("run", "--logs", _logs(tmp_path, _warnings(10)))
    nine = gate("run", "--logs", _logs(tmp_path, _warnings(9)))

    assert (ten.code, ten.worklog["clusters"][0]["priority"]) == (1, "P2")
    assert (nine.code, nine.worklog["clusters"][0]["priority"]) == (0, "P5")


def test_a_team_threshold_is_tried_before_the_shipped_ones(gate, tmp_path):
    rules = _rules(
        tmp_path,
        """
        version: 1
        thresholds:
          - id: payments
            kind: message
            match: '(?i)payment'
            min_count: 3
            priority: P1
    """,
    )

    result = gate(
        "run", "--logs", _logs(tmp_path, _warnings(3)), "--rules", rules
    )

    cluster = result.worklog["clusters"][0]
    assert (cluster["priority"], cluster["priority_rule"]) == (
        "P1",
        "payments",
    )
    assert result.code == 1


def test_a_signature_without_accept_makes_a_cluster_known(gate, tmp_path):
    rules = _rules(
        tmp_path,
        """
        version: 1
        signatures:
          - id: slow-payments
            match: {message: 'Payment provider', logger: 'pay*'}
    """,
    )

    result = gate(
        "run", "--logs", _logs(tmp_path, _warnings(12)), "--rules", rules
    )

    cluster = result.worklog["clusters"][0]
    assert (cluster["status"], cluster["rule"]) == ("known", "slow-payments")
    assert "accept_snippet" not in cluster
    assert result.code == 0


def test_a_signature_priority_overrides_the_thresholds(gate, tmp_path):
    rules = _rules(
        tmp_path,
        """
        version: 1
        signatures:
          - id: slow-payments
            match: {glob: 'Payment * slow'}
            priority: P0
    """,
    )

    result = gate(
        "run", "--logs", _logs(tmp_path, _warnings(1)), "--rules", rules
    )

    cluster = result.worklog["clusters"][0]
    assert cluster["priority"] == "P0"
    assert cluster["priority_rule"] == "signature slow-payments"
    assert result.code == 0


def test_a_signature_that_matched_nothing_is_reported_stale(gate, tmp_path):
    rules = _rules(
        tmp_path,
        """
        version: 1
        signatures:
          - id: gone
            match: {message: 'never logged'}
    """,
    )

    result = gate(
        "run", "--logs", _logs(tmp_path, _warnings(1)), "--rules", rules
    )

    assert result.worklog["stale_signatures"] == [
        {"id": "gone", "file": str(Path(rules) / "team.yaml"), "line": 3}
    ]
    assert "## Stale signatures" in result.markdown


def test_an_http_signature_must_cover_every_route_of_the_cluster(
    gate, tmp_path
):
    rules = _rules(
        tmp_path,
        """
        version: 1
        signatures:
          - id: probes
            match:
              status: 404
              route: ['/metrics', '/healthz']
              user_agent: 'python-httpx/*'
            accept: {reason: monitoring probes}
    """,
    )

    result = gate("run", "--logs", str(STAGING), "--rules", rules)

    probes = result.cluster(http_status=404)
    assert probes["status"] == "new"
    assert [s["id"] for s in result.worklog["stale_signatures"]] == ["probes"]


def test_rules_redact_patterns_apply_everywhere(gate, tmp_path):
    rules = _rules(
        tmp_path,
        """
        version: 1
        redact: ['tenant-[a-z]+']
    """,
    )
    entries = _warnings(2, "Quota exceeded for tenant-acme")

    result = gate("run", "--logs", _logs(tmp_path, entries), "--rules", rules)

    assert "tenant-acme" not in result.markdown
    assert "tenant-acme" not in json.dumps(result.worklog)
    assert result.worklog["clusters"][0]["template"] == (
        "Quota exceeded for <REDACTED>"
    )


def test_cluster_ids_do_not_depend_on_input_order(gate, tmp_path):
    entries = json.loads(STAGING.read_text())
    reversed_path = tmp_path / "reversed.json"
    reversed_path.write_text(json.dumps(entries[::-1]))

    forward = gate("run", "--logs", str(STAGING))
    backward = gate("run", "--logs", str(reversed_path))

    def summary(result):
        return sorted(
            (c["id"], c["count"], c["first_seen"])
            for c in result.worklog["clusters"]
        )

    assert summary(forward) == summary(backward)
    assert all(c["id"].startswith("c1-") for c in forward.worklog["clusters"])


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        ("EMERGENCY", "P0"),
        ("ALERT", "P0"),
        ("CRITICAL", "P0"),
        ("ERROR", "P1"),
        ("NOTICE", "P10"),
        ("INFO", "P10"),
        ("DEBUG", "P10"),
        ("DEFAULT", "P10"),
    ],
)
def test_shipped_priorities_by_severity(gate, tmp_path, severity, priority):
    entries = [make_entry(severity=severity)]

    result = gate("run", "--logs", _logs(tmp_path, entries))

    assert result.worklog["clusters"][0]["priority"] == priority


@pytest.mark.parametrize(
    ("status", "priority"),
    [
        (503, "P1"),
        (500, "P1"),
        (404, "P4"),
        (499, "P6"),
        (401, "P5"),
        (None, "P8"),
    ],
)
def test_shipped_priorities_by_http_status(gate, tmp_path, status, priority):
    request = {"requestMethod": "GET", "requestUrl": "/api/v1/x"}
    if status is not None:
        request["status"] = status
    entries = [
        make_entry(jsonPayload=None, httpRequest=request, severity="INFO")
    ]

    result = gate("run", "--logs", _logs(tmp_path, entries))

    assert result.worklog["clusters"][0]["priority"] == priority


def test_a_signature_shadowed_by_an_earlier_one_is_not_stale(gate, tmp_path):
    rules = _rules(
        tmp_path,
        """
        version: 1
        signatures:
          - id: first
            match: {message: 'Payment'}
          - id: second
            match: {message: 'provider'}
    """,
    )

    result = gate(
        "run", "--logs", _logs(tmp_path, _warnings(1)), "--rules", rules
    )

    assert result.worklog["clusters"][0]["rule"] == "first"
    assert result.worklog["stale_signatures"] == []
