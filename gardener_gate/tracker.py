"""The repository's issues: which one speaks for each cluster.

An issue the gate opens carries the cluster's id in a hidden marker,
``<!-- gardener-gate:cluster=c1-3fa9… -->``, on a line of its own, and a
label (``gardener-gate`` by default). The lookup lists the issues with
that label, open and closed, and reads their markers, so that the
verdict can tell a cluster whose issue was closed as fixed and that came
back (``regressed``). Listing by label, rather than GitHub's search,
sees an issue the moment it is opened and works the same on GitHub
Enterprise. No fault of GitHub's stops a run: the lookup then says why
it could not check.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_LABEL",
    "DEFAULT_LEVEL",
    "IssueLink",
    "IssueLinks",
    "IssueTracker",
    "issue_marker",
    "look_up_issues",
    "marked_clusters",
    "unmarked",
]

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from github.Issue import Issue

from gardener_gate.pull_request import (
    PullRequestError,
    call,
    connect,
    login_of,
    upsert_comment,
)

logger = logging.getLogger(__name__)

DEFAULT_LABEL = "gardener-gate"
DEFAULT_LEVEL = 4
_REPOSITORY = re.compile(
    r"(?!\.{1,2}/)[A-Za-z0-9_.-]+/(?!\.{1,2}$)[A-Za-z0-9_.-]+"
)
# Issues read at most in one lookup.
MAX_ISSUES = 5000
_READ = "issues: read"
_WRITE = "issues: write"
# The whole id, whatever version of the clustering made it (c1-, c2-…).
# A body edited on github.com comes back with CRLF line ends.
_MARKER = re.compile(
    r"^<!-- gardener-gate:cluster=([A-Za-z0-9][A-Za-z0-9._-]{0,99}) -->"
    r"[ \t]*\r?$",
    re.M,
)


def issue_marker(cluster_id: str) -> str:
    """The hidden line that ties an issue to a cluster."""
    return f"<!-- gardener-gate:cluster={cluster_id} -->"


def marked_clusters(body: str) -> list[str]:
    """The cluster ids an issue's body is marked with.

    Only a marker on a line of its own counts: one quoted in a reply
    (``> <!-- … -->``) does not tie that issue to the cluster.
    """
    return _MARKER.findall(body)


def unmarked(text: str) -> str:
    """``text`` with every marker line indented, so that it ties nothing.

    For log text put into an issue: a stack frame that reads like a
    marker must not link the issue to another cluster.
    """
    return _MARKER.sub(lambda found: " " + found.group(0), text)


@dataclass(frozen=True, slots=True)
class IssueLink:
    """One issue of the repository, as far as the gate needs it."""

    number: int
    url: str
    state: str
    state_reason: str | None = None
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Whether the issue is open."""
        return self.state == "open"

    @property
    def is_fixed(self) -> bool:
        """Whether the issue was closed as fixed (``completed``).

        Any sighting in the run's window counts as the cluster coming
        back, even one older than the close: the revision in staging may
        predate the fix, and that is exactly what a gate must stop.
        """
        return self.state == "closed" and self.state_reason == "completed"

    def as_dict(self) -> dict[str, Any]:
        """The issue as worklog.json shows it."""
        closed = self.closed_at
        return {
            "number": self.number,
            "url": self.url,
            "state": self.state,
            "state_reason": self.state_reason,
            "closed_at": (
                None
                if closed is None
                else closed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            ),
        }


@dataclass(frozen=True, slots=True)
class IssueLinks:
    """What the lookup found, for clusters at ``level`` or above."""

    repository: str | None
    label: str = DEFAULT_LABEL
    level: int = DEFAULT_LEVEL
    issues: Mapping[str, IssueLink] = field(default_factory=dict)
    problem: str | None = None

    @property
    def checked(self) -> bool:
        """Whether the repository's issues were read."""
        return self.repository is not None and self.problem is None

    def link_for(self, cluster_id: str, priority: int) -> IssueLink | None:
        """The issue that speaks for a cluster, if it is looked up."""
        if priority > self.level:
            return None
        return self.issues.get(cluster_id)

    def as_dict(self) -> dict[str, Any]:
        """The lookup as worklog.json shows it under ``issues``."""
        return {
            "repository": self.repository,
            "label": self.label,
            "level": f"P{self.level}",
            "checked": self.checked,
            "problem": self.problem,
        }


def _link(issue: Issue) -> IssueLink:
    closed = issue.closed_at
    if closed is not None and closed.tzinfo is None:
        closed = closed.replace(tzinfo=UTC)
    return IssueLink(
        number=int(issue.number),
        url=str(issue.html_url),
        state=str(issue.state),
        state_reason=issue.state_reason,
        closed_at=closed,
    )


def _preferred(links: Iterable[IssueLink]) -> IssueLink:
    # An open issue speaks for the cluster; else the one closed last.
    return max(
        links,
        key=lambda link: (
            link.is_open,
            link.closed_at or datetime.min.replace(tzinfo=UTC),
            link.number,
        ),
    )


class IssueTracker:
    """The issues of one repository, reached with the workflow's token."""

    def __init__(self, api_url: str, token: str, repository: str) -> None:
        """Nothing is asked of GitHub yet.

        Raises:
            PullRequestError: ``api_url`` is no URL of an API.
        """
        self._github = call(
            lambda: connect(api_url, token), "reach GitHub", _READ
        )
        self._repo = self._github.get_repo(repository)
        self._login: str | None = None

    def find(self, label: str) -> dict[str, IssueLink]:
        """Every cluster id that a labelled issue is marked with.

        Raises:
            PullRequestError: the issues could not be read.
        """

        def read() -> dict[str, list[IssueLink]]:
            found: dict[str, list[IssueLink]] = {}
            listing = self._repo.get_issues(state="all", labels=[label])
            for seen, issue in enumerate(listing):
                if seen >= MAX_ISSUES:
                    # Pages that never end, or a label on everything.
                    raise PullRequestError(
                        f"more than {MAX_ISSUES} issues are labelled "
                        f"{label}; give the gate's issues a label of their "
                        "own"
                    )
                idents = marked_clusters(str(issue.body or ""))
                # The listing holds pull requests too. Asking for their
                # ``pull_request`` field would fetch each issue again.
                if "/pull/" in str(issue.html_url):
                    continue
                for ident in idents:
                    found.setdefault(ident, []).append(_link(issue))
            return found

        found = call(read, f"list the issues labelled {label}", _READ)
        return {ident: _preferred(links) for ident, links in found.items()}

    def open_issue(self, title: str, body: str, label: str) -> IssueLink:
        """Open an issue with ``label``.

        Raises:
            PullRequestError: GitHub refused or failed.
        """

        def create() -> tuple[IssueLink, bool]:
            issue = self._repo.create_issue(
                title=title, body=body, labels=[label]
            )
            names = {str(given.name) for given in issue.labels}
            return _link(issue), label in names

        link, labelled = call(create, "open an issue", _WRITE)
        if not labelled:
            # Without push access GitHub drops the labels silently, and
            # the next lookup would not find the issue: opening more
            # would open them again on every run.
            raise PullRequestError(
                f"issue #{link.number} was opened without the label "
                f"{label}, so later runs would not find it (the token may "
                "lack push access); no more issues are opened"
            )
        return link

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Edit our comment starting with ``marker`` on an issue, or add it.

        Raises:
            PullRequestError: GitHub refused or failed.
        """
        if self._login is None:
            self._login = login_of(self._github)
        issue = call(
            lambda: self._repo.get_issue(number), f"read #{number}", _READ
        )
        return upsert_comment(issue, self._login, marker, body, body, _WRITE)


def look_up_issues(
    env: Mapping[str, str],
    repository: str | None,
    level: int | None,
    label: str = DEFAULT_LABEL,
) -> IssueLinks:
    """Find the issues that speak for clusters; never fails the run.

    ``repository`` defaults to GITHUB_REPOSITORY; the token is
    GITHUB_TOKEN, read from the environment only, and the API root is
    GITHUB_API_URL (GitHub Enterprise: the host, or ``HOST/api/v3``).
    ``level`` None turns the lookup off.
    """
    if level is None:
        return IssueLinks(None, label, problem="turned off")
    repository = repository or env.get("GITHUB_REPOSITORY") or None
    token = env.get("GITHUB_TOKEN")
    if repository is None or not token:
        return IssueLinks(
            None,
            label,
            level,
            problem="no GitHub repository and token (GITHUB_REPOSITORY, "
            "GITHUB_TOKEN)",
        )
    if not _REPOSITORY.fullmatch(repository):
        return IssueLinks(
            None,
            label,
            level,
            problem=f"{repository!r} is not a repository (OWNER/NAME)",
        )
    api_url = env.get("GITHUB_API_URL") or "https://api.github.com"
    try:
        found = IssueTracker(api_url, token, repository).find(label)
    except PullRequestError as fault:
        logger.info("regressions not checked: %s", fault)
        return IssueLinks(repository, label, level, problem=str(fault))
    logger.info(
        "issues labelled %s in %s speak for %d cluster(s)",
        label,
        repository,
        len(found),
    )
    return IssueLinks(repository, label, level, found)
