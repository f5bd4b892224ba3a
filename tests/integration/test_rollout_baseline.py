"""The staging example split at its rollout: the revision before as baseline.

Revision orders-api-00041-zed served until 2025-05-13T14:02Z, then
orders-api-00042-kot took over; the later one is the candidate.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CASES, rules_folder

STAGING = str(CASES / "staging-3day" / "input.json")
BEFORE = "orders-api-00041-zed"
AFTER = "orders-api-00042-kot"


def _standings(result):
    return {
        c["title"]: (c["baseline"], c["baseline_count"], c["count"])
        for c in result.worklog["clusters"]
    }


def _rules(tmp_path: Path, text: str) -> str:
    return str(rules_folder(tmp_path, text))


@pytest.fixture
def split(gate):
    """The candidate against the revision before, found by itself."""
    return gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline-revision",
        "auto",
    )


def test_what_only_the_new_revision_logs_is_unknown(split):
    standings = _standings(split)

    assert standings["HTTP 503 Service Unavailable"] == ("unknown", 0, 5)
    assert standings["KeyError in quote (/app/orders/pricing.py)"] == (
        "unknown",
        0,
        1,
    )
    assert standings["Cart recalculated for <NUM> items"] == (
        "unknown",
        0,
        1,
    )


def test_the_session_warning_is_known_from_the_revision_before(split):
    warning = split.cluster(kind="message", severity="WARNING")

    assert warning["status"] == "new"
    assert warning["baseline"] == "known"
    assert (warning["baseline_count"], warning["count"]) == (17, 23)
    assert warning["baseline_match"]["changed"] is False
    assert warning["fails"] is False


def test_a_cluster_whose_rate_tripled_is_unexpected_frequency(split):
    cancelled = split.cluster(title="HTTP 499 Client Closed Request")

    # 2 events over 37.6 h before, 12 over 33.4 h after: ×6.8 per hour.
    assert cancelled["baseline"] == "unexpected_frequency"
    assert (cancelled["baseline_count"], cancelled["count"]) == (2, 12)
    assert cancelled["baseline_match"]["rate_factor"] == pytest.approx(
        6.77, abs=0.01
    )
    server_errors = split.cluster(title="HTTP 500 Internal Server Error")
    assert server_errors["baseline"] == "known"
    assert server_errors["baseline_match"]["rate_factor"] < 3


def test_only_the_unknown_p1_clusters_fail_the_gate(split):
    failing = [c["title"] for c in split.worklog["clusters"] if c["fails"]]

    assert split.code == 1
    assert failing == [
        "HTTP 503 Service Unavailable",
        "KeyError in quote (/app/orders/pricing.py)",
    ]
    assert (
        "3 new cluster(s) the baseline had at a like rate"
        in (split.worklog["reason"])
    )


def test_the_worklog_shows_both_counts_side_by_side(split):
    baseline = split.worklog["baseline"]
    markdown = split.markdown

    assert baseline["name"] == f"revision {BEFORE}"
    assert baseline["missing"] is None
    assert baseline["hours"] == pytest.approx(37.64, abs=0.01)
    assert "| Baseline | Baseline count |" in markdown
    assert "| 5 | P2 | new | known | 17 | message | WARNING | 23 |" in (
        markdown
    )
    assert (
        f"- **Baseline:** **unexpected frequency**: 2 events in "
        f"`revision {BEFORE}`"
    ) in markdown
    assert "its rate rose ×6.77 over the baseline" in markdown


def test_naming_the_revision_before_gives_the_same_comparison(gate, split):
    named = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline-revision",
        BEFORE,
    )

    assert _standings(named) == _standings(split)


def test_an_earlier_worklog_serves_as_the_baseline(gate, split):
    before = gate("run", "--logs", STAGING, "--revision", BEFORE)
    against_file = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline",
        str(before.out / "worklog.json"),
    )

    assert _standings(against_file) == _standings(split)
    assert against_file.worklog["baseline"]["name"] == (
        f"worklog {before.out / 'worklog.json'}"
    )


def test_an_older_clustering_version_is_compared_by_its_words(
    gate, split, tmp_path
):
    before = gate("run", "--logs", STAGING, "--revision", BEFORE)
    old = before.worklog
    old["tool"]["clustering"] = "c0"
    for cluster in old["clusters"]:
        # Another version hashes differently: no id is shared.
        cluster["id"] = "c0-" + cluster["id"][::-1][:12]
    path = tmp_path / "old-worklog.json"
    path.write_text(json.dumps(old))

    upgraded = gate(
        "run", "--logs", STAGING, "--revision", AFTER, "--baseline", str(path)
    )

    assert _standings(upgraded) == _standings(split)
    assert upgraded.worklog["baseline"]["clustering"] == "c0"
    changed = [
        c["title"]
        for c in upgraded.worklog["clusters"]
        if (c.get("baseline_match") or {}).get("changed")
    ]
    assert changed == []


def test_a_new_cluster_known_in_the_baseline_fails_when_the_policy_says(
    gate, tmp_path
):
    rules = _rules(
        tmp_path, "version: 1\npolicy:\n  known_in_baseline: fail\n"
    )

    strict = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline-revision",
        "auto",
        "--rules",
        rules,
    )

    failing = {
        c["title"][:30] for c in strict.worklog["clusters"] if c["fails"]
    }
    assert "request.session accessed but n" in failing
    assert "HTTP 500 Internal Server Error" in failing
    assert strict.code == 1


def test_the_rate_factor_comes_from_the_policy(gate, tmp_path):
    rules = _rules(tmp_path, "version: 1\npolicy:\n  frequency_factor: 10\n")

    lenient = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline-revision",
        "auto",
        "--rules",
        rules,
    )

    cancelled = lenient.cluster(title="HTTP 499 Client Closed Request")
    assert cancelled["baseline"] == "known"


ACCEPT_CANCELLED = """\
version: 1
signatures:
  - id: cancelled-requests
    match: {{status: 499}}
    accept:
      reason: clients give up on slow pages
      {condition}
"""


def test_an_acceptance_runs_out_when_the_rate_rises_past_its_factor(
    gate, tmp_path
):
    rules = _rules(
        tmp_path, ACCEPT_CANCELLED.format(condition="until_rate_factor: 3")
    )
    args = ("run", "--logs", STAGING, "--revision", AFTER, "--rules", rules)

    compared = gate(*args, "--baseline-revision", "auto")
    alone = gate(*args)

    cancelled = compared.cluster(title="HTTP 499 Client Closed Request")
    assert cancelled["status"] == "expired"
    assert "rose ×6.77" in cancelled["expired_because"]
    assert "until_rate_factor 3" in cancelled["expired_because"]
    assert "past until_rate_factor 3" in compared.markdown
    assert "until_rate_factor" not in cancelled["accept_snippet"]
    # Without a baseline there is no rate to compare: it still holds.
    assert alone.cluster(title="HTTP 499 Client Closed Request")["status"] == (
        "accepted"
    )


@pytest.mark.parametrize(
    ("limit", "status"), [(12, "expired"), (13, "accepted")]
)
def test_an_acceptance_holds_while_the_count_stays_under_its_limit(
    gate, tmp_path, limit, status
):
    rules = _rules(
        tmp_path, ACCEPT_CANCELLED.format(condition=f"until_count: {limit}")
    )

    result = gate(
        "run", "--logs", STAGING, "--revision", AFTER, "--rules", rules
    )

    cancelled = result.cluster(title="HTTP 499 Client Closed Request")
    assert cancelled["status"] == status
    assert cancelled["acceptance"]["until_count"] == limit
    if status == "expired":
        assert cancelled["expired_because"] == (
            f"12 events reached until_count {limit}"
        )
        assert "until_count" not in cancelled["accept_snippet"]


def test_a_worklog_of_a_later_revision_is_no_baseline(gate):
    later = gate("run", "--logs", STAGING, "--revision", AFTER)

    earlier = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        BEFORE,
        "--baseline",
        str(later.out),
    )

    assert earlier.worklog["baseline"]["missing"] == (
        "that run's entries begin after this run's: it describes a later "
        "revision, not the one before"
    )
    assert earlier.code == 1
