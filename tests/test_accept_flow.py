"""The accept snippets of the worklog, saved as they are, make runs pass."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import yaml
from conftest import CASES, NOW, rules_folder

STAGING = str(CASES / "staging-3day" / "input.json")
EXPIRED_RULES = """\
version: 1
signatures:
  - id: session-warning
    match: {message: 'request.session accessed'}
    accept: {reason: known config gap, expires: 2026-01-31}
  - id: cancelled
    match: {status: 499}
    accept: {reason: clients give up, expires: 2027-06-30, until_count: 5}
"""


def _rules(tmp_path: Path, name: str, text: str) -> Path:
    return rules_folder(tmp_path, text, name=name)


def test_the_accept_all_block_works_beside_the_expired_signatures(
    gate, tmp_path
):
    rules = _rules(tmp_path, "team.yaml", EXPIRED_RULES)
    first = gate("run", "--logs", STAGING, "--rules", str(rules))
    (rules / "accepted.yaml").write_text(first.worklog["accept_all"])

    second = gate("run", "--logs", STAGING, "--rules", str(rules))

    assert first.cluster(title="HTTP 499 Client Closed Request")["status"] == (
        "expired"
    )
    assert second.code == 0
    assert second.worklog["summary"]["by_status"] == {"accepted": 14}
    renewed = second.cluster(title="HTTP 499 Client Closed Request")
    assert renewed["rule"] == f"cancelled-renewed-{NOW:%Y%m%d}"


def test_a_renewal_keeps_the_teams_own_expiry_unless_that_ran_out(
    gate, tmp_path
):
    rules = _rules(tmp_path, "team.yaml", EXPIRED_RULES)

    first = gate("run", "--logs", STAGING, "--rules", str(rules))

    by_count = yaml.safe_load(
        first.cluster(title="HTTP 499 Client Closed Request")["accept_snippet"]
    )[0]
    assert by_count["accept"] == {
        "reason": "clients give up",
        "expires": "2027-06-30",
    }
    warning = next(
        c for c in first.worklog["clusters"] if c["rule"] == "session-warning"
    )
    by_date = yaml.safe_load(warning["accept_snippet"])[0]
    assert by_date["accept"]["expires"] == "2027-03-04"


def _many_shapes(tmp_path: Path, errors: str, name: str) -> str:
    draw = random.Random(5)
    lines = []
    for _ in range(5050):
        word = "".join(draw.choices(string.ascii_lowercase, k=8))
        lines.append(
            json.dumps(
                {
                    "textPayload": f"thing {word} happened",
                    "severity": "INFO",
                    "timestamp": "2025-05-12T10:00:00Z",
                }
            )
        )
    lines += [
        json.dumps(
            {
                "textPayload": errors,
                "severity": "ERROR",
                "timestamp": "2025-05-12T11:00:00Z",
            }
        )
    ] * 20
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_the_cluster_past_the_limit_is_never_accepted(gate, tmp_path):
    first = gate(
        "run",
        "--logs",
        _many_shapes(tmp_path, "Payment failed for order 7", "a.ndjson"),
    )
    rules = _rules(tmp_path, "accepted.yaml", first.worklog["accept_all"])

    later = gate(
        "run",
        "--logs",
        _many_shapes(tmp_path, "database corrupted: orders", "b.ndjson"),
        "--rules",
        str(rules),
    )

    overflow = later.cluster(title="Other events (cluster limit reached)")
    assert overflow["status"] == "new" and overflow["fails"]
    assert "accept_snippet" not in overflow
    assert later.code == 1
    assert "**Cluster limit reached:**" in later.markdown
    assert "cluster limit reached" in later.stderr
