"""Reading from Cloud Logging through the official client and a fake API."""

from __future__ import annotations

import json
from typing import Any

import google.auth
import google.auth.exceptions
import pytest
from conftest import CASES
from fakes.google import LoggingFake, RunFake, error_response

from gardener_gate import cloud

STAGING = json.loads((CASES / "staging-3day" / "input.json").read_text())
NEW_REVISION = "orders-api-00042-kot"
CLOUD_ARGS = (
    "--project",
    "demo-staging-000000",
    "--service",
    "orders-api",
    "--region",
    "europe-west1",
)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record backoff waits instead of sleeping through them."""
    waited: list[float] = []
    monkeypatch.setattr(cloud, "_sleep", waited.append)
    return waited


@pytest.fixture
def endpoints(httpserver, monkeypatch: pytest.MonkeyPatch):
    """Point both APIs at the local server; returns an installer."""

    def install(logging_fake: LoggingFake, run_fake: RunFake | None = None):
        url = logging_fake.install(httpserver)
        (run_fake or _run_fake()).install(httpserver)
        monkeypatch.setenv("GARDENER_GATE_LOGGING_ENDPOINT", url)
        monkeypatch.setenv("GARDENER_GATE_RUN_ENDPOINT", url)
        return logging_fake

    return install


def _run_fake(**overrides: Any) -> RunFake:
    """Cloud Run serving the new revision, both created long ago."""
    fields: dict[str, Any] = {
        "project": "demo-staging-000000",
        "region": "europe-west1",
        "service": "orders-api",
        "traffic": [
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": NEW_REVISION,
                "percent": 100,
            }
        ],
        "revisions": {
            "orders-api-00041-zed": "2025-01-01T00:00:00Z",
            NEW_REVISION: "2025-01-02T00:00:00Z",
        },
    }
    fields.update(overrides)
    return RunFake(**fields)


def _revision_entries(revision: str = NEW_REVISION) -> list[dict[str, Any]]:
    return [
        e
        for e in STAGING
        if e["resource"]["labels"]["revision_name"] == revision
    ]


def _numbered(count: int) -> list[dict[str, Any]]:
    return [
        {
            "logName": "projects/demo-staging-000000/logs/app",
            "insertId": f"id-{n}",
            "timestamp": f"2025-05-14T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "severity": "ERROR",
            "textPayload": f"Ledger export failed for batch {n}",
            "resource": {
                "type": "cloud_run_revision",
                "labels": {"revision_name": NEW_REVISION},
            },
        }
        for n in range(count)
    ]


def test_the_query_states_every_bound_and_wraps_the_user_filter(
    gate, endpoints
):
    fake = endpoints(LoggingFake(_numbered(1)))

    gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--window",
        "72h",
        "--until",
        "2025-05-15T00:00:00Z",
        "--filter",
        "jsonPayload.timestamp_ms>0 OR severity>=ERROR",
    )

    assert fake.requests[0] == {
        "resourceNames": ["projects/demo-staging-000000"],
        "filter": (
            'resource.type="cloud_run_revision" AND '
            'resource.labels.service_name="orders-api" AND '
            f'resource.labels.revision_name="{NEW_REVISION}" AND '
            'resource.labels.location="europe-west1" AND '
            'timestamp>="2025-05-12T00:00:00Z" AND '
            'timestamp<"2025-05-15T00:00:00Z" AND '
            "(jsonPayload.timestamp_ms>0 OR severity>=ERROR)"
        ),
        "orderBy": "timestamp desc",
        "pageSize": 1000,
    }


def test_3500_entries_take_exactly_four_calls(gate, endpoints):
    fake = endpoints(LoggingFake(_numbered(3500)))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
    )

    assert len(fake.requests) == 4
    assert [r.get("pageToken") for r in fake.requests] == [
        None,
        "1000",
        "2000",
        "3000",
    ]
    assert result.worklog["entries"]["read"] == 3500
    assert result.cluster(kind="message")["count"] == 3500
    assert result.code == 1


def test_cloud_and_file_give_the_same_clusters(gate, endpoints, tmp_path):
    entries = _revision_entries()
    endpoints(LoggingFake(entries, page_size=100))
    window = ("--window", "3d", "--until", "2025-05-15T00:00:00Z")
    path = tmp_path / "revision.json"
    path.write_text(json.dumps(entries))

    from_cloud = gate("run", *CLOUD_ARGS, "--revision", NEW_REVISION, *window)
    from_file = gate(
        "run", "--logs", str(path), "--revision", NEW_REVISION, *window
    )

    def clusters(result):
        return [
            {k: v for k, v in c.items() if k != "samples"}
            for c in result.worklog["clusters"]
        ]

    assert from_cloud.worklog["entries"] == from_file.worklog["entries"]
    assert clusters(from_cloud) == clusters(from_file)
    assert from_cloud.worklog["source"]["kind"] == "cloud-logging"
    assert from_cloud.code == from_file.code == 1


def test_the_header_names_where_the_entries_came_from(gate, endpoints):
    endpoints(LoggingFake(_revision_entries()))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--window",
        "3d",
        "--until",
        "2025-05-15T00:00:00Z",
    )

    source = result.worklog["source"]
    assert (source["project"], source["service"], source["region"]) == (
        "demo-staging-000000",
        "orders-api",
        "europe-west1",
    )
    assert source["revision"] == NEW_REVISION
    assert source["window"] == {
        "start": "2025-05-12T00:00:00Z",
        "end": "2025-05-15T00:00:00Z",
        "given": True,
        "hours": 72.0,
    }
    header = result.markdown.split("## Executive summary")[0]
    for text in (
        "demo-staging-000000",
        "orders-api",
        "europe-west1",
        NEW_REVISION,
        "2025-05-12T00:00:00Z",
    ):
        assert text in header


def test_throttled_pages_are_retried_then_read(gate, endpoints, sleeps):
    def throttle_twice(call: int):
        return error_response(429, "quota") if call in (2, 3) else None

    fake = endpoints(LoggingFake(_numbered(2500), fault=throttle_twice))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
    )

    assert result.code == 1
    assert result.worklog["partial"] is False
    assert result.worklog["entries"]["read"] == 2500
    assert [r.get("pageToken") for r in fake.requests] == [
        None,
        "1000",
        "1000",
        "1000",
        "2000",
    ]
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0
    assert 1.0 <= sleeps[1] <= 2.0


def test_retry_after_is_honoured(gate, endpoints, sleeps):
    def slow_down(call: int):
        if call == 1:
            return error_response(429, "quota", **{"Retry-After": "7"})
        return None

    endpoints(LoggingFake(_numbered(10), fault=slow_down))

    gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
    )

    assert sleeps == [7.0]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_persistent_faults_end_in_a_partial_worklog_and_exit_3(
    gate, endpoints, sleeps, status
):
    def fail_after_first(call: int):
        return error_response(status, "busy") if call > 1 else None

    endpoints(LoggingFake(_numbered(1500), fault=fail_after_first))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
        "--retry-budget",
        "20",
    )

    assert result.code == 3
    assert result.worklog["entries"]["read"] == 1000
    assert result.worklog["partial"].startswith(
        "log read stopped by "
        + ("quota (429)" if status == 429 else f"server error ({status})")
        + " after 1000 entries"
    )
    assert "Partial data" in result.markdown
    assert sum(sleeps) <= 20
    assert "partial data" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_fault_before_anything_was_read_exits_3_with_one_line(
    gate, endpoints, sleeps
):
    endpoints(LoggingFake([], fault=lambda call: error_response(503, "x")))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--retry-budget",
        "5",
    )

    assert result.code == 3
    assert result.stderr.count("\n") == 1
    assert "server error (503) after 0 entries" in result.stderr
    assert not result.out.exists()


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_exits_3_at_once_naming_the_role(
    gate, endpoints, sleeps, status
):
    fake = endpoints(
        LoggingFake([], fault=lambda call: error_response(status, "no"))
    )

    result = gate("run", *CLOUD_ARGS, "--revision", NEW_REVISION)

    assert result.code == 3
    assert len(fake.requests) == 1
    assert sleeps == []
    assert "Logs Viewer role (roles/logging.viewer)" in result.stderr


def test_a_rejected_filter_says_to_check_it(gate, endpoints, sleeps):
    endpoints(
        LoggingFake([], fault=lambda call: error_response(400, "bad filter"))
    )

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--filter",
        "nonsense((",
    )

    assert result.code == 3
    assert "check --filter" in result.stderr


def test_a_page_that_is_not_json_is_retried(gate, endpoints, sleeps):
    from werkzeug import Response

    def garbled(call: int):
        return Response("<html>oops", status=200) if call == 1 else None

    endpoints(LoggingFake(_numbered(5), fault=garbled))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
    )

    assert result.worklog["entries"]["read"] == 5
    assert len(sleeps) == 1


def test_max_entries_stops_reading_and_marks_the_run_partial(gate, endpoints):
    fake = endpoints(LoggingFake(_numbered(2500)))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
        "--max-entries",
        "1200",
    )

    assert result.code == 3
    assert len(fake.requests) == 2
    assert result.worklog["entries"]["read"] == 1200
    assert result.worklog["partial"] == (
        "stopped after 1200 entries (--max-entries)"
    )


def test_entries_a_server_returns_outside_the_window_are_dropped(
    gate, endpoints
):
    entries = json.loads(
        (CASES / "list-entries-time-window" / "input.json").read_text()
    )
    endpoints(LoggingFake(entries))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        "orders-api-00042-kot",
        "--window",
        "72h",
        "--until",
        "2025-05-15T00:00:00Z",
        "--filter",
        "jsonPayload.timestamp_ms>0",
    )

    assert result.worklog["entries"]["outside_window"] == 1
    ledger = result.cluster(kind="message")
    assert ledger["template"] == "Ledger export failed for batch <NUM>"
    assert ledger["count"] == 6
    assert ledger["first_seen"] == "2025-05-12T00:00:00Z"


def test_every_payload_kind_arrives_intact(gate, endpoints):
    audit = json.loads(
        (CASES / "audit-protopayload" / "input.json").read_text()
    )
    for entry in audit:
        entry["resource"] = {
            "type": "cloud_run_revision",
            "labels": {"revision_name": NEW_REVISION},
        }
    mixed = _revision_entries()[:50] + audit
    endpoints(LoggingFake(mixed))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
        "--window",
        "30d",
    )

    kinds = {c["kind"] for c in result.worklog["clusters"]}
    assert {"audit", "http", "message"} <= kinds
    assert result.worklog["entries"]["read"] == len(mixed)
    assert result.worklog["entries"]["skipped"] == 0
    denied = result.cluster(
        title="run.googleapis.com GetService denied (code 7)"
    )
    assert denied["count"] == 2
    assert "alex.admin@example.com" not in result.markdown


def test_progress_goes_to_stderr_every_ten_pages_in_ci(gate, endpoints):
    endpoints(LoggingFake(_numbered(2500), page_size=100))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
    )

    progress = [
        line.split(" (")[0]
        for line in result.stderr.splitlines()
        if "entries in" in line
    ]
    assert progress == [
        "gardener-gate: read 1000 entries in 10 pages",
        "gardener-gate: read 2000 entries in 20 pages",
    ]


def test_a_file_and_cloud_options_together_are_a_usage_error(gate):
    result = gate("run", "--logs", "x.json", *CLOUD_ARGS)

    assert result.code == 2
    assert "--logs reads a file" in result.stderr


def test_cloud_needs_project_service_and_region(gate):
    result = gate("run", "--project", "p", "--service", "s")

    assert result.code == 2
    assert "--project, --service and --region" in result.stderr


def _split(*shares: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": name,
            "percent": percent,
        }
        for name, percent in shares
    ]


@pytest.mark.parametrize(
    ("traffic", "latest", "chosen"),
    [
        (_split(("orders-api-00041-zed", 100)), None, "orders-api-00041-zed"),
        (
            _split(("orders-api-00041-zed", 30), (NEW_REVISION, 70)),
            None,
            NEW_REVISION,
        ),
        (
            _split(("orders-api-00041-zed", 60), (NEW_REVISION, 40)),
            None,
            "orders-api-00041-zed",
        ),
        (
            _split(("orders-api-00041-zed", 50), (NEW_REVISION, 50)),
            None,
            NEW_REVISION,
        ),
        (
            [
                {
                    "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
                    "percent": 100,
                }
            ],
            "orders-api-00041-zed",
            "orders-api-00041-zed",
        ),
        (
            _split(("orders-api-00041-zed", 0), (NEW_REVISION, 0)),
            NEW_REVISION,
            NEW_REVISION,
        ),
    ],
)
def test_revision_auto_takes_the_largest_share_then_the_newest(
    gate, endpoints, traffic, latest, chosen
):
    fake = endpoints(
        LoggingFake([]), _run_fake(traffic=traffic, latest_ready=latest)
    )

    result = gate("run", *CLOUD_ARGS, "--revision", "auto")

    assert (
        f'resource.labels.revision_name="{chosen}"'
        in (fake.requests[0]["filter"])
    )
    assert result.worklog["source"]["revision"] == chosen
    assert result.worklog["verdict"] == "warn"


def test_revision_auto_is_the_default_for_cloud_logging(gate, endpoints):
    fake = endpoints(LoggingFake([]))

    gate("run", *CLOUD_ARGS)

    assert f'revision_name="{NEW_REVISION}"' in fake.requests[0]["filter"]


def test_a_service_serving_nothing_exits_3_saying_so(gate, endpoints):
    fake = endpoints(LoggingFake([]), _run_fake(traffic=[]))

    result = gate("run", *CLOUD_ARGS)

    assert result.code == 3
    assert "serves no revision" in result.stderr
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "words"),
    [(403, "Cloud Run Viewer role (roles/run.viewer)"), (404, "no service")],
)
def test_a_service_that_cannot_be_read_exits_3(gate, endpoints, status, words):
    endpoints(LoggingFake([]), _run_fake(service_status=status))

    result = gate("run", *CLOUD_ARGS)

    assert result.code == 3
    assert words in result.stderr


def test_the_window_starts_no_earlier_than_the_revision(gate, endpoints):
    fake = endpoints(
        LoggingFake(_revision_entries()),
        _run_fake(
            revisions={NEW_REVISION: "2025-05-13T14:01:30.500Z"},
        ),
    )

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--window",
        "3d",
        "--until",
        "2025-05-15T00:00:00Z",
    )

    assert (
        'timestamp>="2025-05-13T14:01:30.500000Z"'
        in (fake.requests[0]["filter"])
    )
    assert result.worklog["source"]["window"]["start"] == (
        "2025-05-13T14:01:30.500000Z"
    )


READ_QUOTA = json.loads((CASES / "read-quota-429" / "input.json").read_text())


def test_read_quota_a_transient_429_is_retried_and_nothing_is_lost(
    gate, endpoints, sleeps
):
    def once_on_page_two(call: int):
        return error_response(429, "ResourceExhausted") if call == 2 else None

    endpoints(LoggingFake(READ_QUOTA, page_size=3, fault=once_on_page_two))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
        "--window",
        "30d",
    )

    assert result.worklog["entries"]["read"] == 7
    assert result.worklog["partial"] is False
    conflict = result.cluster(kind="message")
    assert conflict["template"] == (
        "Stock reservation conflict for sku SKU-<NUM>"
    )
    assert conflict["count"] == 5
    assert result.cluster(kind="http")["count"] == 2
    assert result.cluster(kind="http")["breakdown"]["routes"] == [
        {"value": "GET /api/v1/stock", "count": 2}
    ]
    assert len(sleeps) == 1 and sleeps[0] >= 0.5
    assert "429" not in result.markdown


def test_read_quota_a_persistent_429_gives_a_partial_worklog(
    gate, endpoints, sleeps
):
    def after_page_one(call: int):
        return error_response(429, "ResourceExhausted") if call > 1 else None

    endpoints(LoggingFake(READ_QUOTA, page_size=3, fault=after_page_one))

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
        "--window",
        "30d",
        "--retry-budget",
        "60",
    )

    assert result.code == 3
    assert result.worklog["entries"]["read"] == 3
    assert result.worklog["partial"].startswith(
        "log read stopped by quota (429) after 3 entries"
    )
    assert "**Partial data: log read stopped by quota (429) after 3" in (
        result.markdown
    )
    assert "Traceback" not in result.markdown
    assert 1 < len(sleeps) < 10
    assert sum(sleeps) <= 60


def test_the_retry_budget_can_come_from_the_environment(
    gate, endpoints, sleeps, monkeypatch
):
    monkeypatch.setenv("GARDENER_GATE_RETRY_BUDGET", "0")
    endpoints(
        LoggingFake(
            READ_QUOTA,
            page_size=3,
            fault=lambda call: error_response(429, "q") if call > 1 else None,
        )
    )

    result = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--until",
        "2025-05-15T00:00:00Z",
        "--window",
        "30d",
    )

    assert result.code == 3
    assert sleeps == []


def test_cloud_run_out_of_reach_is_a_read_error(gate, monkeypatch):
    monkeypatch.setenv("GARDENER_GATE_RUN_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("GARDENER_GATE_LOGGING_ENDPOINT", "http://127.0.0.1:9")

    result = gate("run", *CLOUD_ARGS, "--retry-budget", "0")

    assert result.code == 3
    assert "Cloud Run did not answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_named_revision_is_read_without_credentials_for_cloud_run(
    httpserver, monkeypatch, gate
):
    # A local fake of Cloud Logging needs no credentials; Cloud Run, which
    # only bounds the window once the revision is named, is not asked.
    def no_credentials(*args: Any, **kwargs: Any) -> Any:
        raise google.auth.exceptions.DefaultCredentialsError("none here")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    monkeypatch.delenv("GARDENER_GATE_RUN_ENDPOINT", raising=False)
    url = LoggingFake(_revision_entries()).install(httpserver)

    named = gate(
        "run",
        *CLOUD_ARGS,
        "--revision",
        NEW_REVISION,
        "--logging-endpoint",
        url,
        "--until",
        "2025-05-15T00:00:00Z",
    )
    auto = gate("run", *CLOUD_ARGS, "--logging-endpoint", url)

    assert named.code == 1
    assert named.worklog["entries"]["events"] > 0
    assert "the window is not bounded by it" in named.stderr
    assert "no Application Default Credentials" in named.stderr
    assert auto.code == 3
    assert "error: no Application Default Credentials" in auto.stderr


def test_a_read_that_fails_before_it_starts_leaves_no_earlier_worklog(
    gate, monkeypatch, tmp_path
):
    out = tmp_path / "out"
    logs = CASES / "staging-3day" / "input.json"
    earlier = gate("run", "--logs", str(logs), "--out", str(out))
    monkeypatch.setenv("GARDENER_GATE_RUN_ENDPOINT", "http://127.0.0.1:9")

    result = gate("run", *CLOUD_ARGS, "--out", str(out))

    assert (earlier.code, result.code) == (1, 3)
    assert "Cloud Run did not answer" in result.stderr
    assert sorted(out.iterdir()) == []
