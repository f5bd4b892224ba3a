"""Reading a revision's entries from Cloud Logging.

The official client (REST transport) does the paging; it does not retry,
so this module does: 429 and 5xx answers, dropped connections and garbled
pages are retried with jittered exponential backoff within a time budget.
When the budget runs out, or ``--max-entries`` is reached, reading stops
and what was read is kept: the run goes on and says it is partial.
"""

from __future__ import annotations

__all__ = [
    "CloudLoggingSource",
    "CloudQuery",
    "RetryPolicy",
    "build_filter",
    "credentials_for",
    "make_logging_client",
]

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import google.auth
import requests
from google.api_core import exceptions as api
from google.auth.credentials import AnonymousCredentials, Credentials

from gardener_gate.clock import format_time
from gardener_gate.errors import LogReadError
from gardener_gate.source import Record, Skip

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000
# (connect, read) seconds for one page; a slow answer counts as a fault.
REQUEST_TIMEOUT = (10.0, 60.0)
READ_SCOPE = "https://www.googleapis.com/auth/cloud-platform.read-only"
_RETRIABLE = (
    api.TooManyRequests,
    api.ServerError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ValueError,  # a page that is not JSON
)

Progress = Callable[[int, int], None]
# Looked up when a policy is made, so that tests can stand in for it.
_sleep = time.sleep


def credentials_for(
    endpoint: str | None, scope: str = READ_SCOPE
) -> Credentials:
    """Application Default Credentials; anonymous for a plain-http fake.

    Raises:
        LogReadError: no Application Default Credentials are set up.
    """
    if endpoint is not None and endpoint.startswith("http://"):
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    try:
        credentials, _ = google.auth.default(scopes=[scope])
    except google.auth.exceptions.DefaultCredentialsError:
        raise LogReadError(
            "no Application Default Credentials: run `gcloud auth "
            "application-default login`, or in GitHub Actions use "
            "google-github-actions/auth before the gate"
        ) from None
    return credentials


def make_logging_client(project: str, endpoint: str | None) -> Any:
    """The official Cloud Logging client, on its REST transport."""
    from google.cloud import logging as cloud_logging

    options = {"api_endpoint": endpoint} if endpoint else None
    return cloud_logging.Client(  # type: ignore[no-untyped-call]
        project=project,
        credentials=credentials_for(endpoint),
        _use_grpc=False,
        client_options=options,
    )


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass(frozen=True, slots=True)
class CloudQuery:
    """Which entries to read: one revision of a service, in a window."""

    project: str
    service: str
    region: str
    revision: str
    start: datetime
    end: datetime
    user_filter: str | None = None
    max_entries: int | None = None


def build_filter(query: CloudQuery) -> str:
    """The Logging filter for ``query``, both time bounds always stated.

    The user's filter is wrapped in parentheses and ANDed, so that an
    ``OR`` inside it cannot widen the query; stating both timestamps keeps
    the client from adding its hidden 24-hour default.
    """
    parts = [
        'resource.type="cloud_run_revision"',
        f"resource.labels.service_name={_quote(query.service)}",
        f"resource.labels.revision_name={_quote(query.revision)}",
        f"resource.labels.location={_quote(query.region)}",
        f'timestamp>="{format_time(query.start)}"',
        f'timestamp<"{format_time(query.end)}"',
    ]
    if query.user_filter and query.user_filter.strip():
        parts.append(f"({query.user_filter.strip()})")
    return " AND ".join(parts)


@dataclass(slots=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff within a total time budget."""

    budget: float = 120.0
    first: float = 1.0
    cap: float = 32.0
    sleep: Callable[[float], None] = field(default_factory=lambda: _sleep)
    jitter: Callable[[], float] = random.random
    _spent: float = field(default=0.0, init=False)

    def wait(self, attempt: int, fault: Exception) -> bool:
        """Sleep before retry ``attempt``; False when the budget is spent."""
        delay = min(self.cap, self.first * 2 ** (attempt - 1))
        delay = delay / 2 + delay / 2 * self.jitter()
        asked = _retry_after(fault)
        if asked is not None:
            delay = max(delay, asked)
        if self._spent + delay > self.budget:
            return False
        logger.debug(
            "retry attempt=%s wait=%.2fs fault=%s",
            attempt,
            delay,
            _describe(fault),
        )
        self.sleep(delay)
        self._spent += delay
        return True


def _retry_after(fault: Exception) -> float | None:
    response = getattr(fault, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _describe(fault: Exception) -> str:
    code = getattr(fault, "code", None)
    if isinstance(code, int):
        name = "quota" if code == 429 else "server error"
        return f"{name} ({code})"
    if isinstance(fault, requests.exceptions.RequestException):
        return f"connection fault ({type(fault).__name__})"
    return "unreadable response"


class CloudLoggingSource:
    """Streams the entries of one revision, as the file source does."""

    kind = "cloud-logging"

    def __init__(
        self,
        client: Any,
        query: CloudQuery,
        retry: RetryPolicy | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._client = client
        self.query = query
        self.filter = build_filter(query)
        self._retry = retry or RetryPolicy()
        self._progress = progress
        self.name = f"projects/{query.project}"
        self.partial: str | None = None
        self.pages = 0
        self.read = 0

    def records(self) -> Iterator[Record | Skip]:
        """Yield every entry the query selects, page after page.

        Raises:
            LogReadError: nothing could be read (permissions, a bad filter,
                or faults that outlasted the retry budget).
        """
        token: str | None = None
        while True:
            page = self._fetch(token)
            if page is None:
                return
            self.pages += 1
            for entry in page.get("entries") or []:
                yield self._record(entry)
                limit = self.query.max_entries
                if limit is not None and self.read >= limit:
                    self.partial = (
                        f"stopped after {limit} entries (--max-entries)"
                    )
                    return
            if self._progress is not None:
                self._progress(self.pages, self.read)
            token = page.get("nextPageToken") or None
            if token is None:
                return

    def _fetch(self, token: str | None) -> dict[str, Any] | None:
        # ``Client.list_entries`` hides page tokens inside a generator, so
        # a page that failed could only be retried by reading every earlier
        # page again. The client's own connection (credentials, endpoint,
        # user agent) makes the same call here, one page at a time.
        body: dict[str, Any] = {
            "resourceNames": [f"projects/{self.query.project}"],
            "filter": self.filter,
            "orderBy": "timestamp desc",
            "pageSize": PAGE_SIZE,
        }
        if token is not None:
            body["pageToken"] = token
        attempt = 0
        while True:
            try:
                page = self._client._connection.api_request(
                    method="POST",
                    path="/entries:list",
                    data=body,
                    timeout=REQUEST_TIMEOUT,
                )
                if not isinstance(page, dict):
                    raise ValueError("page is not a JSON object")
                return page
            except google.auth.exceptions.GoogleAuthError as fault:
                # Raised when a 401 made the session refresh credentials
                # that cannot be refreshed; retrying cannot help.
                self._stop(
                    f"Cloud Logging did not accept the credentials ({fault}); "
                    "check Application Default Credentials, and that the "
                    "identity has the Logs Viewer role (roles/logging.viewer)"
                )
                return None
            except _RETRIABLE as fault:
                attempt += 1
                if self._retry.wait(attempt, fault):
                    continue
                self._stop(
                    f"log read stopped by {_describe(fault)} after "
                    f"{self.read} entries and {attempt} attempts; try a "
                    "narrower --window or --filter, wait for the read quota "
                    "(60 requests a minute) or raise --retry-budget"
                )
                return None
            except api.GoogleAPICallError as fault:
                self._stop(_explain(fault, self.query))
                return None

    def _record(self, entry: object) -> Record | Skip:
        self.read += 1
        if not isinstance(entry, dict):
            return Skip(self.read - 1, f"entry {self.read}: not an object")
        return Record(self.read - 1, entry)

    def _stop(self, reason: str) -> None:
        if self.read == 0:
            raise LogReadError(reason)
        self.partial = reason


def _explain(fault: api.GoogleAPICallError, query: CloudQuery) -> str:
    code = fault.code
    message = getattr(fault, "message", "") or str(fault)
    if code in (401, 403):
        return (
            f"Cloud Logging refused to read project {query.project} "
            f"(HTTP {code}): the identity needs the Logs Viewer role "
            "(roles/logging.viewer) on it"
        )
    if code == 400:
        return (
            f"Cloud Logging rejected the query (HTTP 400: {message}); "
            "check --filter"
        )
    if code == 404:
        return f"project {query.project} not found in Cloud Logging (404)"
    return f"Cloud Logging failed (HTTP {code}: {message})"
