"""Grouping in Log Analytics: the SQL on DuckDB, the client on a fake API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import CASES
from fakes.bigquery import BigQueryFake, bigquery_error
from fakes.google import RunFake, error_response, json_response
from werkzeug import Response

from bench.loganalytics import RowSource, load, run_query
from gardener_gate import bigquery as bigquery_module
from gardener_gate.action import check_inputs, read_inputs, run_arguments
from gardener_gate.group import EntryGroup
from gardener_gate.pipeline import RunOptions, run_gate
from gardener_gate.report import render_json
from gardener_gate.rules import load_rules
from gardener_gate.source import FileSource
from gardener_gate.sql import build_sql

STAGING_PATH = CASES / "staging-3day" / "input.json"
STAGING = json.loads(STAGING_PATH.read_text())
PROJECT = "demo-staging-000000"
TABLE = f"{PROJECT}.global._Default._AllLogs"
NEW_REVISION = "orders-api-00042-kot"
KEY_ERROR = "KeyError in quote (/app/orders/pricing.py)"
OLD_REVISION = "orders-api-00041-zed"
UNTIL = datetime(2025, 5, 15, tzinfo=UTC)
WINDOW = timedelta(days=3)
CLOUD_ARGS = (
    "--project",
    PROJECT,
    "--service",
    "orders-api",
    "--region",
    "europe-west1",
)
BIGQUERY_ARGS = (
    *CLOUD_ARGS,
    "--source",
    "bigquery",
    "--table",
    TABLE,
    "--window",
    "3d",
    "--until",
    "2025-05-15T00:00:00Z",
)


def _parameters(revision: str) -> dict[str, object]:
    return {
        "start": UNTIL - WINDOW,
        "end": UNTIL,
        "service": "orders-api",
        "revision": revision,
        "location": "europe-west1",
    }


def _grouped(
    entries: list[dict[str, Any]], revision: str, null_records: bool = False
):
    """The query's rows over ``entries``, computed by DuckDB."""
    connection = load(entries, null_records)
    try:
        return run_query(connection, build_sql(TABLE), _parameters(revision))
    finally:
        connection.close()


def _worklog(source: Any, revision: str) -> dict[str, Any]:
    options = RunOptions(
        revision=revision, window=WINDOW, until=UNTIL, now=UNTIL
    )
    result = run_gate(options, load_rules(None), source)
    return render_json(result, UNTIL)


@pytest.fixture(scope="module")
def staging_rows() -> dict[str, list[dict[str, Any]]]:
    """The query's rows over the staging example, for each revision."""
    return {
        revision: _grouped(STAGING, revision)
        for revision in (NEW_REVISION, OLD_REVISION)
    }


# What the SQL computes, run on DuckDB.


@pytest.mark.parametrize("revision", [NEW_REVISION, OLD_REVISION])
def test_the_groups_give_the_file_sources_clusters(staging_rows, revision):
    from_file = _worklog(FileSource(str(STAGING_PATH), "auto"), revision)

    grouped = _worklog(RowSource(TABLE, staging_rows[revision]), revision)

    assert grouped["clusters"] == from_file["clusters"]
    assert grouped["traffic"] == from_file["traffic"]
    assert grouped["verdict"] == from_file["verdict"] == "fail"
    entries = dict(from_file["entries"])
    # The query selects the revision; the file source reads the others
    # too and counts them as outside it.
    entries["read"] -= entries.pop("outside_revision")
    assert {
        k: v for k, v in grouped["entries"].items() if k != "outside_revision"
    } == entries
    assert grouped["entries"]["outside_revision"] == 0


def test_together_the_revisions_hold_the_staging_examples_issues(
    staging_rows,
):
    counts: dict[tuple[str, str, str], int] = {}
    for revision in (NEW_REVISION, OLD_REVISION):
        for cluster in _worklog(
            RowSource(TABLE, staging_rows[revision]), revision
        )["clusters"]:
            key = (cluster["priority"], cluster["kind"], cluster["title"])
            counts[key] = counts.get(key, 0) + cluster["count"]

    issues = {k: v for k, v in counts.items() if k[0] != "P10"}
    assert issues == {
        ("P1", "http", "HTTP 503 Service Unavailable"): 5,
        ("P1", "http", "HTTP 500 Internal Server Error"): 3,
        (
            "P1",
            "trace",
            "sqlalchemy.exc.OperationalError in fetch_page "
            "(/app/orders/repo.py)",
        ): 2,
        ("P1", "trace", "KeyError in quote (/app/orders/pricing.py)"): 1,
        (
            "P2",
            "message",
            "request.session accessed but no session middleware is "
            "installed; continuing without session "
            "(method=<METHOD>, path=<PATH>)",
        ): 40,
        ("P4", "http", "HTTP 404 Not Found"): 216,
        ("P6", "http", "HTTP 499 Client Closed Request"): 14,
    }


def test_only_groups_travel_and_split_trace_lines_come_one_by_one(
    staging_rows,
):
    rows = staging_rows[NEW_REVISION]

    fragments = [r for r in rows if r["fragment"]]
    groups = [r for r in rows if not r["fragment"]]

    assert sum(r["entries"] for r in rows) == 319
    assert len(rows) < 319 / 7
    # The seven lines of the split KeyError traceback, each on its own.
    assert [r["entries"] for r in fragments] == [1] * 7
    assert fragments[-1]["samples"][0]["text_payload"] == (
        "KeyError: 'zone-unknown'"
    )
    assert max(r["entries"] for r in groups) == 135


def test_the_split_traceback_is_stitched_as_from_a_file(staging_rows):
    grouped = _worklog(
        RowSource(TABLE, staging_rows[NEW_REVISION]), NEW_REVISION
    )

    key_error = [
        c for c in grouped["clusters"] if c["title"].startswith("KeyError")
    ]

    assert len(key_error) == 1
    assert key_error[0]["samples"][0]["stitched_from"] == 7
    assert grouped["entries"]["events"] == grouped["entries"]["read"] - 6


def _entry(number: int, message: str, **fields: Any) -> dict[str, Any]:
    entry = {
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
        "insertId": f"id-{number}",
        "timestamp": f"2025-05-14T10:00:{number:02d}Z",
        "severity": "WARNING",
        "jsonPayload": {"message": message},
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "service_name": "orders-api",
                "revision_name": NEW_REVISION,
                "location": "europe-west1",
            },
        },
    }
    entry.update(fields)
    return entry


@pytest.mark.parametrize(
    ("first", "second", "one_group"),
    [
        ("Order 17 shipped", "Order 4711 shipped", True),
        ("took 5 ms (retry 2)", "took 1200 ms (retry 3)", True),
        ("paid in 5ms, 2.5MB", "paid in 1200ms, 700kB", True),
        (
            "miss for key user:12:profile",
            "miss for key user:345:profile",
            True,
        ),
        ("user a@example.com signed in", "user b@example.org signed in", True),
        (
            "lock 123e4567-e89b-12d3-a456-426614174000 held",
            "lock 00000000-0000-4000-8000-000000000000 held",
            True,
        ),
        (
            "request req-6b061442bb failed",
            "request req-7f0a22c9d1 failed",
            True,
        ),
        # The gate keeps these apart, so the SQL must not join them.
        ("user1 signed in", "user2 signed in", False),
        ("GET https://h/a/1-2 failed", "GET https://h/a/3-4 failed", False),
        ("build ab12 done", "build cd34 done", False),
        ("2x faster", "3x faster", False),
        ("version 1.2 live", "version v1.3 live", False),
        (
            "sa a@p.iam.gserviceaccount.com denied",
            "sa b@p.iam.gserviceaccount.com denied",
            False,
        ),
    ],
)
def test_a_group_never_joins_what_the_gate_keeps_apart(
    first, second, one_group, tmp_path
):
    entries = [_entry(1, first), _entry(2, second)]
    path = tmp_path / "entries.json"
    path.write_text(json.dumps(entries))

    rows = _grouped(entries, NEW_REVISION)
    from_file = _worklog(FileSource(str(path), "auto"), NEW_REVISION)
    grouped = _worklog(RowSource(TABLE, rows), NEW_REVISION)

    assert (len(rows) == 1) is one_group
    assert grouped["clusters"] == from_file["clusters"]


# The official client against a fake BigQuery API.


@pytest.fixture
def bigquery(httpserver, monkeypatch: pytest.MonkeyPatch, staging_rows):
    """Install a fake BigQuery API serving the staging rows; return it."""

    def install(**overrides: Any) -> BigQueryFake:
        fields: dict[str, Any] = {
            "project": PROJECT,
            "rows": staging_rows[NEW_REVISION],
        }
        fields.update(overrides)
        fake = BigQueryFake(**fields)
        url = fake.install(httpserver)
        RunFake(
            project=PROJECT,
            region="europe-west1",
            service="orders-api",
            traffic=[
                {
                    "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                    "revision": NEW_REVISION,
                    "percent": 100,
                }
            ],
            revisions={NEW_REVISION: "2025-01-02T00:00:00Z"},
        ).install(httpserver)
        monkeypatch.setenv("GARDENER_GATE_BIGQUERY_ENDPOINT", url)
        monkeypatch.setenv("GARDENER_GATE_RUN_ENDPOINT", url)
        monkeypatch.setenv("GARDENER_GATE_RETRY_BUDGET", "0")
        return fake

    return install


def test_the_job_states_the_window_and_revision_as_parameters(gate, bigquery):
    fake = bigquery()

    gate("run", *BIGQUERY_ARGS, "--max-bytes-billed", "1000000000")

    config = fake.inserted[0]["configuration"]["query"]
    parameters = {
        p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"])
        for p in config["queryParameters"]
    }
    assert parameters == {
        "start": ("TIMESTAMP", "2025-05-12 00:00:00+00:00"),
        "end": ("TIMESTAMP", "2025-05-15 00:00:00+00:00"),
        "service": ("STRING", "orders-api"),
        "revision": ("STRING", NEW_REVISION),
        "location": ("STRING", "europe-west1"),
    }
    assert config["maximumBytesBilled"] == "1000000000"
    assert config["useLegacySql"] is False
    assert f"`{TABLE}`" in config["query"]
    assert "CURRENT_TIMESTAMP" not in config["query"].upper()


def test_every_page_of_rows_is_read(gate, bigquery):
    fake = bigquery(page_size=7)

    result = gate("run", *BIGQUERY_ARGS, "--revision", NEW_REVISION)

    tokens = [
        args.get("pageToken")
        for kind, _, args in fake.requests
        if kind == "results" and args.get("maxResults") != "0"
    ]
    rows = len(fake.rows)
    assert rows > 14
    assert tokens == [None] + [str(n) for n in range(7, rows, 7)]
    assert result.worklog["entries"]["read"] == 319
    assert result.worklog["entries"]["events"] == 313
    assert result.cluster(kind="trace", title=KEY_ERROR)["count"] == 1
    assert result.code == 1


def test_the_run_reads_the_same_clusters_as_the_file(gate, bigquery, tmp_path):
    bigquery()
    entries = [
        e
        for e in STAGING
        if e["resource"]["labels"]["revision_name"] == NEW_REVISION
    ]
    path = tmp_path / "revision.json"
    path.write_text(json.dumps(entries))
    window = ("--window", "3d", "--until", "2025-05-15T00:00:00Z")

    grouped = gate("run", *BIGQUERY_ARGS, "--revision", NEW_REVISION)
    from_file = gate(
        "run", "--logs", str(path), "--revision", NEW_REVISION, *window
    )

    assert grouped.worklog["clusters"] == from_file.worklog["clusters"]
    assert grouped.worklog["entries"] == from_file.worklog["entries"]
    assert grouped.worklog["source"]["kind"] == "bigquery"
    assert grouped.code == from_file.code == 1


def test_bytes_scanned_reach_the_worklog(gate, bigquery):
    bigquery(bytes_processed=52_428_800, bytes_billed=53_477_376)

    result = gate("run", *BIGQUERY_ARGS, "--revision", NEW_REVISION)

    source = result.worklog["source"]
    assert (source["bytes_processed"], source["bytes_billed"]) == (
        52_428_800,
        53_477_376,
    )
    assert (
        "| Bytes scanned | 52,428,800 processed, 53,477,376 billed |"
        in result.markdown
    )
    assert "Log Analytics (BigQuery)" in result.markdown


def _one_line_error(result) -> str:
    assert result.code == 3
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_refused_query_names_the_roles_it_needs(gate, bigquery):
    bigquery(
        fault=lambda kind, _: (
            bigquery_error(
                403,
                "accessDenied",
                "Access Denied: Project demo-staging-000000: User "
                "dana.ops@example.com does not have bigquery.jobs.create "
                "permission",
            )
            if kind == "insert"
            else None
        )
    )

    line = _one_line_error(gate("run", *BIGQUERY_ARGS))

    assert "HTTP 403" in line
    assert "dana.ops" not in line
    assert "<EMAIL>" in line
    assert "roles/bigquery.jobUser" in line
    assert "roles/bigquery.dataViewer" in line


def test_a_rejected_query_is_one_line(gate, bigquery):
    bigquery(
        fault=lambda kind, _: (
            bigquery_error(
                400,
                "invalidQuery",
                "Unrecognized name: json_payload at [12:5]\nmore detail",
            )
            if kind == "insert"
            else None
        )
    )

    line = _one_line_error(gate("run", *BIGQUERY_ARGS))

    assert "rejected the query (HTTP 400: Unrecognized name" in line
    assert "more detail" not in line


def test_a_missing_table_is_named(gate, bigquery):
    bigquery(
        fault=lambda kind, _: (
            bigquery_error(
                404, "notFound", f"Not found: Table {TABLE} was not found"
            )
            if kind == "insert"
            else None
        )
    )

    line = _one_line_error(gate("run", *BIGQUERY_ARGS))

    assert f"BigQuery cannot find {TABLE} (HTTP 404" in line
    assert "check --table" in line


def test_a_query_over_the_byte_limit_says_so(gate, bigquery):
    message = "Query exceeded limit for bytes billed: 1000. 10485760 or higher"
    bigquery(
        error_result={"reason": "bytesBilledLimitExceeded", "message": message}
    )

    line = _one_line_error(
        gate("run", *BIGQUERY_ARGS, "--max-bytes-billed", "1000")
    )

    assert "--max-bytes-billed 1000" in line
    assert message in line


def test_a_failing_server_ends_the_run_with_one_line(gate, bigquery):
    fake = bigquery(
        fault=lambda kind, _: (
            error_response(503, "backend unavailable")
            if kind == "results"
            else None
        )
    )

    line = _one_line_error(gate("run", *BIGQUERY_ARGS))

    assert "503" in line
    assert any(kind == "results" for kind, _, _ in fake.requests)


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (
            ("--table", "orders_logs._AllLogs"),
            "--table 'orders_logs._AllLogs'",
        ),
        (("--table", f"{PROJECT}.global"), "PROJECT.DATASET.TABLE"),
        (("--table", f"{PROJECT}.a.b.c.d"), "PROJECT.DATASET.TABLE"),
        (("--table", f"{PROJECT}.ds.`x`"), "PROJECT.DATASET.TABLE"),
        (("--filter", "severity>=ERROR", "--table", TABLE), "--filter"),
        (("--table", TABLE, "--max-bytes-billed", "0"), "positive"),
        (
            ("--table", TABLE, "--logging-endpoint", "http://127.0.0.1:9"),
            "GARDENER_GATE_BIGQUERY_ENDPOINT",
        ),
        ((), "needs --table"),
    ],
)
def test_bad_bigquery_options_are_usage_errors(gate, extra, complaint):
    result = gate("run", *CLOUD_ARGS, "--source", "bigquery", *extra)

    assert result.code == 2
    assert complaint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_table_without_bigquery_is_a_usage_error(gate):
    result = gate("run", "--logs", str(STAGING_PATH), "--table", TABLE)

    assert result.code == 2
    assert "--source bigquery" in result.stderr


def test_copies_of_an_entry_are_counted_as_duplicates(tmp_path):
    entries = [
        e
        for e in STAGING
        if e["resource"]["labels"]["revision_name"] == NEW_REVISION
    ]
    entries += [dict(entries[0]), dict(entries[40])]
    path = tmp_path / "entries.json"
    path.write_text(json.dumps(entries))

    grouped = _worklog(
        RowSource(TABLE, _grouped(entries, NEW_REVISION)), NEW_REVISION
    )
    from_file = _worklog(FileSource(str(path), "auto"), NEW_REVISION)

    assert grouped["entries"]["duplicates"] == 2
    assert grouped["entries"] == from_file["entries"]
    assert grouped["clusters"] == from_file["clusters"]


def test_a_request_record_of_nulls_is_no_request(staging_rows):
    rows = _grouped(STAGING, NEW_REVISION, null_records=True)

    assert _worklog(RowSource(TABLE, rows), NEW_REVISION) == _worklog(
        RowSource(TABLE, staging_rows[NEW_REVISION]), NEW_REVISION
    )


def test_a_row_that_cannot_be_read_is_skipped_with_its_entries(
    staging_rows,
):
    rows = [dict(row) for row in staging_rows[NEW_REVISION]]
    broken = max(range(len(rows)), key=lambda n: rows[n]["entries"])
    sample = dict(rows[broken]["samples"][0], json_payload="{not json")
    rows[broken] = dict(rows[broken], samples=[sample])

    worklog = _worklog(RowSource(TABLE, rows), NEW_REVISION)

    assert worklog["entries"]["skipped"] == rows[broken]["entries"] == 135
    assert worklog["entries"]["skip_reasons"] == [
        "group of 135 entries: no readable sample"
    ]
    assert worklog["traffic"]["count"] == 0


def test_the_action_passes_the_table_and_the_byte_limit_on(tmp_path):
    inputs = read_inputs(
        {
            "INPUT_PROJECT": PROJECT,
            "INPUT_SERVICE": "orders-api",
            "INPUT_REGION": "europe-west1",
            "INPUT_BIGQUERY_TABLE": TABLE,
            "INPUT_MAX_BYTES_BILLED": "5000000000",
        }
    )

    argv = run_arguments(inputs, tmp_path / "out", tmp_path / "rules")

    assert check_inputs(inputs) == []
    assert argv[argv.index("--source=bigquery") :][:3] == [
        "--source=bigquery",
        f"--table={TABLE}",
        "--max-bytes-billed=5000000000",
    ]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"INPUT_LOGS": "logs.json"}, "logs, or bigquery-table"),
        ({"INPUT_MAX_BYTES_BILLED": "10GB"}, "max-bytes-billed '10GB'"),
    ],
)
def test_the_action_refuses_a_table_it_cannot_use(given, problem):
    inputs = read_inputs(
        {
            "INPUT_PROJECT": PROJECT,
            "INPUT_SERVICE": "orders-api",
            "INPUT_REGION": "europe-west1",
            "INPUT_BIGQUERY_TABLE": TABLE,
            **given,
        }
    )

    assert any(problem in p for p in check_inputs(inputs))


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        (
            "insert",
            Response("<html>proxy</html>", 200, content_type="text/html"),
        ),
        (
            "results",
            Response("<html>proxy</html>", 200, content_type="text/html"),
        ),
        (
            "results",
            Response('{"rows": [', 200, content_type="application/json"),
        ),
        ("insert", json_response({"kind": "bigquery#job"})),
    ],
    ids=["html-insert", "html-results", "truncated", "job-without-reference"],
)
def test_an_answer_that_is_no_bigquery_answer_is_a_read_error(
    gate, bigquery, kind, answer
):
    bigquery(fault=lambda k, n: answer if k == kind else None)

    result = gate("run", *BIGQUERY_ARGS)

    assert result.code == 3
    assert "BigQuery gave no answer the client could read" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failing_insert_is_retried_only_within_the_budget(
    gate, bigquery, monkeypatch
):
    fake = bigquery(
        fault=lambda k, n: (
            bigquery_error(503, "backendError", "busy")
            if k == "insert"
            else None
        )
    )
    monkeypatch.setenv("GARDENER_GATE_RETRY_BUDGET", "1")

    result = gate("run", *BIGQUERY_ARGS)

    inserts = sum(1 for k, _, _ in fake.requests if k == "insert")
    assert result.code == 3
    assert "retry budget of 1 s" in result.stderr
    # A second's budget holds a few tries, not the client's ten minutes.
    assert 1 <= inserts <= 6


def test_pages_that_never_end_leave_a_partial_run(gate, bigquery, monkeypatch):
    monkeypatch.setattr(bigquery_module, "MAX_ROWS", 5)
    bigquery(page_size=2)

    result = gate("run", *BIGQUERY_ARGS, "--revision", NEW_REVISION)

    assert result.code == 3
    assert result.worklog["partial"] == (
        "the BigQuery answer was cut after 5 rows"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"entries": -5},
        {"entries": None},
        {"samples": []},
        {"tallies": [{"part": "hour", "number": float("inf"), "n": 1}]},
        {"tallies": [{"part": "hour", "number": 486000, "n": -3}]},
        {
            "tallies": [
                {"part": "instance", "label": None, "number": None, "n": 2}
            ]
        },
    ],
    ids=[
        "negative",
        "null",
        "no-samples",
        "inf-hour",
        "negative-tally",
        "unnamed-instance",
    ],
)
def test_a_malformed_row_is_skipped_not_fatal(change):
    row = {
        "fragment": False,
        "entries": 3,
        "duplicates": 0,
        "first_seen": datetime(2025, 5, 13, tzinfo=UTC),
        "last_seen": datetime(2025, 5, 13, 1, tzinfo=UTC),
        "samples": [
            '{"textPayload": "boom", "timestamp": "2025-05-13T00:00:00Z"}'
        ],
        "tallies": [],
    }
    row.update(change)

    read = list(bigquery_module.read_rows([row]))

    assert len(read) == 1
    assert not (
        isinstance(read[0], EntryGroup)
        and read[0].samples
        and read[0].count < 0
    )
