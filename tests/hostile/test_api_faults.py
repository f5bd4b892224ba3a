"""Faults injected into both remote APIs: bounded time, clear exit, no loss.

Cloud Logging faults end in retries or a partial worklog with exit 3;
GitHub faults end in a warning, and publish still exits 0 with the
summary and outputs written.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fakes.github import GitHubFake, pull_request_runner
from fakes.google import LoggingFake, RunFake, error_response
from werkzeug import Response

from gardener_gate import cloud, pull_request

CLOUD = (
    "--project",
    "p",
    "--service",
    "orders-api",
    "--region",
    "r",
    "--revision",
    "rev-1",
    "--until",
    "2025-05-15T00:00:00Z",
)


def _entries(count: int) -> list[dict]:
    return [
        {
            "logName": "projects/p/logs/app",
            "insertId": f"i{n}",
            "timestamp": "2025-05-14T10:00:00Z",
            "severity": "ERROR",
            "textPayload": f"export failed for batch {n}",
            "resource": {
                "type": "cloud_run_revision",
                "labels": {"revision_name": "rev-1"},
            },
        }
        for n in range(count)
    ]


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(cloud, "_sleep", waited.append)
    monkeypatch.setattr(pull_request, "_sleep", waited.append)
    monkeypatch.setattr(pull_request, "_PACE", (None, None))
    return waited


@pytest.fixture
def resetting_server() -> Iterator[str]:
    """A server on 127.0.0.1 that drops every connection unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.recv(65536)
            connection.setsockopt(
                socket.SOL_SOCKET,
                socket.SO_LINGER,
                b"\x01\x00\x00\x00\x00\x00\x00\x00",
            )
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def _cloud_endpoints(monkeypatch, httpserver, fake: LoggingFake) -> None:
    url = fake.install(httpserver)
    RunFake(
        "p", "r", "orders-api", [], {"rev-1": "2025-01-01T00:00:00Z"}
    ).install(httpserver)
    monkeypatch.setenv("GARDENER_GATE_LOGGING_ENDPOINT", url)
    monkeypatch.setenv("GARDENER_GATE_RUN_ENDPOINT", url)


def test_a_slow_logging_page_is_retried(gate, httpserver, monkeypatch, sleeps):
    monkeypatch.setattr(cloud, "REQUEST_TIMEOUT", (2.0, 0.3))

    def slow_first(call: int):
        if call == 1:
            time.sleep(0.6)
        return None

    _cloud_endpoints(
        monkeypatch, httpserver, LoggingFake(_entries(5), fault=slow_first)
    )

    result = gate("run", *CLOUD)

    assert result.worklog["entries"]["read"] == 5
    assert result.worklog["partial"] is False
    assert len(sleeps) >= 1


def test_a_logging_api_that_drops_connections_exits_3(
    gate, monkeypatch, resetting_server, httpserver, sleeps
):
    RunFake(
        "p", "r", "orders-api", [], {"rev-1": "2025-01-01T00:00:00Z"}
    ).install(httpserver)
    monkeypatch.setenv(
        "GARDENER_GATE_RUN_ENDPOINT", httpserver.url_for("").rstrip("/")
    )
    monkeypatch.setenv("GARDENER_GATE_LOGGING_ENDPOINT", resetting_server)

    result = gate("run", *CLOUD, "--retry-budget", "30")

    assert result.code == 3
    assert "connection fault" in result.stderr
    assert len(sleeps) >= 1 and sum(sleeps) <= 30


@pytest.mark.parametrize(
    "fault",
    [
        lambda: error_response(500, "boom"),
        lambda: error_response(503, "busy"),
        lambda: Response("{not json", status=200),
        lambda: error_response(429, "quota"),
    ],
    ids=["500", "503", "malformed json", "429 without Retry-After"],
)
def test_a_fault_mid_read_keeps_every_page_already_read(
    gate, httpserver, monkeypatch, sleeps, fault
):
    def after_two_pages(call: int):
        return fault() if call > 2 else None

    _cloud_endpoints(
        monkeypatch,
        httpserver,
        LoggingFake(_entries(25), page_size=10, fault=after_two_pages),
    )

    result = gate("run", *CLOUD, "--retry-budget", "10")

    assert result.code == 3
    assert result.worklog["entries"]["read"] == 20
    assert result.worklog["partial"].startswith("log read stopped by ")
    assert sum(sleeps) <= 10


def test_short_pages_are_followed_to_the_end(gate, httpserver, monkeypatch):
    fake = LoggingFake(_entries(50), page_size=7)
    _cloud_endpoints(monkeypatch, httpserver, fake)

    result = gate("run", *CLOUD)

    assert result.worklog["entries"]["read"] == 50
    assert len(fake.requests) == 8


def _publish_env(monkeypatch, tmp_path, api: str) -> None:
    pull_request_runner(monkeypatch, tmp_path, api)


def _publish(gate, tmp_path):
    logs = tmp_path / "logs.json"
    logs.write_text(json.dumps(_entries(3)))
    run = gate("run", "--logs", str(logs))
    return gate(
        "publish", "--worklog", str(run.out), "--gate-exit-code", str(run.code)
    )


def test_a_slow_github_is_a_warning(
    gate, httpserver, monkeypatch, tmp_path, sleeps
):
    monkeypatch.setattr(pull_request, "_TIMEOUT", 1)
    fake = GitHubFake()

    def slow(method: str, path: str, count: int):
        time.sleep(1.5)
        return None

    fake.fault = slow
    _publish_env(monkeypatch, tmp_path, fake.install(httpserver))

    published = _publish(gate, tmp_path)

    assert published.code == 0
    assert "::warning::gardener-gate: the PR comment was not posted" in (
        published.stdout
    )
    assert (tmp_path / "summary.md").read_text().startswith("# gardener")


def test_a_github_that_drops_connections_is_a_warning(
    gate, monkeypatch, tmp_path, resetting_server, sleeps
):
    _publish_env(monkeypatch, tmp_path, resetting_server + "/api/v3")

    published = _publish(gate, tmp_path)

    assert published.code == 0
    assert "the PR comment was not posted" in published.stdout
    assert "verdict<<" in (tmp_path / "outputs.txt").read_text()


@pytest.mark.parametrize(
    "response",
    [
        lambda: Response(
            '{"message": "slow down"}',
            status=429,
            content_type="application/json",
        ),
        lambda: Response(
            "{broken", status=200, content_type="application/json"
        ),
        lambda: Response("", status=502),
    ],
    ids=["429 without Retry-After", "malformed json", "502 empty"],
)
def test_other_github_faults_are_warnings(
    gate, httpserver, monkeypatch, tmp_path, sleeps, response
):
    fake = GitHubFake()
    fake.fault = lambda method, path, count: (
        response() if "comments" in path else None
    )
    _publish_env(monkeypatch, tmp_path, fake.install(httpserver))

    published = _publish(gate, tmp_path)

    assert published.code == 0
    assert "Traceback" not in published.stderr
    assert "the PR comment was not posted" in published.stdout
