"""Issues for the clusters of a worklog: open them, or update their counts.

``publish --open-issues P2`` gives each ``new`` or ``regressed`` cluster
at P2 or higher an issue: one with no open issue gets a new one (its
worklog section as the body, already redacted, with the hidden marker and
the label), at most ``cap`` a run; one that has an open issue gets one
comment of ours, edited on every run, with the latest counts. Whatever
GitHub answers, the verdict stays; the outcome is recorded in the worklog
under ``issues_filed``.
"""

from __future__ import annotations

__all__ = [
    "ISSUE_LIMIT",
    "FilingOptions",
    "file_issues",
    "issue_body",
    "issue_title",
    "not_filed",
]

import logging
from dataclasses import dataclass
from typing import Any

from gardener_gate.markdown import code, table
from gardener_gate.pull_request import PullRequestError
from gardener_gate.render import render_cluster
from gardener_gate.tracker import (
    DEFAULT_LABEL,
    IssueTracker,
    issue_marker,
    unmarked,
)

logger = logging.getLogger(__name__)

# GitHub refuses an issue body over 65,536 characters.
ISSUE_LIMIT = 60_000
_FILED = ("new", "regressed")


@dataclass(frozen=True, slots=True)
class FilingOptions:
    """Which clusters get issues, how many a run, and how they are found.

    ``marker`` starts the gate's counts comment on an open issue.
    """

    level: int
    marker: str
    cap: int = 5
    label: str = DEFAULT_LABEL
    run_url: str | None = None


def _candidates(data: dict[str, Any], level: int) -> list[dict[str, Any]]:
    return [
        c
        for c in data["clusters"]
        if c["status"] in _FILED and int(str(c["priority"])[1:]) <= level
    ]


def issue_title(cluster: dict[str, Any]) -> str:
    """The issue's title: the log text in a code span stays inert."""
    title = " ".join(str(cluster["title"]).split())
    if len(title) > 100:
        title = title[:99] + "…"
    return f"{cluster['priority']} {code(title)}"


def issue_body(data: dict[str, Any], cluster: dict[str, Any]) -> str:
    """The marker, a line on what the issue is, the cluster's section."""
    source = data["source"]
    service = code(source.get("service") or "unknown")
    revision = code(source.get("revision") or "all revisions")
    intro = (
        f"gardener-gate opened this issue for a cluster that {service} "
        f"logged (revision {revision}). The gate finds it again by the "
        "hidden marker above and its label: keep both. Close it as "
        "completed once fixed; if the cluster comes back, the gate marks "
        "it `regressed`, which fails the gate like `new`."
    )
    body = "\n\n".join(
        [
            issue_marker(cluster["id"]),
            intro,
            unmarked(render_cluster(data, cluster["id"])),
        ]
    )
    if len(body) <= ISSUE_LIMIT:
        return body + "\n"
    # Past the limit only by its samples; a fence cut open stays a fence.
    kept = body[: ISSUE_LIMIT - 200].rsplit("\n", 1)[0]
    return kept + "\n\n… (cut to fit; the worklog holds the whole section)\n"


def _counts_body(
    data: dict[str, Any], cluster: dict[str, Any], options: FilingOptions
) -> str:
    source = data["source"]
    where = f"[this run]({options.run_url})" if options.run_url else "—"
    row = [
        data["generated_at"],
        code(source.get("revision") or "all revisions", True),
        str(cluster["count"]),
        str(cluster["first_seen"] or "n/a"),
        str(cluster["last_seen"] or "n/a"),
        f"{cluster['priority']}, {cluster['status']}",
        where,
    ]
    columns = [
        "run",
        "revision",
        "events",
        "first seen",
        "last seen",
        "status",
        "worklog",
    ]
    service = code(source.get("service") or "unknown")
    return (
        f"{options.marker}\ngardener-gate still sees this cluster in "
        f"{service}; the latest counts (this comment is edited on every "
        f"run):\n\n{table(columns, [row])}\n"
    )


def not_filed(options: FilingOptions, problem: str | None) -> dict[str, Any]:
    """The record of a filing that did nothing (yet), and why."""
    return {
        "level": f"P{options.level}",
        "cap": options.cap,
        "label": options.label,
        "opened": [],
        "updated": [],
        "not_updated": [],
        "over_cap": [],
        "problem": problem,
    }


def file_issues(
    data: dict[str, Any], options: FilingOptions, tracker: IssueTracker
) -> dict[str, Any]:
    """Open or update the clusters' issues; say what was done.

    The first fault stops the filing (a token that may not write issues
    fails every call alike) and is recorded as its ``problem``.
    """
    filed = not_filed(options, None)
    try:
        found = tracker.find(options.label)
        for cluster in _candidates(data, options.level):
            link = found.get(cluster["id"])
            done = {"cluster": cluster["id"]}
            if link is not None and link.is_open:
                try:
                    tracker.upsert_comment(
                        link.number,
                        options.marker,
                        _counts_body(data, cluster, options),
                    )
                except PullRequestError as fault:
                    # One issue may be locked; the others still count.
                    logger.info(
                        "issue #%s not updated: %s", link.number, fault
                    )
                    filed["not_updated"].append(
                        {**done, "number": link.number, "why": str(fault)}
                    )
                    continue
                filed["updated"].append(
                    {**done, "number": link.number, "url": link.url}
                )
            elif len(filed["opened"]) >= options.cap:
                filed["over_cap"].append(cluster["id"])
            else:
                opened = tracker.open_issue(
                    issue_title(cluster),
                    issue_body(data, cluster),
                    options.label,
                )
                filed["opened"].append(
                    {**done, "number": opened.number, "url": opened.url}
                )
    except PullRequestError as fault:
        logger.info("issue filing stopped: %s", fault)
        filed["problem"] = str(fault)
    return filed
