"""action.yml: valid for GitHub, and run step by step as a runner would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES
from fakes.github import Comment, GitHubFake
from fakes.runner import SimulatedRunner

ROOT = Path(__file__).resolve().parents[2]
STAGING = CASES / "staging-3day" / "input.json"
MARKER = "<!-- gardener-gate:orders-api -->"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            schema,
            str(path),
        ],
        capture_output=True,
        text=True,
    )


def test_action_yml_is_a_valid_action():
    done = _check_jsonschema("vendor.github-actions", ROOT / "action.yml")

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_each_workflow_is_valid(workflow):
    done = _check_jsonschema("vendor.github-workflows", workflow)

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflows_are_the_three_the_project_keeps():
    assert [p.name for p in WORKFLOWS] == [
        "ci.yml",
        "example-deploy.yml",
        "self-test.yml",
    ]


def test_every_action_used_is_pinned_to_a_commit():
    texts = [(ROOT / "action.yml").read_text()] + [
        p.read_text() for p in WORKFLOWS
    ]
    uses = [
        line.split("uses:", 1)[1].split("#")[0].strip()
        for text in texts
        for line in text.splitlines()
        if "uses:" in line and "./" not in line and "<owner>" not in line
    ]
    assert uses
    for use in uses:
        assert len(use.rsplit("@", 1)[1]) == 40, use


@pytest.fixture(scope="session")
def action_python(tmp_path_factory) -> Path:
    """A fresh environment for the install step, which sees the test's
    dependencies but not its editable gardener-gate."""
    root = tmp_path_factory.mktemp("runner-python")
    # No pip of its own: the test's pip and setuptools (seen through the
    # .pth file) install into it, offline.
    venv.EnvBuilder(with_pip=False).create(root)
    found = subprocess.run(
        [
            str(root / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    paths = {
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    }
    Path(found.stdout.strip(), "test-dependencies.pth").write_text(
        "\n".join(sorted(paths)) + "\n"
    )
    return root / "bin"


@pytest.fixture
def action_copy(tmp_path) -> Path:
    """The action's folder, as a checkout of it would hold it."""
    copy = tmp_path / "action"
    copy.mkdir()
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(
        ROOT / "gardener_gate",
        copy / "gardener_gate",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return copy


def pull_request_event(**changes: Any) -> dict[str, Any]:
    """A pull_request event payload, trimmed to what a runner writes."""
    repo = {
        "id": 1296269,
        "full_name": "platform/orders-api",
        "name": "orders-api",
        "owner": {"login": "platform", "type": "Organization"},
        "default_branch": "main",
        "private": True,
    }
    pull = {
        "url": "https://api.github.com/repos/platform/orders-api/pulls/412",
        "id": 1,
        "number": 412,
        "state": "open",
        "title": "Raise the checkout timeout",
        "user": {"login": "dev-alice", "type": "User"},
        "labels": [],
        "draft": False,
        "head": {
            "label": "platform:checkout-timeout",
            "ref": "checkout-timeout",
            "sha": "head1111",
            "repo": repo,
        },
        "base": {
            "label": "platform:main",
            "ref": "main",
            "sha": "base0000",
            "repo": repo,
        },
    }
    pull.update(changes)
    return {
        "action": "synchronize",
        "number": 412,
        "pull_request": pull,
        "repository": repo,
        "sender": {"login": "dev-alice", "type": "User"},
    }


class Job:
    """One job that uses the action, on a workspace of its own."""

    def __init__(self, root: Path, action: Path, python: Path, api: str):
        self.workspace = root / "workspace"
        self.workspace.mkdir()
        self.summary = root / "summary.md"
        self.event_path = root / "event.json"
        self.event(pull_request_event())
        temp = root / "runner-temp"
        temp.mkdir()
        self.runner = SimulatedRunner(
            action_path=action,
            workspace=self.workspace,
            artifacts=root / "artifacts",
            env={
                "PATH": f"{python}:{os.environ['PATH']}",
                "HOME": str(root),
                "GITHUB_API_URL": api,
                "GITHUB_REPOSITORY": "platform/orders-api",
                "GITHUB_EVENT_PATH": str(self.event_path),
                "GITHUB_EVENT_NAME": "pull_request",
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "GITHUB_ACTOR": "dev-alice",
                "RUNNER_TEMP": str(temp),
                # The install step installs for real, from this disk only.
                "PIP_NO_INDEX": "1",
                "PIP_NO_BUILD_ISOLATION": "false",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            },
        )

    def event(self, payload: dict[str, Any]) -> None:
        self.event_path.write_text(json.dumps(payload))

    def rules(self, text: str) -> None:
        folder = self.workspace / "rules"
        folder.mkdir(exist_ok=True)
        (folder / "team.yaml").write_text(text)

    def run(self, **inputs: str):
        logs = self.workspace / "logs.json"
        if not logs.exists():
            shutil.copy(STAGING, logs)
        given = {"logs": "logs.json", "service": "orders-api", **inputs}
        return self.runner.run(given)


@pytest.fixture
def github(httpserver) -> GitHubFake:
    fake = GitHubFake()
    fake.install(httpserver)
    return fake


@pytest.fixture
def job(tmp_path, action_copy, action_python, github) -> Job:
    return Job(tmp_path, action_copy, action_python, github.api)


def _ours(github: GitHubFake) -> list[Comment]:
    return [c for c in github.comments if c.body.startswith(MARKER)]


def test_the_first_run_comments_and_the_second_edits_the_comment(job, github):
    first = job.run()
    second = job.run(**{"artifact-name": "second"})

    assert first.code == second.code == 1
    assert len(_ours(github)) == 1
    assert sum(1 for c in github.calls if c[0] == "POST") == 1
    assert sum(1 for c in github.calls if c[0] == "PATCH") == 1


def test_outputs_summary_and_artifact_hold_the_worklog(job, github):
    result = job.run()

    assert result.outputs["verdict"] == "fail"
    assert result.outputs["new-count"] == "14"
    assert json.loads(result.outputs["new-by-priority"]) == {
        "P1": 4,
        "P2": 1,
        "P4": 1,
        "P6": 1,
        "P10": 7,
    }
    assert result.outputs["worklog-md"].endswith(
        "gardener-gate-worklog-orders-api/worklog.md"
    )
    assert Path(result.outputs["worklog-json"]).exists()
    assert job.summary.read_text().startswith(
        "# gardener-gate worklog: `orders-api`"
    )
    artifact = result.artifacts["gardener-gate-worklog-orders-api"]
    assert sorted(p.name for p in artifact.iterdir()) == [
        "worklog.json",
        "worklog.md",
    ]
    assert "::error title=gardener-gate P1 new::" in result.log


def test_200_clusters_keep_the_comment_under_the_limit(job, github):
    entries = [
        {
            "insertId": f"id-{n}",
            "timestamp": f"2025-05-12T10:{n // 60:02d}:{n % 60:02d}Z",
            "severity": "ERROR",
            "textPayload": "Traceback (most recent call last):\n"
            f'  File "/app/orders/step{n}.py", line 10, in handler_{n}\n'
            f"    run_{n}()\nError{n}Failure: failed with detail " + "x" * 300,
        }
        for n in range(200)
    ]
    (job.workspace / "logs.json").write_text(json.dumps(entries))

    result = job.run()

    body = _ours(github)[0].body
    assert len(body) <= 60_000
    assert "more clusters (full worklog: artifact " in body
    saved = json.loads(Path(result.outputs["worklog-json"]).read_text())
    assert len(saved["clusters"]) == 200


def test_a_fork_skips_the_comment_and_still_fails(job, github):
    job.event(
        pull_request_event(
            head={
                "ref": "x",
                "sha": "f00",
                "repo": {"full_name": "someone/orders-api"},
            }
        )
    )

    result = job.run()

    assert result.code == 1
    assert github.comments == []
    assert "pull request from a fork" in result.log
    assert result.outputs["verdict"] == "fail"


def test_the_override_label_lets_a_failing_run_through(job, github):
    job.event(pull_request_event(labels=[{"name": "gardener-gate/override"}]))
    github.labeled_by["gardener-gate/override"] = "lead-dev"

    result = job.run()

    assert result.code == 0
    assert result.outputs["verdict"] == "overridden"
    body = _ours(github)[0].body
    assert body.index("Overridden") < body.index("## Executive summary")
    assert "`lead-dev` let it through" in job.summary.read_text()


def test_a_rules_change_in_the_pull_request_gets_its_own_section(job, github):
    job.rules(
        "version: 1\nsignatures:\n  - id: probes\n    match: {status: 404}\n"
        "    accept: {reason: monitoring probes}\n"
    )
    github.files["base0000"] = {"rules/team.yaml": "version: 1\n"}

    job.run()

    body = _ours(github)[0].body
    section = body.split("## Rules changed by this pull request")[1]
    assert (
        "| `probes` | `rules/team.yaml` | added | `monitoring probes` |"
        in (section)
    )
    assert "`HTTP 404 Not Found` (216)" in section


def test_rules_from_base_ignores_what_the_pull_request_accepts(job, github):
    accept_all = (
        "version: 1\nsignatures:\n"
        "  - id: everything\n    match: {glob: '*'}\n"
        "    accept: {reason: anything goes}\n"
    )
    job.rules(accept_all)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=job.workspace, check=True)
    (job.workspace / "rules" / "team.yaml").write_text("version: 1\n")
    subprocess.run([*git, "add", "rules"], cwd=job.workspace, check=True)
    subprocess.run(
        [*git, "commit", "-qm", "base"], cwd=job.workspace, check=True
    )
    base = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=job.workspace,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    job.rules(accept_all)
    job.event(
        pull_request_event(
            base={
                "ref": "main",
                "sha": base,
                "repo": {"full_name": "platform/orders-api"},
            }
        )
    )

    from_head = job.run(**{"artifact-name": "head"})
    from_base = job.run(**{"rules-from": "base", "artifact-name": "base"})

    assert from_head.code == 0
    assert from_base.code == 1


def test_the_revision_before_is_the_baseline_when_asked(job, github):
    result = job.run(
        revision="orders-api-00042-kot", **{"baseline-revision": "auto"}
    )

    worklog = json.loads(Path(result.outputs["worklog-json"]).read_text())
    assert worklog["baseline"]["name"] == "revision orders-api-00041-zed"
    assert result.code == 1
    assert "| Baseline | Baseline count |" in job.summary.read_text()
    comment = _ours(github)[0].body
    assert "**unexpected frequency**: 2 events" in comment


def test_open_issues_opens_up_to_the_cap_and_the_next_run_links_them(
    job, github
):
    first = job.run(**{"open-issues": "P2", "max-issues": "2"})
    opened_first = [i.number for i in github.issues]
    second = job.run(
        **{"open-issues": "P2", "max-issues": "2", "artifact-name": "again"}
    )

    assert first.code == second.code == 1
    assert opened_first == [413, 414]
    assert [i.title[:3] for i in github.issues] == ["P1 "] * 4
    assert all(i.labels == ["gardener-gate"] for i in github.issues)
    assert [len(i.comments) for i in github.issues] == [1, 1, 0, 0]
    # The run step looked the issues up with the workflow's token.
    saved = json.loads(Path(second.outputs["worklog-json"]).read_text())
    assert saved["issues"]["checked"] is True
    linked = [c["issue"]["number"] for c in saved["clusters"] if "issue" in c]
    assert linked == [413, 414]
    filed = saved["issues_filed"]
    assert [d["number"] for d in filed["opened"]] == [415, 416]
    assert len(filed["over_cap"]) == 1
    assert "over the cap of 2 issues a run, not opened: c1-" in second.log
    assert "Not opened: 1 more cluster over the cap" in (
        job.summary.read_text()
    )


def test_without_open_issues_the_action_opens_none(job, github):
    result = job.run()

    assert result.code == 1
    assert github.issues == []
    assert ("GET", "/repos/platform/orders-api/issues") in github.calls


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        (
            {"baseline-revision": "auto", "baseline": "last/worklog.json"},
            "give baseline-revision or baseline (a worklog), not both",
        ),
        ({"fail-on": "high"}, "fail-on 'high': use P0 to P10"),
        (
            {"open-issues": "high"},
            "open-issues 'high': use P0 to P10, or off",
        ),
        ({"max-issues": "many"}, "max-issues 'many': use a count, such as 5"),
        ({"rules-from": "main"}, "rules-from 'main': use head or base"),
        ({"dry-run": "yes"}, "dry-run 'yes': use true or false"),
        (
            {"logs": "", "service": "orders-api"},
            "give logs (a file of entries), or project, service and region",
        ),
    ],
)
def test_bad_inputs_stop_with_a_clear_message(job, inputs, problem):
    result = job.run(**inputs)

    assert result.code == 2
    assert f"::error title=gardener-gate inputs::{problem}" in result.log
