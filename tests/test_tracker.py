"""The issue marker, issue links and the lookup's fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes.github import GitHubFake, Issue

from gardener_gate import pull_request
from gardener_gate.filing import ISSUE_LIMIT, issue_body, issue_title
from gardener_gate.tracker import (
    IssueLink,
    issue_marker,
    look_up_issues,
    marked_clusters,
)

FIXED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (issue_marker("c1-3fa9d2e81b07"), ["c1-3fa9d2e81b07"]),
        # A later clustering version keeps its whole id.
        (f"text\n{issue_marker('c2-00ff')}\nmore", ["c2-00ff"]),
        (f"{issue_marker('c1-abcd')}\r\n\r\nedited", ["c1-abcd"]),
        (f"> {issue_marker('c1-aaaa')}", []),
        (f"see {issue_marker('c1-aaaa')}", []),
        ("<!-- gardener-gate:cluster=c1 x -->", []),
        ("<!-- gardener-gate:orders-api -->", []),
    ],
    ids=[
        "alone",
        "versioned",
        "crlf",
        "quoted",
        "inline",
        "spaces",
        "pr-comment",
    ],
)
def test_only_a_marker_on_a_line_of_its_own_counts(body, found):
    assert marked_clusters(body) == found


@pytest.mark.parametrize(
    ("state", "reason", "fixed"),
    [
        ("closed", "completed", True),
        ("closed", "not_planned", False),
        ("closed", None, False),
        ("open", None, False),
    ],
)
def test_only_an_issue_closed_as_fixed_counts(state, reason, fixed):
    link = IssueLink(1, "https://github.example/i/1", state, reason, FIXED)

    assert link.is_fixed is fixed


@pytest.mark.parametrize(
    ("env", "repository", "problem"),
    [
        ({}, None, "no GitHub repository and token"),
        ({"GITHUB_REPOSITORY": "o/r"}, None, "no GitHub repository"),
        ({"GITHUB_TOKEN": "t"}, "not a repo", "is not a repository"),
    ],
)
def test_without_a_repository_and_token_nothing_is_looked_up(
    env, repository, problem
):
    links = look_up_issues(env, repository, 4)

    assert not links.checked
    assert links.repository is None
    assert problem in (links.problem or "")
    assert links.link_for("c1-aaaa", 1) is None


def test_off_turns_the_lookup_off():
    links = look_up_issues({"GITHUB_TOKEN": "t"}, "o/r", None)

    assert links.as_dict()["problem"] == "turned off"


def test_an_open_issue_speaks_for_its_cluster_else_the_one_closed_last(
    httpserver, monkeypatch
):
    monkeypatch.setattr(pull_request, "_PACE", (None, None))
    fake = GitHubFake()
    api = fake.install(httpserver)
    marker = issue_marker("c1-aaaa")
    for number, at in (
        (1, "2026-11-01T00:00:00Z"),
        (2, "2026-11-20T00:00:00Z"),
    ):
        issue = Issue(number, "t", marker, "bob", ["gardener-gate"])
        issue.close("completed", at)
        fake.issues.append(issue)
    other = Issue(3, "t", issue_marker("c1-bbbb"), "bob", ["gardener-gate"])
    other.close("completed", "2026-11-25T00:00:00Z")
    opened = Issue(4, "t", issue_marker("c1-bbbb"), "bob", ["gardener-gate"])
    fake.issues += [other, opened]
    env = {"GITHUB_TOKEN": "t", "GITHUB_API_URL": api}

    links = look_up_issues(env, "platform/orders-api", 4)

    assert links.checked
    assert links.issues["c1-aaaa"].number == 2
    assert links.issues["c1-aaaa"].closed_at == datetime(
        2026, 11, 20, tzinfo=UTC
    )
    assert links.issues["c1-bbbb"].number == 4
    assert links.link_for("c1-aaaa", 5) is None


def _worklog(title: str, sample: str = "x") -> dict:
    cluster = {
        "id": "c1-aaaa",
        "priority": "P1",
        "status": "new",
        "kind": "message",
        "severity": "ERROR",
        "count": 2,
        "title": title,
        "template": title,
        "rule": None,
        "priority_rule": "default-error",
        "fails": True,
        "first_seen": None,
        "last_seen": None,
        "hours": [],
        "samples": [{"message": sample}],
        "breakdown": {},
    }
    return {
        "threshold": "P2",
        "source": {
            "service": "orders-api",
            "revision": None,
            "window": {"start": None, "end": None},
        },
        "clusters": [cluster],
    }


def test_an_issue_title_keeps_log_text_inert_and_short():
    title = issue_title(
        _worklog("@platform-team see #12 `rm`\n<img src=x> " + "y" * 200)[
            "clusters"
        ][0]
    )

    assert title.startswith("P1 ``@platform-team see #12 `rm` <img src=x> y")
    assert title.endswith("…``")
    assert len(title) < 120


def test_an_issue_body_stays_under_githubs_limit():
    data = _worklog("Huge", sample="z" * 100_000)

    body = issue_body(data, data["clusters"][0])

    assert body.startswith(issue_marker("c1-aaaa") + "\n")
    assert len(body) <= ISSUE_LIMIT
    assert body.endswith("(cut to fit; the worklog holds the whole section)\n")


def test_log_text_that_reads_like_a_marker_ties_the_issue_to_nothing():
    data = _worklog("Boom")
    data["clusters"][0]["frames"] = [
        'File "/app/x.py", line 1, in f',
        issue_marker("c1-bbbb"),
    ]

    body = issue_body(data, data["clusters"][0])

    assert marked_clusters(body) == ["c1-aaaa"]
    assert f"\n {issue_marker('c1-bbbb')}\n" in body
