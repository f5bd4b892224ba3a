"""The pull request on GitHub: its living comment, labels and base rules.

PyGithub does the talking. Nothing here may change the verdict: every
fault GitHub can answer with (403 on a fork, 422, 5xx, rate limits, a
wrong base URL) ends in a ``PullRequestError`` that ``publish`` turns
into a warning. ``connect`` and ``call`` serve the repository's issues
(``tracker``) the same way.
"""

from __future__ import annotations

__all__ = [
    "FALLBACK_LOGIN",
    "PullRequest",
    "PullRequestError",
    "api_base_url",
    "call",
    "connect",
    "login_of",
    "upsert_comment",
]

import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from github import Auth, Github, GithubException
from github.GithubException import BadAttributeException
from github.Issue import Issue

from gardener_gate.rules.load import is_rules_file

logger = logging.getLogger(__name__)

# The workflow's own token may not read /user; its comments are by this.
FALLBACK_LOGIN = "github-actions[bot]"
_MAX_WAIT = 60.0
# Seconds to wait for one answer; a slow GitHub counts as a fault.
_TIMEOUT = 20
# Seconds between requests and between writes: PyGithub's defaults, which
# keep clear of GitHub's secondary rate limits.
_PACE: tuple[float | None, float | None] = (0.25, 1.0)
_T = TypeVar("_T")
# Looked up at call time, so that tests can stand in for it.
_sleep = time.sleep


class PullRequestError(Exception):
    """GitHub did not do what was asked; the message says what and why.

    Raised for the repository's issues too: one kind of fault for publish.
    """


def api_base_url(url: str) -> str:
    """The REST API root: GitHub Enterprise hosts need ``/api/v3``."""
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.hostname in ("api.github.com", None) or parts.path.endswith(
        "/api/v3"
    ):
        return url
    return f"{url}/api/v3"


def _retry_after(fault: GithubException) -> float | None:
    headers = fault.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    message = str(fault.data).lower()
    if value is None and "rate limit" not in message:
        return None
    try:
        wait = float(value) if value else _MAX_WAIT
    except ValueError:
        return _MAX_WAIT
    # A negative or NaN header is no reason to crash, nor to wait long.
    return min(max(wait, 0.0), _MAX_WAIT) if math.isfinite(wait) else _MAX_WAIT


def connect(api_url: str, token: str) -> Github:
    """A client for the REST API at ``api_url``, paced and without retries.

    ``call`` does the retrying, so that a rate limit is waited out once.
    """
    return Github(
        auth=Auth.Token(token),
        base_url=api_base_url(api_url),
        timeout=_TIMEOUT,
        retry=None,
        per_page=100,
        lazy=True,
        seconds_between_requests=_PACE[0],
        seconds_between_writes=_PACE[1],
    )


def login_of(github: Github) -> str:
    """Who the token acts as; the workflow token cannot tell."""
    try:
        return str(github.get_user().login)
    except (GithubException, requests.RequestException) as fault:
        logger.info(
            "cannot read /user (%s); assuming %s", fault, FALLBACK_LOGIN
        )
        return FALLBACK_LOGIN


def upsert_comment(
    issue: Issue,
    login: str,
    marker: str,
    body: str,
    short_body: str,
    permission: str = "pull-requests: write",
) -> str:
    """Edit ``login``'s comment starting with ``marker``, or create it.

    Says which; works on pull requests and issues alike.

    Raises:
        PullRequestError: GitHub refused or failed.
    """
    found = call(
        lambda: next(
            (
                c
                for c in issue.get_comments()
                if (c.body or "").startswith(marker)
                and c.user is not None
                and c.user.login == login
            ),
            None,
        ),
        f"list the comments of #{issue.number}",
        permission,
    )
    try:
        return _write(issue, found, body, permission)
    except PullRequestError as fault:
        if "422" not in str(fault):
            raise
        # GitHub measured the body differently than we did; the short
        # version says what matters and points to the artifact.
        logger.info("comment refused (%s); trying a short one", fault)
        return _write(issue, found, short_body, permission)


def _write(issue: Issue, found: Any, text: str, permission: str) -> str:
    if found is not None:
        call(lambda: found.edit(text), "edit the comment", permission)
        return f"edited comment {found.id}"
    created = call(
        lambda: issue.create_comment(text), "create the comment", permission
    )
    return f"created comment {created.id}"


class PullRequest:
    """One pull request, reached with the workflow's token."""

    def __init__(
        self, api_url: str, token: str, repository: str, number: int
    ) -> None:
        self._github = connect(api_url, token)
        self._repo = self._github.get_repo(repository)
        self._number = number
        self._issue = self._repo.get_issue(number)

    def login(self) -> str:
        """Who the token acts as; the workflow token cannot tell."""
        return login_of(self._github)

    def upsert_comment(self, marker: str, body: str, short_body: str) -> str:
        """Edit our comment in place, or create it once; say which.

        Raises:
            PullRequestError: GitHub refused or failed.
        """
        return upsert_comment(
            self._issue, self.login(), marker, body, short_body
        )

    def labels(self) -> list[str]:
        """The labels on the pull request now."""
        return call(
            lambda: [str(label.name) for label in self._issue.get_labels()],
            "read the pull request's labels",
        )

    def labeler(self, label: str) -> str | None:
        """Who last applied ``label`` to the pull request, if anyone."""
        events = call(
            lambda: [
                e
                for e in self._issue.get_events()
                if e.event == "labeled"
                and e.label is not None
                and e.label.name == label
            ],
            "read the pull request's events",
        )
        if not events or events[-1].actor is None:
            return None
        return str(events[-1].actor.login)

    def files_at(self, ref: str, folder: str) -> dict[str, str]:
        """The YAML files of ``folder`` at ``ref``; empty if none."""

        def read() -> dict[str, str]:
            try:
                listing = self._repo.get_contents(folder, ref=ref)
            except GithubException as fault:
                if fault.status == 404:
                    return {}
                raise
            items = listing if isinstance(listing, list) else [listing]
            return {
                item.name: item.decoded_content.decode("utf-8", "replace")
                for item in items
                if item.type == "file" and is_rules_file(item.name)
            }

        return call(read, f"read {folder}/ at the base branch")


def call(
    action: Callable[[], _T],
    what: str,
    permission: str = "pull-requests: write",
) -> _T:
    """Do ``action``; wait out one rate limit; turn faults into errors.

    ``permission`` is what a 403 most likely lacks.

    Raises:
        PullRequestError: GitHub refused, failed, or was not GitHub's API.
    """
    for attempt in (1, 2):
        try:
            return action()
        except GithubException as fault:
            wait = _retry_after(fault)
            if (
                attempt == 1
                and wait is not None
                and fault.status
                in (
                    403,
                    429,
                )
            ):
                logger.info("rate limited; waiting %.0fs", wait)
                _sleep(wait)
                continue
            raise PullRequestError(_explain(fault, what, permission)) from None
        except requests.RequestException as fault:
            raise PullRequestError(
                f"could not {what}: {type(fault).__name__}"
            ) from None
        except (
            ValueError,
            AttributeError,
            TypeError,
            KeyError,
            AssertionError,
            BadAttributeException,
        ) as fault:
            # PyGithub answers an HTML page (a wrong base URL) with
            # objects full of None, or fails to parse it.
            raise PullRequestError(
                f"could not {what}: the answer was not GitHub's API "
                f"({type(fault).__name__}); check GITHUB_API_URL (GitHub "
                "Enterprise: https://HOST/api/v3)"
            ) from None
    raise PullRequestError(f"could not {what}: rate limited twice")


def _explain(fault: GithubException, what: str, permission: str) -> str:
    message = ""
    if isinstance(fault.data, dict):
        message = str(fault.data.get("message", ""))
    status = fault.status
    if status == 403 and "rate limit" not in message.lower():
        return (
            f"could not {what} (403 {message}): the token may not do that "
            f"in this repository (a fork's pull request, or missing "
            f"{permission} permission)"
        )
    if status in (301, 302) or (isinstance(fault.data, str)):
        return (
            f"could not {what} ({status}): the answer was not GitHub's API; "
            "check GITHUB_API_URL (GitHub Enterprise: https://HOST/api/v3)"
        )
    return f"could not {what} ({status} {message})".rstrip()
