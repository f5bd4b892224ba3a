"""Reading groups of a revision's entries from Log Analytics (BigQuery).

The official client runs the query of ``sql`` as one job, with the window,
service, revision and region as parameters and an optional limit on the
bytes billed, and pages through its rows. Each row becomes a group for the
clusterer, or a single entry when it is a line of a split stack trace;
the samples are rebuilt as Cloud Logging writes entries, so that they are
normalised and redacted exactly as entries read from anywhere else.
"""

from __future__ import annotations

__all__ = [
    "BigQueryQuery",
    "BigQuerySource",
    "make_bigquery_client",
    "read_rows",
]

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import google.auth
import requests
from google.api_core import exceptions as api
from google.api_core import retry as api_retry

from gardener_gate.clock import format_time
from gardener_gate.cloud import credentials_for
from gardener_gate.errors import LogReadError
from gardener_gate.group import EntryGroup
from gardener_gate.redact import Redactor
from gardener_gate.source import Record, Skip
from gardener_gate.sql import build_sql

logger = logging.getLogger(__name__)

BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery"
PAGE_SIZE = 10_000
ROLES = (
    "roles/bigquery.jobUser on the project that runs the query and "
    "roles/bigquery.dataViewer on the dataset"
)

_REQUEST = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: ")
# Each HTTP request may take this long; reading the answer's pages at
# most READ_SECONDS (or the retry budget) and MAX_ROWS rows.
REQUEST_SECONDS = 60.0
READ_SECONDS = 600.0
MAX_ROWS = 2_000_000
_MAX_COUNT = 10**15
_UNREADABLE = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
)


def read_rows(
    rows: Iterable[Mapping[str, Any]],
) -> Iterator[Record | Skip | EntryGroup]:
    """The query's rows as single entries to stitch and groups to cluster.

    Every row carries the number of copies the query left out; the first
    group reports it. A row whose samples cannot be read is skipped with
    all its entries, never fatal.
    """
    reported = False
    for number, row in enumerate(rows):
        read: Record | Skip | EntryGroup
        try:
            read = _read_row(row)
            if isinstance(read, EntryGroup) and not reported:
                read = dataclasses.replace(
                    read, duplicates=_count(row["duplicates"] or 0)
                )
                reported = True
        except _UNREADABLE as fault:
            logger.info("unreadable row %s: %s", number + 1, fault)
            read = Skip(number, f"row {number + 1}: unreadable")
            with contextlib.suppress(*_UNREADABLE):
                read = _unreadable(number, row)
        yield read


def _unreadable(number: int, row: Mapping[str, Any]) -> Skip | EntryGroup:
    if row["fragment"]:
        return Skip(number, f"row {number + 1}: unreadable sample entry")
    # A group without samples is skipped whole by the pipeline.
    return EntryGroup(
        count=_count(row["entries"]),
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        samples=(),
    )


def _count(value: Any) -> int:
    number = int(value)
    if not 0 <= number < _MAX_COUNT:
        raise ValueError(f"{number} is not a count of entries")
    return number


def _read_row(row: Mapping[str, Any]) -> Record | EntryGroup:
    samples = tuple(_entry(sample) for sample in row["samples"])
    if row["fragment"]:
        return Record(0, samples[0], "a Log Analytics row")
    tallies: dict[str, list[tuple[Any, int]]] = {}
    for tally in row["tallies"]:
        value = tally["label"] if tally["part"] == "instance" else None
        if value is None:
            value = tally["number"]
        tallies.setdefault(tally["part"], []).append((value, tally["n"]))
    for part, pairs in tallies.items():
        for value, times in pairs:
            _count(times)
            if part != "instance" and not math.isfinite(float(value)):
                raise ValueError(f"{part} {value} is not a number")
    if any(not isinstance(v, str) for v, _ in tallies.get("instance", [])):
        raise ValueError("an instance is not named")
    if not isinstance(row["first_seen"], datetime):
        raise ValueError("no first timestamp")
    return EntryGroup(
        count=_count(row["entries"]),
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        samples=samples,
        hours=tuple(sorted((int(h), n) for h, n in tallies.get("hour", []))),
        instances=tuple(sorted(tallies.get("instance", []))),
        latencies=tuple(
            float(value)
            for value, count in sorted(tallies.get("latency", []))
            for _ in range(count)
        ),
        latency_buckets=tuple(
            sorted((int(b), n) for b, n in tallies.get("bucket", []))
        ),
    )


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _entry(sample: Mapping[str, Any]) -> dict[str, Any]:
    # The entry as Cloud Logging writes it, so that ``entry.normalize``
    # reads it exactly as it reads one from a file.
    entry: dict[str, Any] = {
        "logName": sample["log_name"],
        "insertId": sample["insert_id"],
        "timestamp": format_time(sample["timestamp"]),
        "resource": {
            "type": "cloud_run_revision",
            "labels": _json(sample["resource_labels"]) or {},
        },
    }
    for key, value in (
        ("severity", sample["severity"]),
        ("textPayload", sample["text_payload"]),
        ("jsonPayload", _json(sample["json_payload"])),
        ("protoPayload", _json(sample["proto_payload"])),
        ("labels", _json(sample["labels"])),
        ("trace", sample["trace"]),
    ):
        if value is not None:
            entry[key] = value
    if sample["has_http"]:
        request = {
            "requestMethod": sample["request_method"],
            "requestUrl": sample["request_url"],
            "status": sample["status"],
            "userAgent": sample["user_agent"],
        }
        seconds = sample["latency_seconds"]
        if seconds is not None:
            # Cloud Logging writes a Duration as decimal seconds.
            nanos = sample["latency_nanos"] or 0
            request["latency"] = f"{seconds}.{nanos:09d}s"
        entry["httpRequest"] = {
            k: v for k, v in request.items() if v is not None
        }
    if sample["source_file"] is not None:
        entry["sourceLocation"] = {
            "file": sample["source_file"],
            "line": sample["source_line"],
            "function": sample["source_function"],
        }
    return entry


@dataclass(frozen=True, slots=True)
class BigQueryQuery:
    """Which entries to group: one revision of a service, in a window."""

    project: str
    table: str
    service: str
    region: str
    revision: str
    start: datetime
    end: datetime
    max_bytes_billed: int | None = None
    retry_budget: float = 120.0


def make_bigquery_client(project: str, endpoint: str | None) -> Any:
    """The official BigQuery client; anonymous for a plain-http endpoint."""
    from google.cloud import bigquery

    options = {"api_endpoint": endpoint} if endpoint else None
    return bigquery.Client(
        project=project,
        credentials=credentials_for(endpoint, BIGQUERY_SCOPE),
        client_options=options,
    )


class BigQuerySource:
    """Groups of one revision's entries, as one Log Analytics query."""

    kind = "bigquery"

    def __init__(self, client: Any, query: BigQueryQuery) -> None:
        self._client = client
        self.query = query
        self.sql = build_sql(query.table)
        self.name = query.table
        self.partial: str | None = None
        self.bytes_processed: int | None = None
        self.bytes_billed: int | None = None
        self.rows = 0

    def records(self) -> Iterator[Record | Skip | EntryGroup]:
        """Run the query and yield its rows, page after page.

        Raises:
            LogReadError: the query was refused, failed or would cost more
                than ``--max-bytes-billed``.
        """
        try:
            retry = self._retry()
            # No job retry: the client's own retries jobs.insert for ten
            # minutes whatever the budget; failed calls are retried by
            # ``retry``, within the budget.
            job = self._client.query(
                self.sql,
                job_config=self._config(),
                retry=retry,
                job_retry=None,
                timeout=REQUEST_SECONDS,
            )
            rows = job.result(
                page_size=PAGE_SIZE,
                retry=retry,
                job_retry=None,
                timeout=self.query.retry_budget + REQUEST_SECONDS,
            )
            yield from read_rows(self._count(rows))
        except api.RetryError as fault:
            # The job retry wraps the call retry: the cause is inside both.
            cause: BaseException | None = fault
            while isinstance(cause, api.RetryError):
                cause = cause.cause
            last = (
                self._explain(cause)
                if isinstance(cause, api.GoogleAPICallError)
                else "no answer"
            )
            raise LogReadError(
                f"{last}, still after the retry budget of "
                f"{self.query.retry_budget:.0f} s; try again later or raise "
                "--retry-budget"
            ) from None
        except api.GoogleAPICallError as fault:
            raise LogReadError(self._explain(fault)) from None
        except concurrent.futures.TimeoutError:
            raise LogReadError(
                "the BigQuery job did not finish within the retry budget of "
                f"{self.query.retry_budget:.0f} s; try again later or raise "
                "--retry-budget"
            ) from None
        except (
            requests.exceptions.RequestException,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
        ) as fault:
            # An answer that is no BigQuery answer: a proxy's page, a cut
            # connection, a wrong endpoint.
            raise LogReadError(
                "BigQuery gave no answer the client could read "
                f"({type(fault).__name__}); check the endpoint and try again"
            ) from None
        except google.auth.exceptions.GoogleAuthError as fault:
            reason = Redactor().text(_first_line(str(fault)))
            raise LogReadError(
                f"BigQuery did not accept the credentials ({reason}); check "
                f"Application Default Credentials and the roles: {ROLES}"
            ) from None
        self.bytes_processed = _number(job.total_bytes_processed)
        self.bytes_billed = _number(job.total_bytes_billed)
        logger.info(
            "bigquery rows=%s bytes_processed=%s bytes_billed=%s",
            self.rows,
            self.bytes_processed,
            self.bytes_billed,
        )

    def _count(self, rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
        deadline = time.monotonic() + max(
            READ_SECONDS, self.query.retry_budget
        )
        for row in rows:
            self.rows += 1
            if self.rows > MAX_ROWS or time.monotonic() > deadline:
                # Pages that never end: what was read is judged, partly.
                self.partial = (
                    f"the BigQuery answer was cut after {self.rows - 1} rows"
                )
                return
            yield dict(row.items())

    def _config(self) -> Any:
        from google.cloud import bigquery

        query = self.query
        return bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(
                    "start", "TIMESTAMP", query.start
                ),
                bigquery.ScalarQueryParameter("end", "TIMESTAMP", query.end),
                bigquery.ScalarQueryParameter(
                    "service", "STRING", query.service
                ),
                bigquery.ScalarQueryParameter(
                    "revision", "STRING", query.revision
                ),
                bigquery.ScalarQueryParameter(
                    "location", "STRING", query.region
                ),
            ],
            maximum_bytes_billed=query.max_bytes_billed,
            use_legacy_sql=False,
        )

    def _retry(self) -> api_retry.Retry:
        # The client retries calls (5xx, rate limits) on its own, for up
        # to ten minutes; the gate's budget bounds it.
        from google.cloud.bigquery import retry

        calls: api_retry.Retry = retry.DEFAULT_RETRY
        return calls.with_timeout(self.query.retry_budget)

    def _explain(self, fault: api.GoogleAPICallError) -> str:
        code = fault.code
        errors = [e for e in fault.errors or [] if isinstance(e, dict)]
        reasons = {e.get("reason") for e in errors}
        message = str(
            errors[0].get("message")
            if errors and errors[0].get("message")
            else fault.message
        )
        # The client puts the request ("POST https://...: ") in front; the
        # server may name the caller, an address that must not be printed.
        message = Redactor().text(_first_line(_REQUEST.sub("", message)))
        if "bytesBilledLimitExceeded" in reasons:
            limit = (
                f"--max-bytes-billed {self.query.max_bytes_billed}"
                if self.query.max_bytes_billed is not None
                else "the project's own limit"
            )
            return (
                f"the BigQuery query would bill more bytes than {limit} "
                f"allows ({message}); raise the limit or narrow --window"
            )
        if code in (401, 403):
            return (
                f"BigQuery refused the query (HTTP {code}: {message}); the "
                f"identity needs {ROLES}"
            )
        if code == 404:
            return (
                f"BigQuery cannot find {self.query.table} (HTTP 404: "
                f"{message}); check --table and --project"
            )
        if code == 400:
            return (
                f"BigQuery rejected the query (HTTP 400: {message}); check "
                "that --table names a Log Analytics view such as _AllLogs"
            )
        return f"BigQuery failed (HTTP {code}: {message})"


def _number(value: object) -> int | None:
    try:
        number = int(value) if isinstance(value, int | str) else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no message"
    return line[:300]
