"""The bundled three-day staging log, end to end through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from conftest import CASES, rules_folder

STAGING = CASES / "staging-3day" / "input.json"
TRUTH = json.loads((CASES / "staging-3day" / "truth.json").read_text())


def _issues(result):
    return [
        (c["priority"], c["kind"], c["title"], c["count"])
        for c in result.worklog["clusters"]
        if c["priority"] != "P10"
    ]


def _accept_all_block(markdown: str) -> str:
    section = markdown.split("## Accept all new and expired clusters", 1)[1]
    found = re.search(r"```yaml\n(.*?)\n```", section, re.S)
    assert found is not None
    return found.group(1)


def test_the_gate_fails_on_the_four_p1_and_the_p2_cluster(gate):
    result = gate("run", "--logs", str(STAGING))

    assert result.code == 1
    assert result.worklog["verdict"] == "fail"
    assert _issues(result) == [
        ("P1", "http", "HTTP 503 Service Unavailable", 5),
        ("P1", "http", "HTTP 500 Internal Server Error", 3),
        (
            "P1",
            "trace",
            "sqlalchemy.exc.OperationalError in fetch_page "
            "(/app/orders/repo.py)",
            2,
        ),
        ("P1", "trace", "KeyError in quote (/app/orders/pricing.py)", 1),
        (
            "P2",
            "message",
            "request.session accessed but no session middleware is "
            "installed; continuing without session "
            "(method=<METHOD>, path=<PATH>)",
            40,
        ),
        ("P4", "http", "HTTP 404 Not Found", 216),
        ("P6", "http", "HTTP 499 Client Closed Request", 14),
    ]
    assert [c["priority"] for c in result.worklog["clusters"]] == sorted(
        (c["priority"] for c in result.worklog["clusters"]),
        key=lambda p: int(p[1:]),
    )


def test_entry_counts_follow_the_design(gate):
    result = gate("run", "--logs", str(STAGING))

    assert result.worklog["entries"] == {
        "read": 628,
        "skipped": 0,
        "skip_reasons": [],
        "duplicates": 0,
        "outside_window": 0,
        "outside_revision": 0,
        "analysed": 628,
        "events": 622,
    }


def test_probe_404s_form_one_cluster_naming_the_missing_endpoints(gate):
    result = gate("run", "--logs", str(STAGING))

    probes = result.cluster(title="HTTP 404 Not Found")
    assert probes["breakdown"]["routes"] == [
        {"value": "GET /healthz", "count": 96},
        {"value": "GET /metrics", "count": 96},
        {"value": "GET /status", "count": 24},
    ]
    assert probes["breakdown"]["clients"] == [
        {"value": "python-httpx/0.27.2", "count": 216}
    ]


def test_the_499s_have_their_query_strings_stripped(gate):
    result = gate("run", "--logs", str(STAGING))

    cancelled = result.cluster(http_status=499)
    assert cancelled["breakdown"]["routes"] == [
        {"value": "GET /api/v1/cart", "count": 5},
        {"value": "GET /api/v1/orders", "count": 4},
        {"value": "GET /api/v1/orders/{id}/invoice.pdf", "count": 3},
        {"value": "GET /api/v1/search", "count": 2},
    ]


def test_the_stitched_traceback_keeps_its_header_and_no_stdout_line(gate):
    result = gate("run", "--logs", str(STAGING))

    key_error = result.cluster(kind="trace", count=1)
    message = key_error["samples"][0]["message"]
    assert message.startswith("Exception in ASGI application\nTraceback")
    assert message.endswith("KeyError: 'zone-unknown'")
    assert "Cart recalculated" not in message
    assert key_error["samples"][0]["stitched_from"] == 7
    assert key_error["severity"] == "ERROR"


def test_first_and_last_seen_ignore_the_newest_first_order(gate):
    result = gate("run", "--logs", str(STAGING))

    session = result.cluster(kind="message", priority="P2")
    assert session["first_seen"].startswith("2025-05-12T02:00:11.")
    assert session["last_seen"].startswith("2025-05-14T22:52:26.")


def test_user_auto_creation_is_one_informational_cluster(gate):
    result = gate("run", "--logs", str(STAGING))

    users = result.cluster(priority="P10", count=25)
    assert users["severity"] == "INFO"
    assert users["template"].startswith("Auto-created user <EMAIL> on first")


def test_startup_lines_from_stderr_are_info_not_errors(gate):
    result = gate("run", "--logs", str(STAGING))

    startup = [
        c
        for c in result.worklog["clusters"]
        if "startup" in c["title"] or "Uvicorn" in c["title"]
    ]
    assert len(startup) == 3
    assert {c["severity"] for c in startup} == {"INFO"}
    assert {c["priority"] for c in startup} == {"P10"}


def test_successful_requests_are_traffic_not_clusters(gate):
    result = gate("run", "--logs", str(STAGING))

    assert result.worklog["traffic"]["count"] == 275
    assert all(
        (c.get("http_status") or 0) // 100 not in (2, 3)
        for c in result.worklog["clusters"]
    )


def test_no_email_address_reaches_any_output(gate):
    result = gate("-vv", "run", "--logs", str(STAGING), "--out", "verbose-out")

    outputs = [
        Path("verbose-out/worklog.md").read_text("utf-8"),
        Path("verbose-out/worklog.json").read_text("utf-8"),
        result.stdout,
        result.stderr,
    ]
    emails = TRUTH["emails_that_must_be_redacted"]
    assert len(emails) == 20
    for email in emails:
        for output in outputs:
            assert email not in output


def test_pasting_the_accept_all_block_makes_the_run_pass(gate, tmp_path):
    first = gate("run", "--logs", str(STAGING))
    rules = rules_folder(
        tmp_path, _accept_all_block(first.markdown), name="accepted.yaml"
    )

    second = gate("run", "--logs", str(STAGING), "--rules", str(rules))

    assert second.code == 0, second.stderr
    assert second.worklog["verdict"] == "pass"
    statuses = {c["status"] for c in second.worklog["clusters"]}
    assert statuses == {"accepted"}
    snippets = {
        c["id"]: yaml.safe_load(c["accept_snippet"])[0]["id"]
        for c in first.worklog["clusters"]
    }
    for cluster in second.worklog["clusters"]:
        assert cluster["rule"] == snippets[cluster["id"]]
    assert second.worklog["stale_signatures"] == []


def test_an_acceptance_past_its_date_comes_back_as_expired(gate, tmp_path):
    first = gate("run", "--logs", str(STAGING))
    block = re.sub(
        r"expires: '\d{4}-\d\d-\d\d'",
        "expires: 2025-01-31",
        _accept_all_block(first.markdown),
    )
    rules = rules_folder(tmp_path, block, name="accepted.yaml")

    second = gate("run", "--logs", str(STAGING), "--rules", str(rules))

    assert second.code == 1
    assert {c["status"] for c in second.worklog["clusters"]} == {"expired"}
    failing = [c for c in second.worklog["clusters"] if c["fails"]]
    assert len(failing) == 5
    assert all("accept_snippet" in c for c in failing)


def test_an_acceptance_holds_through_its_expiry_day(gate, tmp_path):
    first = gate("run", "--logs", str(STAGING))
    block = re.sub(
        r"expires: '\d{4}-\d\d-\d\d'",
        "expires: 2025-05-15",
        _accept_all_block(first.markdown),
    )
    rules = rules_folder(tmp_path, block, name="accepted.yaml")

    on_the_day = gate(
        "run",
        "--logs",
        str(STAGING),
        "--rules",
        str(rules),
        "--until",
        "2025-05-15T23:59:59Z",
    )
    day_after = gate(
        "run",
        "--logs",
        str(STAGING),
        "--rules",
        str(rules),
        "--until",
        "2025-05-16T00:00:00Z",
    )

    assert on_the_day.code == 0
    assert day_after.code == 1


def test_a_revision_keeps_only_its_own_entries(gate):
    result = gate(
        "run", "--logs", str(STAGING), "--revision", "orders-api-00042-kot"
    )

    entries = result.worklog["entries"]
    assert entries["outside_revision"] == 309
    assert entries["analysed"] == 319
    assert result.worklog["source"]["revision"] == "orders-api-00042-kot"
    session = result.cluster(kind="message", severity="WARNING")
    assert session["count"] < 40
    assert session["first_seen"] >= "2025-05-13T14:02"


def test_an_absent_revision_exits_3_naming_those_present(gate):
    result = gate(
        "run", "--logs", str(STAGING), "--revision", "orders-api-00099-xyz"
    )

    assert result.code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "orders-api-00041-zed" in lines[0]
    assert "orders-api-00042-kot" in lines[0]
    assert "Traceback" not in result.stderr


def test_an_empty_revision_is_a_usage_error(gate):
    result = gate("run", "--logs", str(STAGING), "--revision", " ")

    assert result.code == 2
    assert "--revision" in result.stderr


def test_the_worklog_stays_well_under_the_comment_limit(gate):
    result = gate("run", "--logs", str(STAGING))

    assert len(result.markdown) < 65_536


def test_the_markdown_puts_the_verdict_first(gate):
    result = gate("run", "--logs", str(STAGING))

    first_lines = result.markdown.splitlines()[:3]
    assert first_lines[0].startswith("# gardener-gate worklog")
    assert first_lines[2].startswith("**Verdict: ❌ FAIL**")
