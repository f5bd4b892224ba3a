"""Fake Cloud Logging and Cloud Run Admin APIs on a local HTTP server.

They answer what the real REST APIs answer, so that the tests drive the
official clients unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

Fault = Callable[[int], Response | None]


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(status: int, message: str, **headers: str) -> Response:
    return json_response(
        {"error": {"code": status, "message": message, "status": "ERROR"}},
        status,
        **headers,
    )


@dataclass
class LoggingFake:
    """``entries.list`` over a fixed list of entries, page by page.

    ``fault(call_number)`` may return a response to send instead of the
    page (numbers start at 1); ``page_size`` overrides what the client asks.
    """

    entries: list[dict[str, Any]]
    page_size: int | None = None
    fault: Fault | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Entries chosen by the request's filter, instead of ``entries``.
    chosen: Callable[[str], list[dict[str, Any]]] | None = None

    def install(self, server: HTTPServer) -> str:
        server.expect_request(
            "/v2/entries:list", method="POST"
        ).respond_with_handler(self._handle)
        return server.url_for("").rstrip("/")

    def _handle(self, request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        self.requests.append(body)
        if self.fault is not None:
            replaced = self.fault(len(self.requests))
            if replaced is not None:
                return replaced
        size = self.page_size or int(body.get("pageSize", 50))
        start = int(body.get("pageToken") or 0)
        entries = self.entries
        if self.chosen is not None:
            entries = self.chosen(str(body.get("filter", "")))
        page = entries[start : start + size]
        answer: dict[str, Any] = {"entries": page}
        if start + size < len(entries):
            answer["nextPageToken"] = str(start + size)
        return json_response(answer)


@dataclass
class RunFake:
    """``services.get`` and ``revisions.get`` of the Cloud Run Admin API v2."""

    project: str
    region: str
    service: str
    traffic: list[dict[str, Any]]
    revisions: dict[str, str]
    latest_ready: str | None = None
    service_status: int = 200

    def install(self, server: HTTPServer) -> str:
        base = (
            f"/v2/projects/{self.project}/locations/{self.region}"
            f"/services/{self.service}"
        )
        server.expect_request(base, method="GET").respond_with_handler(
            self._service
        )
        server.expect_request(
            f"{base}/revisions", method="GET"
        ).respond_with_json(
            {
                "revisions": [
                    {"name": f"{base[4:]}/revisions/{name}", "createTime": at}
                    for name, at in self.revisions.items()
                ]
            }
        )
        for name, created in self.revisions.items():
            server.expect_request(
                f"{base}/revisions/{name}", method="GET"
            ).respond_with_json(
                {"name": f"{base[4:]}/revisions/{name}", "createTime": created}
            )
        return server.url_for("").rstrip("/")

    def _service(self, request: Request) -> Response:
        if self.service_status != 200:
            return error_response(self.service_status, "denied")
        name = (
            f"projects/{self.project}/locations/{self.region}"
            f"/services/{self.service}"
        )
        body: dict[str, Any] = {"name": name, "trafficStatuses": self.traffic}
        if self.latest_ready:
            body["latestReadyRevision"] = (
                f"{name}/revisions/{self.latest_ready}"
            )
        return json_response(body)
