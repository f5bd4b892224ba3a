"""Clusters linked to the repository's issues, and issues opened for them.

The real PyGithub talks to a fake GitHub API on 127.0.0.1 that keeps its
issues and their comments from one run to the next.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES, rules_folder, run_and_publish
from fakes.github import GitHubFake, Issue, pull_request_runner
from werkzeug import Response

from gardener_gate import pull_request, tracker
from gardener_gate.tracker import issue_marker, marked_clusters

REPO = "platform/orders-api"
COUNTS_MARKER = "<!-- gardener-gate:orders-api -->"
FAILING_TITLE = "Payment provider timed out after <DURATION> for order <NUM>"


def _entry(n: int, severity: str, message: str) -> dict[str, Any]:
    return {
        "insertId": f"{severity}-{n}",
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "timestamp": f"2026-12-03T10:{n:02d}:00Z",
        "severity": severity,
        "jsonPayload": {"message": message},
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "service_name": "orders-api",
                "revision_name": "orders-api-00042-kot",
            },
        },
    }


def _two_new_clusters() -> list[dict[str, Any]]:
    """One ERROR cluster (P1), recurring warnings (P2), a P10 one."""
    return (
        [
            _entry(
                n,
                "ERROR",
                f"Payment provider timed out after 30s for order {1000 + n}",
            )
            for n in range(3)
        ]
        + [
            _entry(n, "WARNING", f"Inventory cache miss for sku {n}")
            for n in range(12)
        ]
        + [_entry(n, "INFO", "Started server process") for n in range(2)]
    )


@pytest.fixture(autouse=True)
def _no_pacing(monkeypatch) -> None:
    """PyGithub spaces requests out for GitHub's sake; a fake needs none."""
    monkeypatch.setattr(pull_request, "_PACE", (None, None))


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(pull_request, "_sleep", waited.append)
    return waited


@pytest.fixture
def github(httpserver, monkeypatch, tmp_path) -> GitHubFake:
    fake = GitHubFake()
    pull_request_runner(monkeypatch, tmp_path, fake.install(httpserver))
    return fake


@pytest.fixture
def logs(tmp_path) -> Path:
    path = tmp_path / "logs.json"
    path.write_text(json.dumps(_two_new_clusters()))
    return path


def _ids(run) -> dict[str, str]:
    return {c["title"]: c["id"] for c in run.worklog["clusters"]}


def test_the_first_run_opens_an_issue_for_each_new_p1_and_p2_cluster(
    gate, github, logs
):
    run, published = run_and_publish(gate, logs, "--open-issues", "P2")

    ids = _ids(run)
    assert published.code == 0
    assert [(i.number, i.labels) for i in github.issues] == [
        (413, ["gardener-gate"]),
        (414, ["gardener-gate"]),
    ]
    p1, p2 = github.issues
    assert p1.title == f"P1 `{FAILING_TITLE}`"
    assert p2.title == "P2 `Inventory cache miss for sku <NUM>`"
    assert p1.body.startswith(issue_marker(ids[FAILING_TITLE]) + "\n")
    assert marked_clusters(p2.body) == [
        ids["Inventory cache miss for sku <NUM>"]
    ]
    assert "## Cluster 1: `" + FAILING_TITLE + "` (P1, new)" in p1.body
    assert "### Sample entries" in p1.body
    assert "::notice::gardener-gate: opened issue #413 for cluster " in (
        published.stdout
    )


def test_the_opened_issues_are_in_the_worklog_summary_and_comment(
    gate, github, logs, tmp_path
):
    run, _ = run_and_publish(gate, logs, "--open-issues", "P2")

    filed = run.worklog["issues_filed"]
    assert [(d["number"], d["cluster"]) for d in filed["opened"]] == [
        (413, _ids(run)[FAILING_TITLE]),
        (414, _ids(run)["Inventory cache miss for sku <NUM>"]),
    ]
    assert filed["over_cap"] == [] and filed["problem"] is None
    link = f"[#413](https://github.example/{REPO}/issues/413)"
    for text in (
        run.markdown,
        (tmp_path / "summary.md").read_text(),
        github.comments[0].body,
    ):
        assert f"- opened {link}: `{FAILING_TITLE}`" in text
        assert f"- **Issue opened by this run:** {link}" in text


def test_a_second_run_opens_none_and_updates_the_counts_in_one_comment(
    gate, github, logs
):
    run_and_publish(gate, logs, "--open-issues", "P2")
    second, published = run_and_publish(gate, logs, "--open-issues", "P2")
    third, _ = run_and_publish(gate, logs, "--open-issues", "P2")

    assert len(github.issues) == 2
    for issue in github.issues:
        assert len(issue.comments) == 1
        assert issue.comments[0].body.startswith(COUNTS_MARKER + "\n")
        assert issue.comments[0].user == "cloudrun-worklog-bot"
    counts = github.issue(413).comments[0].body
    assert "| 2026-12-04T12:00:00Z | `orders-api-00042-kot` | 3 |" in counts
    assert "| P1, new |" in counts
    assert second.worklog["issues_filed"]["opened"] == []
    assert [d["number"] for d in third.worklog["issues_filed"]["updated"]] == [
        413,
        414,
    ]
    assert second.cluster(title=FAILING_TITLE)["issue"] == {
        "number": 413,
        "url": f"https://github.example/{REPO}/issues/413",
        "state": "open",
        "state_reason": None,
        "closed_at": None,
    }
    assert "::notice::gardener-gate: updated the counts on issue #413" in (
        published.stdout
    )


def test_the_counts_comment_follows_the_latest_run(gate, github, logs):
    run_and_publish(gate, logs, "--open-issues", "P2")
    run_and_publish(gate, logs, "--open-issues", "P2")
    more = _two_new_clusters() + [
        _entry(
            50 + n,
            "ERROR",
            f"Payment provider timed out after 9s for order {n}",
        )
        for n in range(4)
    ]
    logs.write_text(json.dumps(more))

    run_and_publish(gate, logs, "--open-issues", "P2")

    (comment,) = github.issue(413).comments
    assert "| `orders-api-00042-kot` | 7 |" in comment.body


def test_an_issue_closed_as_fixed_makes_its_cluster_regressed_and_fail(
    gate, github, logs, tmp_path
):
    first, _ = run_and_publish(gate, logs, "--open-issues", "P2")
    # The team knows the timeouts and accepts the cache misses: it passes.
    rules = rules_folder(
        tmp_path,
        textwrap.dedent(
            """\
            version: 1
            signatures:
              - id: payment-timeouts
                match: {message: 'Payment provider timed out'}
              - id: cache-misses
                match: {message: 'Inventory cache miss'}
                accept: {reason: warm-up after deploys}
            """
        ),
    )
    known = gate("run", "--logs", str(logs), "--rules", str(rules))
    github.issue(413).close("completed", "2026-12-01T09:00:00Z")
    github.issue(414).close("completed", "2026-12-01T09:00:00Z")

    back = gate("run", "--logs", str(logs), "--rules", str(rules))

    assert first.code == 1 and known.code == 0
    assert back.code == 1
    regressed = back.cluster(title=FAILING_TITLE)
    assert regressed["status"] == "regressed" and regressed["fails"]
    assert regressed["issue"]["state_reason"] == "completed"
    assert regressed["issue"]["closed_at"] == "2026-12-01T09:00:00Z"
    accepted = back.cluster(title="Inventory cache miss for sku <NUM>")
    assert accepted["status"] == "accepted" and not accepted["fails"]
    assert back.worklog["reason"] == (
        "1 new, expired or regressed cluster(s) at P2 or higher (1 at P1)"
    )
    link = f"[#413](https://github.example/{REPO}/issues/413)"
    assert (
        f"- **Status:** **regressed**: its issue {link} was closed as "
        "fixed, and it is back; fails the gate (P1 is at or above P2)"
    ) in back.markdown
    assert f"- **Issue:** {link} (closed as fixed on 2026-12-01)" in (
        back.markdown
    )
    assert "| Cluster | Rule | Issue |" in back.markdown
    assert f"| `payment-timeouts` | {link} |" in back.markdown


def test_a_regressed_cluster_gets_a_new_issue_and_then_is_new_again(
    gate, github, logs
):
    run_and_publish(gate, logs, "--open-issues", "P2")
    github.issue(413).close("completed", "2026-12-01T09:00:00Z")

    back, _ = run_and_publish(gate, logs, "--open-issues", "P2")
    after, _ = run_and_publish(gate, logs, "--open-issues", "P2")

    assert back.cluster(title=FAILING_TITLE)["status"] == "regressed"
    assert [i.number for i in github.issues] == [413, 414, 415]
    assert github.issue(415).title.startswith("P1 ")
    assert "(P1, regressed)" in github.issue(415).body
    # The open issue now speaks for the cluster.
    assert after.cluster(title=FAILING_TITLE)["issue"]["number"] == 415
    assert after.cluster(title=FAILING_TITLE)["status"] == "new"
    assert len(github.issues) == 3


@pytest.mark.parametrize(
    ("reason", "status"),
    [("completed", "regressed"), ("not_planned", "new")],
)
def test_only_an_issue_closed_as_fixed_makes_a_regression(
    gate, github, logs, reason, status
):
    run_and_publish(gate, logs, "--open-issues", "P2")
    # Closed after every event of the logs: the same logs, run again,
    # still show the cluster, and a fix that is closed must not leave it.
    github.issue(413).close(reason, "2026-12-03T23:00:00Z")

    run = gate("run", "--logs", str(logs))

    cluster = run.cluster(title=FAILING_TITLE)
    assert cluster["status"] == status
    assert cluster["issue"]["state"] == "closed"
    assert cluster["issue"]["state_reason"] == reason
    assert run.code == 1


def test_the_cap_opens_one_issue_and_lists_the_other(
    gate, github, logs, tmp_path
):
    run, published = run_and_publish(
        gate, logs, "--open-issues", "P2", "--max-issues", "1"
    )
    later, _ = run_and_publish(
        gate, logs, "--open-issues", "P2", "--max-issues", "1"
    )

    warning_id = _ids(run)["Inventory cache miss for sku <NUM>"]
    assert run.worklog["issues_filed"]["over_cap"] == [warning_id]
    assert (
        "::notice::gardener-gate: over the cap of 1 issues a run, not "
        f"opened: {warning_id}"
    ) in published.stdout
    summary = (tmp_path / "summary.md").read_text()
    assert "Not opened: 1 more cluster over the cap of 1 issues a run" in (
        summary
    )
    assert f"- `Inventory cache miss for sku <NUM>` (`{warning_id}`)" in (
        summary
    )
    assert [i.title[:2] for i in github.issues] == ["P1", "P2"]
    assert later.worklog["issues_filed"]["over_cap"] == []
    assert len(github.issue(413).comments) == 1


def test_clusters_below_the_level_get_no_issue(gate, github, logs):
    run, _ = run_and_publish(gate, logs, "--open-issues", "P1")

    assert [i.title[:3] for i in github.issues] == ["P1 "]
    assert run.worklog["issues_filed"]["level"] == "P1"


def test_the_lookup_level_limits_which_clusters_are_linked(gate, github, logs):
    run_and_publish(gate, logs, "--open-issues", "P2")

    run = gate("run", "--logs", str(logs), "--link-issues-at", "P1")
    off = gate("run", "--logs", str(logs), "--link-issues-at", "off")

    assert run.cluster(title=FAILING_TITLE)["issue"]["number"] == 413
    assert "issue" not in run.cluster(
        title="Inventory cache miss for sku <NUM>"
    )
    assert run.worklog["issues"] == {
        "repository": REPO,
        "label": "gardener-gate",
        "level": "P1",
        "checked": True,
        "problem": None,
    }
    assert not any("issue" in c for c in off.worklog["clusters"])
    assert off.worklog["issues"]["problem"] == "turned off"


def _without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


def test_a_403_changes_nothing_but_a_line_in_the_worklog(
    gate, github, logs, monkeypatch
):
    github.fault = lambda method, path, count: Response(
        '{"message": "Resource not accessible by integration"}',
        status=403,
        content_type="application/json",
    )

    refused = gate("run", "--logs", str(logs))
    monkeypatch.delenv("GITHUB_TOKEN")
    alone = gate("run", "--logs", str(logs))

    assert refused.code == alone.code == 1
    assert _without(refused.worklog, "issues") == _without(
        alone.worklog, "issues"
    )
    problem = refused.worklog["issues"]["problem"]
    assert refused.worklog["issues"]["checked"] is False
    assert "(403 Resource not accessible by integration)" in problem
    assert "missing issues: read permission" in problem
    changed = [
        line
        for line in difflib.ndiff(
            alone.markdown.splitlines(), refused.markdown.splitlines()
        )
        if line.startswith(("+ ", "- "))
    ]
    assert sorted(changed) == sorted(
        [
            "+ > [!WARNING]",
            "+ > **Regressions not checked:** the repository's issues "
            f"could not be read (`{problem}`).",
            "+ ",
            "- - **Issues:** not looked up, so regressions were not checked "
            "(`no GitHub repository and token (GITHUB_REPOSITORY, "
            "GITHUB_TOKEN)`)",
        ]
    )
    assert "gardener-gate: warning: regressions not checked: " in (
        refused.stderr
    )


def test_a_token_that_may_not_write_issues_opens_none_and_says_so(
    gate, github, logs, tmp_path
):
    def refuse_writes(method: str, path: str, count: int):
        if method == "POST" and path.endswith("/issues"):
            return Response(
                '{"message": "Resource not accessible by integration"}',
                status=403,
                content_type="application/json",
            )
        return None

    github.fault = refuse_writes

    run, published = run_and_publish(gate, logs, "--open-issues", "P2")

    assert published.code == 0
    assert run.code == 1
    assert github.issues == []
    outputs = (tmp_path / "outputs.txt").read_text()
    assert re.search(r"^verdict<<(\S+)\nfail\n\1$", outputs, re.M)
    assert re.search(r"^exit-code<<(\S+)\n1\n\1$", outputs, re.M)
    problem = run.worklog["issues_filed"]["problem"]
    assert "missing issues: write permission" in problem
    assert "::warning::gardener-gate: issues not opened: could not open " in (
        published.stdout
    )
    assert f"Stopped: `{problem}`." in run.markdown


def test_a_fork_pull_request_opens_no_issue(gate, github, logs, tmp_path):
    event = json.loads((tmp_path / "event.json").read_text())
    event["pull_request"]["head"] = {"repo": {"full_name": "fork/orders"}}
    (tmp_path / "event.json").write_text(json.dumps(event))

    run, published = run_and_publish(gate, logs, "--open-issues", "P2")

    assert github.issues == []
    assert not any(m == "POST" for m, _ in github.calls)
    assert (
        "::notice::gardener-gate: no issue opened: pull request from a fork "
        "(read-only token)"
    ) in published.stdout
    problem = run.worklog["issues_filed"]["problem"]
    assert problem == "pull request from a fork (read-only token)"
    assert f"Stopped: `{problem}`." in run.markdown


def test_github_enterprise_takes_the_host_url(
    gate, httpserver, monkeypatch, tmp_path, logs
):
    fake = GitHubFake(prefix="/api/v3")
    fake.install(httpserver)
    pull_request_runner(
        monkeypatch, tmp_path, httpserver.url_for("").rstrip("/")
    )

    run_and_publish(gate, logs, "--open-issues", "P2")
    fake.issue(413).close("completed", "2026-12-01T09:00:00Z")
    back = gate("run", "--logs", str(logs))

    assert len(fake.issues) == 2
    assert back.cluster(title=FAILING_TITLE)["status"] == "regressed"
    assert ("POST", f"/repos/{REPO}/issues") in fake.calls


def test_issues_are_found_past_the_first_page(gate, github, logs):
    github.issues.extend(
        Issue(
            2000 + n,
            f"other {n}",
            issue_marker(f"c1-{n:012x}"),
            "dev-alice",
            ["gardener-gate"],
        )
        for n in range(150)
    )
    run = gate("run", "--logs", str(logs))
    ident = _ids(run)[FAILING_TITLE]
    github.issues.append(
        Issue(
            7,
            "by hand",
            f"seen in staging\n{issue_marker(ident)}\n",
            "dev-alice",
            ["gardener-gate"],
        )
    )

    github.calls.clear()

    again = gate("run", "--logs", str(logs))

    assert again.cluster(title=FAILING_TITLE)["issue"]["number"] == 7
    # Two pages of 100, and no issue fetched again one by one.
    assert github.calls == [("GET", f"/repos/{REPO}/issues")] * 2


def test_only_a_labelled_issue_with_the_marker_on_a_line_links(
    gate, github, logs
):
    run = gate("run", "--logs", str(logs))
    ident = _ids(run)[FAILING_TITLE]
    github.issues += [
        Issue(
            5, "quoted", f"> {issue_marker(ident)}", "bob", ["gardener-gate"]
        ),
        Issue(6, "no label", issue_marker(ident), "bob", ["bug"]),
        Issue(
            8,
            "a pull request",
            issue_marker(ident),
            "bob",
            ["gardener-gate"],
            is_pull=True,
        ),
    ]

    again = gate("run", "--logs", str(logs))

    assert "issue" not in again.cluster(title=FAILING_TITLE)


def test_a_rate_limited_lookup_waits_once_and_goes_on(
    gate, github, logs, waits
):
    def limited_once(method: str, path: str, count: int):
        if path.endswith("/issues") and count == 1:
            return Response(
                '{"message": "secondary rate limit"}',
                status=403,
                headers={"Retry-After": "3"},
                content_type="application/json",
            )
        return None

    run_and_publish(gate, logs, "--open-issues", "P2")
    github.fault = limited_once
    github.calls.clear()

    run = gate("run", "--logs", str(logs))

    assert waits == [3.0]
    assert run.worklog["issues"]["checked"] is True
    assert run.cluster(title=FAILING_TITLE)["issue"]["number"] == 413


def test_no_secret_reaches_an_issue_or_its_comment(gate, github):
    logs = CASES / "secrets-redaction" / "input.json"
    secrets = (
        (CASES / "secrets-redaction" / "must-not-appear.txt")
        .read_text()
        .split()
    )

    run_and_publish(gate, logs, "--open-issues", "P10", "--max-issues", "50")
    run_and_publish(gate, logs, "--open-issues", "P10", "--max-issues", "50")

    texts = [
        text
        for issue in github.issues
        for text in [issue.title, issue.body]
        + [c.body for c in issue.comments]
    ]
    assert len(github.issues) >= 5
    assert all(len(issue.comments) == 1 for issue in github.issues)
    assert any("<REDACTED>" in text for text in texts)
    for secret in secrets:
        for text in texts:
            assert secret not in text


def test_without_a_token_the_run_says_issues_were_not_looked_up(
    gate, logs, monkeypatch
):
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)

    run = gate("run", "--logs", str(logs))

    assert run.code == 1
    assert run.worklog["issues"]["checked"] is False
    assert "Regressions not checked" not in run.markdown
    assert "- **Issues:** not looked up" in run.markdown
    assert "regressions not checked" not in run.stderr


def test_an_expired_acceptance_stays_expired_when_its_issue_was_fixed(
    gate, github, logs, tmp_path
):
    run_and_publish(gate, logs, "--open-issues", "P2")
    github.issue(413).close("completed", "2026-12-01T09:00:00Z")
    rules = rules_folder(
        tmp_path,
        "version: 1\nsignatures:\n  - id: payment-timeouts\n"
        "    match: {message: 'Payment provider timed out'}\n"
        "    accept: {reason: flaky sandbox, expires: 2026-06-30}\n",
    )

    run = gate("run", "--logs", str(logs), "--rules", str(rules))

    cluster = run.cluster(title=FAILING_TITLE)
    assert cluster["status"] == "expired" and cluster["fails"]
    assert cluster["issue"]["number"] == 413


def test_the_repository_can_be_given_as_an_option(
    gate, github, logs, monkeypatch
):
    run_and_publish(gate, logs, "--open-issues", "P2")
    monkeypatch.delenv("GITHUB_REPOSITORY")

    run = gate("run", "--logs", str(logs), "--github-repo", REPO)

    assert run.worklog["issues"]["repository"] == REPO
    assert run.cluster(title=FAILING_TITLE)["issue"]["number"] == 413
    assert "ghs_faketoken" not in run.stdout + run.stderr + run.markdown


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (Response('{"message": "boom"}', status=502), "(502 boom)"),
        (Response("<html>login</html>", status=200), "not GitHub's API"),
    ],
    ids=["5xx", "html"],
)
def test_a_github_fault_in_the_lookup_never_stops_the_run(
    gate, github, logs, answer, said
):
    github.fault = lambda method, path, count: answer

    run = gate("run", "--logs", str(logs))

    assert run.code == 1
    assert run.worklog["issues"]["checked"] is False
    assert said in run.worklog["issues"]["problem"]
    assert "Regressions not checked" in run.markdown


def test_an_unreachable_github_leaves_the_run_without_links(
    gate, logs, monkeypatch, tmp_path
):
    # Nothing listens on port 9 of the loopback address.
    pull_request_runner(monkeypatch, tmp_path, "http://127.0.0.1:9")

    run = gate("run", "--logs", str(logs))

    assert run.code == 1
    assert run.worklog["issues"]["problem"] == (
        "could not list the issues labelled gardener-gate: ConnectionError"
    )
    assert not any("issue" in c for c in run.worklog["clusters"])


def test_a_regressed_cluster_can_be_accepted_from_its_worklog(
    gate, github, logs, tmp_path
):
    run_and_publish(gate, logs, "--open-issues", "P2")
    github.issue(413).close("completed", "2026-12-01T09:00:00Z")
    back = gate("run", "--logs", str(logs))
    regressed = back.cluster(title=FAILING_TITLE)
    rules = rules_folder(
        tmp_path,
        back.worklog["accept_all"],
        name="accepted.yaml",
        folder="accepted",
    )

    accepted = gate("run", "--logs", str(logs), "--rules", str(rules))

    assert regressed["status"] == "regressed"
    assert "accept_snippet" in regressed
    assert accepted.cluster(title=FAILING_TITLE)["status"] == "accepted"
    assert accepted.code == 0


# Faults a tester found: odd answers never crash a run or publish.


def test_an_issue_field_of_the_wrong_type_leaves_regressions_unchecked(
    gate, github, logs
):
    run_and_publish(gate, logs, "--open-issues", "P2")
    github.issue(413).closed_at = "yesterday"

    run, published = run_and_publish(gate, logs, "--open-issues", "P2")

    assert run.code == 1
    assert run.worklog["issues"]["checked"] is False
    assert "not GitHub's API" in run.worklog["issues"]["problem"]
    assert published.code == 0
    assert "Traceback" not in run.stderr + published.stderr


@pytest.mark.parametrize("header", ["-1", "nan"])
def test_an_odd_retry_after_is_waited_as_no_time_or_the_cap(
    gate, github, logs, waits, header
):
    github.fault = lambda method, path, count: (
        Response(
            '{"message": "You have exceeded a secondary rate limit"}',
            status=403,
            content_type="application/json",
            headers={"Retry-After": header},
        )
        if path.endswith("/issues") and count == 1
        else None
    )

    run = gate("run", "--logs", str(logs))

    assert run.worklog["issues"]["checked"] is True
    assert waits and 0 <= waits[0] <= 60


def test_a_locked_issue_does_not_stop_the_others(gate, github, logs):
    run_and_publish(gate, logs, "--open-issues", "P2", "--max-issues", "1")
    github.fault = lambda method, path, count: (
        Response(
            '{"message": "Unable to create comment because issue is locked."}',
            status=403,
            content_type="application/json",
        )
        if method == "POST" and path.endswith("/issues/413/comments")
        else None
    )

    run, published = run_and_publish(gate, logs, "--open-issues", "P2")

    filed = json.loads((run.out / "worklog.json").read_text())["issues_filed"]
    assert [d["number"] for d in filed["not_updated"]] == [413]
    assert "missing issues: write permission" in filed["not_updated"][0]["why"]
    assert [d["number"] for d in filed["opened"]] == [414]
    assert filed["problem"] is None
    assert "issue #413 not updated" in published.stdout


def test_labels_dropped_by_github_stop_further_issues(gate, github, logs):
    def unlabelled(method, path, count):
        if method != "POST" or not path.endswith("/issues"):
            return None
        issue = Issue(413, "P1 x", "body", "github-actions[bot]", [])
        return Response(
            json.dumps(github._issue_json(issue)),
            status=201,
            content_type="application/json",
        )

    github.fault = unlabelled

    run, published = run_and_publish(gate, logs, "--open-issues", "P2")

    filed = json.loads((run.out / "worklog.json").read_text())["issues_filed"]
    assert "opened without the label gardener-gate" in filed["problem"]
    created = [
        c for c in github.calls if c == ("POST", f"/repos/{REPO}/issues")
    ]
    assert len(created) == 1
    assert "issues not opened" in published.stdout


def test_a_listing_that_does_not_end_is_cut(gate, github, logs, monkeypatch):
    monkeypatch.setattr(tracker, "MAX_ISSUES", 1)
    run_and_publish(gate, logs, "--open-issues", "P2")

    run = gate("run", "--logs", str(logs))

    assert run.worklog["issues"]["checked"] is False
    assert (
        "more than 1 issues are labelled" in run.worklog["issues"]["problem"]
    )


@pytest.mark.parametrize("repository", ["../..", "owner/..", "./x"])
def test_a_repository_with_dot_segments_is_refused(
    gate, github, logs, repository
):
    run = gate("run", "--logs", str(logs), "--github-repo", repository)

    assert "is not a repository" in run.worklog["issues"]["problem"]
    assert not any(c[1].startswith("/issues") for c in github.calls)


@pytest.mark.parametrize("label", ["a,b", "", " "])
def test_a_label_github_would_split_or_ignore_is_refused(gate, logs, label):
    with pytest.raises(SystemExit) as stopped:
        gate("run", "--logs", str(logs), "--issue-label", label)

    assert stopped.value.code == 2
