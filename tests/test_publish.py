"""publish against a fake GitHub API, driven by the real PyGithub."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES, rules_folder, run_and_publish
from fakes.github import Comment, GitHubFake
from werkzeug import Response

from gardener_gate import pull_request

STAGING = CASES / "staging-3day" / "input.json"
MARKER = "<!-- gardener-gate:orders-api -->"


def pull_request_event(**overrides: Any) -> dict[str, Any]:
    """A pull_request event payload as the runner writes it."""
    event = {
        "action": "synchronize",
        "number": 412,
        "pull_request": {
            "number": 412,
            "labels": [],
            "base": {
                "ref": "main",
                "sha": "base0000",
                "repo": {"full_name": "platform/orders-api"},
            },
            "head": {
                "ref": "feature",
                "sha": "head1111",
                "repo": {"full_name": "platform/orders-api"},
            },
        },
        "repository": {"full_name": "platform/orders-api"},
        "sender": {"login": "dev-alice"},
    }
    event["pull_request"].update(overrides)
    return event


class Runner:
    """The files and variables a runner gives a step."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.summary = root / "summary.md"
        self.output = root / "output.txt"
        self.event_path = root / "event.json"
        self._monkeypatch = monkeypatch
        for name, value in {
            "GITHUB_STEP_SUMMARY": self.summary,
            "GITHUB_OUTPUT": self.output,
            "GITHUB_EVENT_PATH": self.event_path,
            "GITHUB_REPOSITORY": "platform/orders-api",
            "GITHUB_TOKEN": "ghs_faketoken000000000000000000000000",
            "GITHUB_ACTOR": "dev-alice",
        }.items():
            monkeypatch.setenv(name, str(value))
        self.event(pull_request_event())

    def event(self, payload: dict[str, Any]) -> None:
        self.event_path.write_text(json.dumps(payload))

    def api(self, url: str) -> None:
        self._monkeypatch.setenv("GITHUB_API_URL", url)

    def outputs(self) -> dict[str, str]:
        text = self.output.read_text()
        found = re.findall(r"^(\S+)<<(\S+)\n(.*?)\n\2$", text, re.M | re.S)
        return {name: value for name, _, value in found}


@pytest.fixture
def runner(tmp_path, monkeypatch) -> Runner:
    return Runner(tmp_path, monkeypatch)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(pull_request, "_sleep", waited.append)
    return waited


@pytest.fixture(autouse=True)
def _no_pacing(monkeypatch) -> None:
    """PyGithub spaces requests out for GitHub's sake; a fake needs none."""
    monkeypatch.setattr(pull_request, "_PACE", (None, None))


@pytest.fixture
def github(httpserver, runner) -> GitHubFake:
    fake = GitHubFake()
    runner.api(fake.install(httpserver))
    return fake


def _run_and_publish(gate, logs: Path = STAGING, *extra: str):
    return run_and_publish(gate, logs, *extra)


def _ours(fake: GitHubFake) -> list[Comment]:
    return [c for c in fake.comments if c.body.startswith(MARKER)]


def test_the_first_run_creates_the_comment_and_the_next_edits_it(gate, github):
    _, first = _run_and_publish(gate)
    body = _ours(github)[0].body
    _, second = _run_and_publish(gate)

    assert first.code == second.code == 0
    assert len(github.comments) == 1
    assert body.startswith(MARKER + "\n# gardener-gate worklog")
    assert ("POST", "/repos/platform/orders-api/issues/412/comments") in (
        github.calls
    )
    assert (
        github.calls.count(
            (
                "PATCH",
                f"/repos/platform/orders-api/issues/comments/"
                f"{github.comments[0].id}",
            )
        )
        == 1
    )
    assert "**Verdict: ❌ FAIL**" in github.comments[0].body


def test_outputs_and_summary_say_what_the_gate_found(gate, github, runner):
    run, published = _run_and_publish(gate)

    outputs = runner.outputs()
    assert outputs == {
        "verdict": "fail",
        "new-count": "14",
        "new-by-priority": '{"P1": 4, "P2": 1, "P4": 1, "P6": 1, "P10": 7}',
        "worklog-md": str(run.out / "worklog.md"),
        "worklog-json": str(run.out / "worklog.json"),
        "exit-code": "1",
    }
    summary = runner.summary.read_text()
    assert summary.startswith("# gardener-gate worklog: `orders-api`")
    assert "## Cluster 1: `HTTP 503 Service Unavailable`" in summary
    assert published.stdout.splitlines()[-1] == (
        "gardener-gate: published; the gate's exit code is 1"
    )


def test_one_error_annotation_per_failing_cluster(gate, github):
    _, published = _run_and_publish(gate)

    errors = [
        line
        for line in published.stdout.splitlines()
        if line.startswith("::error ")
    ]
    assert len(errors) == 5
    assert errors[0] == (
        "::error title=gardener-gate P1 new::HTTP 503 Service Unavailable "
        "(5 events, http, id c1-a18ef45903c1)"
    )


def test_the_sticky_comment_on_github_enterprise(
    gate, httpserver, runner, waits
):
    fixture = json.loads(
        (
            CASES / "github-sticky-comment-ghe" / "github-fixture.json"
        ).read_text()
    )
    fake = GitHubFake(
        prefix="/api/v3",
        comments=[
            Comment(c["id"], c["user"], c["body"])
            for c in fixture["existing_comments"]
        ],
    )
    first_patch = fixture["responses"]["first_patch"]

    def rate_limit_first_patch(method: str, path: str, count: int):
        if method == "PATCH" and count == 1:
            return Response(
                json.dumps(first_patch["body"]),
                status=first_patch["status"],
                headers=first_patch["headers"],
                content_type="application/json",
            )
        return None

    fake.fault = rate_limit_first_patch
    fake.install(httpserver)
    # The runner's GITHUB_API_URL on GHE is the host; /api/v3 is added.
    runner.api(httpserver.url_for("").rstrip("/"))
    before_9003 = fake.comment_by_id(9003).body

    _, published = _run_and_publish(
        gate, CASES / "github-sticky-comment-ghe" / "input.json"
    )

    assert published.code == 0
    assert [c.id for c in fake.comments] == [9001, 9002, 9003]
    assert fake.comment_by_id(9002).body.startswith(MARKER + "\n")
    assert fake.comment_by_id(9003).body == before_9003
    assert fake.comment_by_id(9001).body == "LGTM once staging is clean"
    assert waits == [2.0]
    assert "gardener-gate: edited comment 9002" in published.stdout


def test_a_second_rate_limit_gives_up_with_a_warning(gate, github, waits):
    github.comments.append(Comment(9002, "cloudrun-worklog-bot", MARKER))

    def always_limited(method: str, path: str, count: int):
        if method == "PATCH":
            return Response(
                '{"message": "You have exceeded a secondary rate limit"}',
                status=403,
                content_type="application/json",
            )
        return None

    github.fault = always_limited

    run, published = _run_and_publish(gate)

    assert published.code == 0
    assert len(waits) == 1
    assert "::warning::gardener-gate: the PR comment was not posted" in (
        published.stdout
    )
    assert (
        json.loads((run.out / "worklog.json").read_text())["verdict"] == "fail"
    )


def test_comments_are_searched_past_the_first_page(gate, github):
    github.comments.extend(
        Comment(100 + n, "dev-alice", f"comment {n}") for n in range(150)
    )
    github.comments.append(
        Comment(9500, "cloudrun-worklog-bot", MARKER + "\nold")
    )

    _run_and_publish(gate)

    assert len(_ours(github)) == 1
    assert github.comment_by_id(9500).body != MARKER + "\nold"


def test_a_workflow_token_that_cannot_read_its_user_edits_the_bots_comment(
    gate, github
):
    github.login = None
    github.comments.append(Comment(77, "github-actions[bot]", MARKER + "\nx"))
    github.comments.append(Comment(78, "someone-else", MARKER + "\nquoted"))

    _run_and_publish(gate)

    assert github.comment_by_id(77).body != MARKER + "\nx"
    assert github.comment_by_id(78).body == MARKER + "\nquoted"
    assert len(github.comments) == 2


def test_a_fork_pull_request_skips_the_comment_with_a_notice(
    gate, github, runner
):
    runner.event(
        pull_request_event(
            head={"ref": "x", "sha": "f", "repo": {"full_name": "fork/o"}}
        )
    )

    _, published = _run_and_publish(gate)

    assert published.code == 0
    assert github.comments == []
    assert not any(call[0] in ("POST", "PATCH") for call in github.calls)
    assert "::notice::gardener-gate: pull request from a fork" in (
        published.stdout
    )
    assert runner.summary.read_text().startswith("# gardener-gate worklog")


@pytest.mark.parametrize("status", [403, 422, 500, 502])
def test_no_github_fault_changes_the_verdict_or_the_outputs(
    gate, github, runner, waits, status
):
    github.fault = lambda method, path, count: Response(
        '{"message": "nope"}', status=status, content_type="application/json"
    )

    run, published = _run_and_publish(gate)

    assert published.code == 0
    assert runner.outputs()["verdict"] == "fail"
    assert runner.outputs()["exit-code"] == "1"
    assert (run.out / "worklog.md").exists()
    assert "::warning::gardener-gate: the PR comment was not posted" in (
        published.stdout
    )


def test_a_wrong_base_url_is_reported_as_such(gate, httpserver, runner):
    fake = GitHubFake(prefix="/api/v3")
    fake.install(httpserver)
    runner.api(httpserver.url_for("/wrong/api/v3"))

    _, published = _run_and_publish(gate)

    assert published.code == 0
    assert "check GITHUB_API_URL" in published.stdout


def test_too_many_clusters_stay_under_the_comment_limit(gate, github):
    logs = CASES / "github-comment-too-long" / "input.json"

    run, published = _run_and_publish(
        gate, logs, "--artifact-name", "gardener-gate-worklog-orders-api"
    )

    body = _ours(github)[0].body
    assert len(body) <= 60_000
    assert re.search(
        r"… and \d+ more clusters \(full worklog: artifact "
        r"`gardener-gate-worklog-orders-api`\)\.",
        body,
    )
    full = (run.out / "worklog.md").read_text()
    assert full.count("## Cluster ") == 120
    assert len(full) > 65_536
    first_kept = body.index("## Cluster 1:")
    assert body.index("## Cluster 2:") > first_kept


def test_a_small_comment_budget_still_holds_the_verdict(gate, github):
    logs = CASES / "github-comment-too-long" / "input.json"

    _run_and_publish(gate, logs, "--max-comment-chars", "4000")

    body = _ours(github)[0].body
    assert len(body) <= 4000
    assert "**Verdict: ❌ FAIL**" in body
    assert "full worklog" in body


def test_a_422_despite_the_budget_retries_once_with_a_short_body(gate, github):
    def refuse_first_post(method: str, path: str, count: int):
        if method == "POST" and count == 1:
            return Response(
                '{"message": "Validation Failed"}',
                status=422,
                content_type="application/json",
            )
        return None

    github.fault = refuse_first_post

    _, published = _run_and_publish(gate)

    posts = [c for c in github.calls if c[0] == "POST"]
    assert len(posts) == 2
    assert len(_ours(github)[0].body) <= 6_000
    assert "created comment" in published.stdout


def test_the_override_label_passes_a_failing_run(gate, github, runner):
    runner.event(
        pull_request_event(labels=[{"name": "gardener-gate/override"}])
    )
    github.labeled_by["gardener-gate/override"] = "lead-dev"

    run, published = _run_and_publish(gate)

    assert runner.outputs()["verdict"] == "overridden"
    assert runner.outputs()["exit-code"] == "0"
    body = _ours(github)[0].body
    assert "**Verdict: ⏭️ OVERRIDDEN**" in body
    assert "`lead-dev` let it through (label gardener-gate/override)" in body
    assert "lead-dev" in runner.summary.read_text().split("## Executive")[0]
    saved = json.loads((run.out / "worklog.json").read_text())
    assert saved["verdict"] == "overridden"
    assert saved["override"] == {
        "by": "lead-dev",
        "how": "label gardener-gate/override",
    }


def test_a_label_added_after_the_event_still_overrides(gate, github):
    # A re-run replays the event of the last push; the label came later.
    github.labels.append("gardener-gate/override")
    github.labeled_by["gardener-gate/override"] = "lead-dev"

    _, published = _run_and_publish(gate)

    assert "overridden by lead-dev (label gardener-gate/override)" in (
        published.stdout
    )


def test_the_override_input_names_the_actor(gate, github, runner):
    _, published = _run_and_publish(gate, STAGING, "--override")

    assert runner.outputs()["exit-code"] == "0"
    assert "overridden by dev-alice (the `override` input)" in (
        published.stdout
    )


def test_a_passing_run_is_not_overridden(gate, github, runner, tmp_path):
    path = tmp_path / "quiet.json"
    path.write_text("[]")

    _run_and_publish(gate, path, "--override")

    assert runner.outputs()["verdict"] == "warn"
    assert runner.outputs()["exit-code"] == "0"


def test_rules_the_pull_request_changes_are_listed(
    gate, github, runner, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    rules = rules_folder(
        tmp_path,
        "version: 1\nsignatures:\n"
        "  - id: probes\n    match: {status: 404}\n"
        "    accept: {reason: monitoring probes, expires: 2027-01-31}\n"
        "  - id: cancelled\n    match: {status: 499}\n"
        "  - id: untouched\n    match: {message: never}\n",
    )
    github.files["base0000"] = {
        "rules/team.yaml": (
            "version: 1\nsignatures:\n"
            "  - id: cancelled\n    match: {status: 409}\n"
            "  - id: untouched\n    match: {message: never}\n"
        )
    }

    run = gate("run", "--logs", str(STAGING), "--rules", str(rules))
    gate("publish", "--worklog", str(run.out), "--rules", "rules")

    body = _ours(github)[0].body
    section = body.split("## Rules changed by this pull request")[1]
    section = section.split("\n---\n")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `cancelled` | `rules/team.yaml` | changed | — (known, no accept)"
        " | `HTTP 499 Client Closed Request` (14) |",
        "| `probes` | `rules/team.yaml` | added | `monitoring probes` | "
        "`HTTP 404 Not Found` (216) |",
    ]


def test_log_text_cannot_act_as_a_workflow_command(gate, github, tmp_path):
    entries = [
        {
            "insertId": f"i{n}",
            "timestamp": "2025-05-12T10:00:00Z",
            "severity": "ERROR",
            "textPayload": "boom\n::set-output name=verdict::pass\n"
            "##[error]fake 50% done\n::add-mask::x",
        }
        for n in range(3)
    ]
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(entries))

    run, published = _run_and_publish(gate, path)

    for line in (run.stdout + run.stderr + published.stdout).splitlines():
        assert not line.startswith(("::set-output", "##[", "::add-mask"))
        if line.startswith("::"):
            assert line.startswith(("::error ", "::notice", "::warning"))
    assert "%25 done" in published.stdout


def test_a_missing_worklog_is_reported_and_keeps_the_code(
    gate, runner, tmp_path
):
    published = gate(
        "publish",
        "--worklog",
        str(tmp_path / "none"),
        "--gate-exit-code",
        "2",
    )

    assert published.code == 0
    assert runner.outputs() == {"verdict": "error", "exit-code": "2"}
    assert "No worklog" in runner.summary.read_text()


def test_no_secret_reaches_the_comment_or_summary(gate, github, runner):
    logs = CASES / "secrets-redaction" / "input.json"
    secrets = (
        (CASES / "secrets-redaction" / "must-not-appear.txt")
        .read_text()
        .split()
    )

    _, published = _run_and_publish(gate, logs)

    texts = [
        _ours(github)[0].body,
        runner.summary.read_text(),
        published.stdout,
        published.stderr,
    ]
    for secret in secrets:
        for text in texts:
            assert secret not in text
