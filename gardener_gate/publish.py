"""Publishing a worklog: job summary, outputs, annotations, PR comment.

``publish`` runs after ``run`` in the Action, and can be run by hand with
the same environment. Whatever GitHub answers, it exits 0 and the verdict
stays what the worklog says, unless the team overrode a failure on
purpose (a label on the pull request, or the ``override`` input).
"""

from __future__ import annotations

__all__ = [
    "PublishOptions",
    "marker_for",
    "publish",
]

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gardener_gate.action import SUMMARY_LIMIT, Runner
from gardener_gate.errors import EXIT_FAIL, EXIT_PASS, EXIT_READ, LogReadError
from gardener_gate.filing import FilingOptions, file_issues, not_filed
from gardener_gate.markdown import code, table
from gardener_gate.pull_request import PullRequest, PullRequestError
from gardener_gate.render import render_markdown
from gardener_gate.report import read_worklog
from gardener_gate.rules.load import is_rules_file
from gardener_gate.tracker import DEFAULT_LABEL, IssueTracker

logger = logging.getLogger(__name__)

COMMENT_LIMIT = 65_536
COMMENT_TARGET = 60_000
_SHORT_COMMENT = 6_000
_SERVICE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class PublishOptions:
    """What ``gardener-gate publish`` was asked to do."""

    worklog: Path
    gate_exit_code: int | None = None
    artifact: str | None = None
    rules: Path = Path("rules")
    override_label: str = "gardener-gate/override"
    override: bool = False
    comment: bool = True
    max_comment_chars: int = COMMENT_TARGET
    service: str | None = None
    open_issues: int | None = None
    max_issues: int = 5
    issue_label: str = DEFAULT_LABEL


def marker_for(service: str | None) -> str:
    """The hidden first line that finds our comment again."""
    name = _SERVICE.sub("-", service or "unknown").strip("-") or "unknown"
    return f"<!-- gardener-gate:{name} -->"


def publish(options: PublishOptions, runner: Runner) -> int:
    """Publish the worklog in ``options.worklog``; return the step's code.

    The code is the gate's own (0 when a failure was overridden); the
    ``publish`` command itself always exits 0.

    Raises:
        LogReadError: there is no readable worklog.json in the folder.
    """
    json_path = options.worklog / "worklog.json"
    md_path = options.worklog / "worklog.md"
    try:
        data = read_worklog(json_path)
    except LogReadError as fault:
        if options.gate_exit_code is None:
            raise
        return _no_worklog(options.gate_exit_code, runner, str(fault))
    code_in = (
        options.gate_exit_code
        if options.gate_exit_code is not None
        else _code_of(data)
    )
    event = runner.event
    pr = event.get("pull_request") if isinstance(event, dict) else None
    client = _client(runner, pr)
    overridden = data["verdict"] == "fail" and _override(
        data, options, runner, pr, client
    )
    if overridden:
        code_in = EXIT_PASS if code_in == EXIT_FAIL else code_in
    if options.open_issues is not None:
        _file(options, options.open_issues, runner, pr, data)
    if overridden or options.open_issues is not None:
        # The artifact, uploaded after this step, says what happened.
        json_path.write_text(
            json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
        md_path.write_text(render_markdown(data), "utf-8")
    extra = _rules_section(options, runner, pr, client, data)
    artifact = options.artifact
    runner.add_summary(
        render_markdown(
            data, budget=SUMMARY_LIMIT - 10_000, artifact=artifact, extra=extra
        )
    )
    new = [c for c in data["clusters"] if c["status"] == "new"]
    runner.set_outputs(
        {
            "verdict": str(data["verdict"]),
            "new-count": str(len(new)),
            "new-by-priority": json.dumps(data["summary"]["new_by_priority"]),
            "worklog-md": str(md_path),
            "worklog-json": str(json_path),
            "exit-code": str(code_in),
        }
    )
    _annotate(data, runner)
    if options.comment:
        _comment(options, runner, pr, client, data, extra)
    return code_in


def _no_worklog(code_in: int, runner: Runner, why: str) -> int:
    # The run step stopped before writing a worklog (invalid rules, logs
    # that could not be read); its own log says why.
    runner.add_summary(
        "# gardener-gate\n\n**❌ No worklog**: the gate stopped with exit "
        f"code {code_in} before writing one; its step's log says why.\n"
    )
    runner.set_outputs({"verdict": "error", "exit-code": str(code_in)})
    runner.warning(f"gardener-gate: {why}")
    return code_in


def _code_of(data: dict[str, Any]) -> int:
    if data.get("partial"):
        return EXIT_READ
    return EXIT_FAIL if data["verdict"] == "fail" else EXIT_PASS


def _client(runner: Runner, pr: Any) -> PullRequest | None:
    env = runner.env
    token = env.get("GITHUB_TOKEN")
    repository = env.get("GITHUB_REPOSITORY")
    if not isinstance(pr, dict) or not token or not repository:
        return None
    try:
        number = int(pr["number"])
    except (KeyError, TypeError, ValueError):
        return None
    api_url = env.get("GITHUB_API_URL", "https://api.github.com")
    return PullRequest(api_url, token, repository, number)


def _is_fork(pr: dict[str, Any]) -> bool:
    head_repo = ((pr.get("head") or {}).get("repo") or {}).get("full_name")
    base_repo = ((pr.get("base") or {}).get("repo") or {}).get("full_name")
    return bool(head_repo and base_repo and head_repo != base_repo)


def _run_url(env: Any) -> str | None:
    parts = [env.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_RUN_ID")]
    repository = env.get("GITHUB_REPOSITORY")
    if not all(parts) or not repository:
        return None
    return f"{parts[0]}/{repository}/actions/runs/{parts[1]}"


def _file(
    options: PublishOptions,
    level: int,
    runner: Runner,
    pr: Any,
    data: dict[str, Any],
) -> None:
    env = runner.env
    filing = FilingOptions(
        level=level,
        cap=options.max_issues,
        label=options.issue_label,
        marker=marker_for(options.service or data["source"].get("service")),
        run_url=_run_url(env),
    )
    token, repository = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
    api_url = env.get("GITHUB_API_URL") or "https://api.github.com"
    problem = None
    if not token or not repository:
        problem = "no GITHUB_TOKEN and GITHUB_REPOSITORY"
    elif isinstance(pr, dict) and _is_fork(pr):
        problem = "pull request from a fork (read-only token)"
    else:
        try:
            tracker = IssueTracker(api_url, token, repository)
        except PullRequestError as fault:
            problem = str(fault)
    if problem is not None:
        runner.notice(f"gardener-gate: no issue opened: {problem}")
        data["issues_filed"] = not_filed(filing, problem)
        return
    filed = file_issues(data, filing, tracker)
    data["issues_filed"] = filed
    for done in filed["opened"]:
        runner.notice(
            f"gardener-gate: opened issue #{done['number']} for cluster "
            f"{done['cluster']}"
        )
    for done in filed["updated"]:
        runner.notice(
            f"gardener-gate: updated the counts on issue #{done['number']} "
            f"for cluster {done['cluster']}"
        )
    if filed["over_cap"]:
        runner.notice(
            f"gardener-gate: over the cap of {options.max_issues} issues a "
            f"run, not opened: {', '.join(filed['over_cap'])}"
        )
    for missed in filed["not_updated"]:
        runner.warning(
            f"gardener-gate: issue #{missed['number']} not updated: "
            f"{missed['why']}"
        )
    if filed["problem"]:
        runner.warning(f"gardener-gate: issues not opened: {filed['problem']}")


def _override(
    data: dict[str, Any],
    options: PublishOptions,
    runner: Runner,
    pr: Any,
    client: PullRequest | None,
) -> bool:
    labels: list[str] = []
    if isinstance(pr, dict):
        labels = [
            str(label.get("name"))
            for label in pr.get("labels") or []
            if isinstance(label, dict)
        ]
    if client is not None and options.override_label not in labels:
        # A re-run replays the old event; the pull request's labels now
        # are what counts.
        try:
            labels = client.labels()
        except PullRequestError as fault:
            runner.warning(
                f"could not read the pull request's labels: {fault}"
            )
    if options.override:
        who = runner.env.get("GITHUB_ACTOR") or "unknown"
        how = "the `override` input"
    elif options.override_label in labels:
        who = "unknown"
        if client is not None:
            try:
                who = client.labeler(options.override_label) or who
            except PullRequestError as fault:
                runner.warning(
                    f"could not tell who applied the label: {fault}"
                )
        how = f"label {options.override_label}"
    else:
        return False
    data["override"] = {"by": who, "how": how}
    data["reason"] = (
        f"overridden by {who} ({how}); it had failed: {data['reason']}"
    )
    data["verdict"] = "overridden"
    runner.notice(
        f"gardener-gate: failing verdict overridden by {who} ({how})"
    )
    return True


def _annotate(data: dict[str, Any], runner: Runner) -> None:
    for cluster in data["clusters"]:
        title = f"gardener-gate {cluster['priority']} {cluster['status']}"
        events = "event" if cluster["count"] == 1 else "events"
        message = (
            f"{cluster['title'][:300]} ({cluster['count']} {events}, "
            f"{cluster['kind']}, id {cluster['id']})"
        )
        if cluster["fails"]:
            runner.annotate("error", title, message)
        elif cluster["status"] == "expired":
            runner.annotate("notice", title, message)


def _signatures(files: dict[str, str]) -> dict[str, tuple[str, Any]]:
    found: dict[str, tuple[str, Any]] = {}
    for name, text in sorted(files.items()):
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if not isinstance(loaded, dict):
            continue
        for item in loaded.get("signatures") or []:
            if isinstance(item, dict) and "id" in item:
                found[str(item["id"])] = (name, item)
    return found


def _local_files(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        path.name: path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(folder.iterdir())
        if is_rules_file(path.name) and path.is_file()
    }


def _rules_section(
    options: PublishOptions,
    runner: Runner,
    pr: Any,
    client: PullRequest | None,
    data: dict[str, Any],
) -> list[str]:
    if client is None or not isinstance(pr, dict):
        return []
    base = pr.get("base") or {}
    ref = base.get("sha") or base.get("ref")
    if not ref:
        return []
    try:
        before = _signatures(
            client.files_at(str(ref), options.rules.as_posix())
        )
    except PullRequestError as fault:
        runner.warning(
            f"could not compare rules with the base branch: {fault}"
        )
        return []
    after = _signatures(_local_files(options.rules))
    rows = []
    for ident, (name, item) in sorted(after.items()):
        if ident in before and before[ident][1] == item:
            continue
        change = "changed" if ident in before else "added"
        accepted = [
            f"{code(c['title'][:80], True)} ({c['count']})"
            for c in data["clusters"]
            if c["rule"] == ident
        ]
        accept = item.get("accept") if isinstance(item, dict) else None
        reason = accept.get("reason") if isinstance(accept, dict) else None
        rows.append(
            [
                code(ident, True),
                code(f"{options.rules.as_posix()}/{name}", True),
                change,
                code(str(reason), True) if reason else "— (known, no accept)",
                "<br>".join(accepted) or "nothing in this window",
            ]
        )
    heading = "## Rules changed by this pull request"
    if not rows:
        return [f"{heading}\n\nNo signature is added or changed."]
    intro = (
        f"{heading}\n\nReview what these signatures wave through: they come "
        "from this pull request's head."
    )
    columns = ["signature", "file", "change", "reason", "clusters it matches"]
    return [intro + "\n\n" + table(columns, rows)]


def _comment(
    options: PublishOptions,
    runner: Runner,
    pr: Any,
    client: PullRequest | None,
    data: dict[str, Any],
    extra: list[str],
) -> None:
    if not isinstance(pr, dict):
        return
    if client is None:
        runner.notice("gardener-gate: no GITHUB_TOKEN; the PR comment skipped")
        return
    if _is_fork(pr):
        runner.notice(
            "gardener-gate: pull request from a fork (read-only token); "
            "the comment is skipped, the summary and artifact hold the worklog"
        )
        return
    marker = marker_for(options.service or data["source"].get("service"))
    limit = min(options.max_comment_chars, COMMENT_LIMIT) - len(marker) - 1
    body = (
        marker
        + "\n"
        + render_markdown(
            data, budget=limit, artifact=options.artifact, extra=extra
        )
    )
    short = (
        marker
        + "\n"
        + render_markdown(
            data,
            budget=min(limit, _SHORT_COMMENT),
            artifact=options.artifact,
        )
    )
    try:
        outcome = client.upsert_comment(marker, body, short)
    except PullRequestError as fault:
        runner.warning(
            f"gardener-gate: the PR comment was not posted: {fault}"
        )
        return
    runner.notice(f"gardener-gate: {outcome}")
