"""A fake BigQuery REST API (jobs.insert, getQueryResults, jobs.get).

It answers what the real API answers to the official client: a job that
is done at once, a schema, and rows encoded the way BigQuery encodes them
(``{"f": [{"v": ...}]}``, timestamps as integer microseconds in a string,
legacy type names), in pages linked by ``pageToken``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from fakes.google import error_response, json_response

JOB_ID = "job_gardener_1"
Field = dict[str, Any]


def _field(name: str, kind: str, mode: str = "NULLABLE", **more: Any):
    return {"name": name, "type": kind, "mode": mode, **more}


# The columns the gate's query returns.
SAMPLE_FIELDS = [
    _field("timestamp", "TIMESTAMP"),
    _field("insert_id", "STRING"),
    _field("log_name", "STRING"),
    _field("severity", "STRING"),
    _field("text_payload", "STRING"),
    _field("json_payload", "STRING"),
    _field("proto_payload", "STRING"),
    _field("labels", "STRING"),
    _field("resource_labels", "STRING"),
    _field("has_http", "BOOLEAN"),
    _field("request_method", "STRING"),
    _field("request_url", "STRING"),
    _field("status", "INTEGER"),
    _field("user_agent", "STRING"),
    _field("latency_seconds", "INTEGER"),
    _field("latency_nanos", "INTEGER"),
    _field("trace", "STRING"),
    _field("source_file", "STRING"),
    _field("source_line", "INTEGER"),
    _field("source_function", "STRING"),
]
SCHEMA = [
    _field("fragment", "BOOLEAN"),
    _field("entries", "INTEGER"),
    _field("first_seen", "TIMESTAMP"),
    _field("last_seen", "TIMESTAMP"),
    _field("duplicates", "INTEGER"),
    _field("samples", "RECORD", "REPEATED", fields=SAMPLE_FIELDS),
    _field(
        "tallies",
        "RECORD",
        "REPEATED",
        fields=[
            _field("part", "STRING"),
            _field("label", "STRING"),
            _field("number", "FLOAT"),
            _field("n", "INTEGER"),
        ],
    ),
]

Fault = Callable[[str, int], Response | None]


def bigquery_error(status: int, reason: str, message: str) -> Response:
    """An error as BigQuery writes it: a reason beside the message."""
    return json_response(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [
                    {"message": message, "domain": "global", "reason": reason}
                ],
                "status": "ERROR",
            }
        },
        status,
    )


def encode(value: Any, spec: Field) -> Any:
    """One value as BigQuery's REST API writes it in a row."""
    if spec.get("mode") == "REPEATED":
        single = {**spec, "mode": "NULLABLE"}
        return [{"v": encode(item, single)} for item in value or []]
    if value is None:
        return None
    kind = spec["type"]
    if kind == "RECORD":
        return {
            "f": [{"v": encode(value[f["name"]], f)} for f in spec["fields"]]
        }
    if kind == "TIMESTAMP":
        moment = value.astimezone(UTC)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return str((moment - epoch) // timedelta(microseconds=1))
    if kind == "BOOLEAN":
        return "true" if value else "false"
    return str(value)


@dataclass
class BigQueryFake:
    """One query job over fixed result rows, ``page_size`` rows a page.

    ``fault(kind, call)`` may answer instead, for ``kind`` one of
    ``insert``, ``results`` (numbers start at 1).
    """

    project: str
    rows: list[dict[str, Any]]
    page_size: int = 2
    bytes_processed: int = 12_345_678
    bytes_billed: int = 20_971_520
    error_result: dict[str, Any] | None = None
    fault: Fault | None = None
    inserted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(
        default_factory=list
    )

    def install(self, server: HTTPServer) -> str:
        base = f"/bigquery/v2/projects/{self.project}"
        server.expect_request(
            f"{base}/jobs", method="POST"
        ).respond_with_handler(self._insert)
        server.expect_request(
            f"{base}/queries/{JOB_ID}", method="GET"
        ).respond_with_handler(self._results)
        server.expect_request(
            f"{base}/jobs/{JOB_ID}", method="GET"
        ).respond_with_handler(self._job)
        return server.url_for("").rstrip("/")

    def _record(self, kind: str, request: Request) -> Response | None:
        self.requests.append((kind, request.path, dict(request.args)))
        calls = sum(1 for k, _, _ in self.requests if k == kind)
        return self.fault(kind, calls) if self.fault else None

    def _resource(self, config: dict[str, Any]) -> dict[str, Any]:
        status: dict[str, Any] = {"state": "DONE"}
        if self.error_result is not None:
            status["errorResult"] = self.error_result
            status["errors"] = [self.error_result]
        return {
            "kind": "bigquery#job",
            "id": f"{self.project}:US.{JOB_ID}",
            "jobReference": {
                "projectId": self.project,
                "jobId": JOB_ID,
                "location": "US",
            },
            "configuration": config,
            "status": status,
            "statistics": {
                "creationTime": "1747000000000",
                "query": {
                    "totalBytesProcessed": str(self.bytes_processed),
                    "totalBytesBilled": str(self.bytes_billed),
                    "statementType": "SELECT",
                },
                "totalBytesProcessed": str(self.bytes_processed),
            },
        }

    def _insert(self, request: Request) -> Response:
        replaced = self._record("insert", request)
        if replaced is not None:
            return replaced
        body = json.loads(request.get_data() or b"{}")
        self.inserted.append(body)
        return json_response(self._resource(body.get("configuration", {})))

    def _job(self, request: Request) -> Response:
        self._record("job", request)
        config = self.inserted[-1].get("configuration", {})
        return json_response(self._resource(config))

    def _results(self, request: Request) -> Response:
        replaced = self._record("results", request)
        if replaced is not None:
            return replaced
        if self.error_result is not None:
            reason = self.error_result
            return error_response(400, reason["message"])
        answer: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": {
                "projectId": self.project,
                "jobId": JOB_ID,
                "location": "US",
            },
            "jobComplete": True,
            "schema": {"fields": SCHEMA},
            "totalRows": str(len(self.rows)),
            "totalBytesProcessed": str(self.bytes_processed),
        }
        wanted = request.args.get("maxResults")
        if wanted == "0":
            return json_response(answer)
        start = int(request.args.get("pageToken") or 0)
        size = min(self.page_size, int(wanted or self.page_size))
        page = self.rows[start : start + size]
        row_spec = {"type": "RECORD", "fields": SCHEMA}
        answer["rows"] = [encode(row, row_spec) for row in page]
        if start + size < len(self.rows):
            answer["pageToken"] = str(start + size)
        return json_response(answer)
