"""Turning what the user asked for into a log source and run options."""

from __future__ import annotations

__all__ = [
    "DEFAULT_CLOUD_WINDOW",
    "RunRequest",
    "plan_run",
    "prepare_baseline",
    "read_baseline",
]

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from gardener_gate.baseline import Baseline
from gardener_gate.bigquery import (
    BigQueryQuery,
    BigQuerySource,
    make_bigquery_client,
)
from gardener_gate.clock import format_time, parse_until, parse_window
from gardener_gate.cloud import (
    CloudLoggingSource,
    CloudQuery,
    RetryPolicy,
    make_logging_client,
)
from gardener_gate.errors import LogReadError, UsageError
from gardener_gate.pipeline import (
    LogSource,
    RunOptions,
    RunResult,
    run_gate,
    window_bounds,
)
from gardener_gate.revision import RunAdmin, make_run_admin
from gardener_gate.source import FileSource
from gardener_gate.sql import parse_table

logger = logging.getLogger(__name__)

DEFAULT_CLOUD_WINDOW = "3d"
DEFAULT_RETRY_BUDGET = 120.0
SOURCES = ("logging", "bigquery")


@dataclass(frozen=True, slots=True)
class RunRequest:
    """The options of ``gardener-gate run``, as given."""

    now: datetime
    logs: str | None = None
    fmt: str = "auto"
    project: str | None = None
    service: str | None = None
    region: str | None = None
    revision: str | None = None
    window: str | None = None
    until: str | None = None
    user_filter: str | None = None
    max_entries: int | None = None
    logging_endpoint: str | None = None
    retry_budget: float | None = None
    threshold: int | None = None
    dry_run: bool = False
    baseline: str | None = None
    baseline_revision: str | None = None
    source: str = "logging"
    table: str | None = None
    max_bytes_billed: int | None = None


def plan_run(
    request: RunRequest,
    env: Mapping[str, str],
    progress: Callable[[int, int], None] | None = None,
    admin: RunAdmin | None = None,
    logging_client: object | None = None,
) -> tuple[RunOptions, LogSource]:
    """Choose the source and the window for one run.

    Raises:
        UsageError: the options contradict each other or are incomplete.
        LogReadError: the revision cannot be found.
    """
    if request.revision is not None and not request.revision.strip():
        raise UsageError(
            "--revision: give a revision name, such as orders-api-00042-kot"
        )
    _check_baseline(request)
    cloud = (request.project, request.service, request.region)
    _check_bigquery_options(request)
    if request.logs is not None:
        if request.revision == "auto":
            raise UsageError(
                "--revision auto asks Cloud Run which revision serves; with "
                "--logs, name the revision"
            )
        if request.source == "bigquery":
            raise UsageError(
                "--logs reads a file; --source bigquery reads Log Analytics"
            )
        if any(cloud) or request.user_filter or request.max_entries:
            raise UsageError(
                "--logs reads a file; --project, --service, --region, "
                "--filter and --max-entries are for Cloud Logging"
            )
        return _file_plan(request)
    if not all(cloud):
        raise UsageError(
            "give --logs FILE, or --project, --service and --region to "
            "read from Cloud Logging"
        )
    return _cloud_plan(request, env, progress, admin, logging_client)


def _check_baseline(request: RunRequest) -> None:
    if request.baseline is not None and not request.baseline.strip():
        raise UsageError("--baseline: give the path of a worklog.json")
    wanted = request.baseline_revision
    if wanted is None:
        return
    if request.baseline is not None:
        raise UsageError("give --baseline or --baseline-revision, not both")
    if not wanted.strip():
        raise UsageError("--baseline-revision: give a revision name, or auto")
    if request.logs == "-":
        raise UsageError(
            "--baseline-revision reads the logs twice; give a file, not -"
        )
    if request.logs is not None and not request.revision:
        raise UsageError(
            "--baseline-revision compares two revisions of the file; name "
            "the one analysed with --revision"
        )


def prepare_baseline(
    request: RunRequest, options: RunOptions, redact: Callable[[str], str]
) -> Baseline | None:
    """Read a baseline worklog before any log is read.

    A file that is not a worklog stops the run before it reads; so does a
    worklog of the very revision analysed, which would excuse every
    cluster it has.

    Raises:
        UsageError: the file is not a worklog, or describes the revision
            analysed now.
    """
    # After planning, so that --revision auto is resolved too.
    if request.baseline_revision not in (None, "auto") and (
        request.baseline_revision == options.revision
    ):
        raise UsageError(
            f"--baseline-revision {request.baseline_revision} is the "
            "revision analysed; name an earlier one, or auto"
        )
    if request.baseline is None:
        return None
    baseline = Baseline.from_worklog(Path(request.baseline), redact)
    if baseline.revision is not None and baseline.revision == redact(
        options.revision or ""
    ):
        raise UsageError(
            f"--baseline {request.baseline}: that run analysed the revision "
            "analysed now; give the worklog of an earlier revision"
        )
    return baseline


def read_baseline(
    request: RunRequest,
    result: RunResult,
    env: Mapping[str, str],
    prepared: Baseline | None = None,
    progress: Callable[[int, int], None] | None = None,
    admin: RunAdmin | None = None,
    logging_client: object | None = None,
) -> Baseline | None:
    """The baseline the request asks for, read from where it says.

    The revision before is read from the same source over its own
    window: for Cloud Logging, the window that ends when the analysed
    revision started. A baseline that has no data, was read only in part,
    or is of the same revision or another service, is returned as missing,
    for the rules' policy to judge.

    Raises:
        LogReadError: Cloud Run cannot list the service's revisions.
    """
    if prepared is not None:
        return _fitting(prepared, result)
    wanted = request.baseline_revision
    if wanted is None:
        return None
    analysed = result.options.revision
    cloud = request.logs is None
    if cloud and admin is None:
        admin = make_run_admin(env.get("GARDENER_GATE_RUN_ENDPOINT"))
    if wanted == "auto":
        if admin is not None and analysed is not None:
            found = admin.previous_revision(
                str(request.project),
                str(request.region),
                str(request.service),
                analysed,
            )
        else:
            found = _previous_in_file(result)
        if found is None:
            return Baseline.absent(
                f"the revision before {analysed}",
                "no revision seen is older than the one analysed",
            )
        logger.info("baseline revision auto: chosen=%s", found)
        wanted = found
    name = f"revision {wanted}"
    seen = result.source.revision_starts.keys() | result.source.revisions
    if (
        not cloud
        and request.baseline_revision != "auto"
        and wanted not in seen
    ):
        # A name the file does not hold is a typo, as with --revision.
        raise LogReadError(
            f"--baseline-revision {wanted}: no entry of the file is of that "
            f"revision; revisions present: {', '.join(sorted(seen))}"
        )
    again = replace(request, revision=wanted, baseline_revision=None)
    if cloud:
        if result.options.not_before is not None:
            # What the revision before logged while it served alone.
            again = replace(
                again, until=format_time(result.options.not_before)
            )
        options, source = _cloud_plan(
            again, env, progress, admin, logging_client
        )
    else:
        options, source = _file_plan(again)
    try:
        run = run_gate(options, result.rules, source)
    except LogReadError as fault:
        return Baseline.absent(name, f"it could not be read: {fault}")
    if run.partial is not None:
        return Baseline.absent(
            name, f"it was read only in part: {run.partial}"
        )
    if run.counts.events == 0:
        return Baseline.absent(name, "it logged nothing in its window")
    return replace(
        Baseline.of_clusters(
            name, run.clusters, run.source.active_hours, run.counts.events
        ),
        revision=wanted,
    )


def _fitting(baseline: Baseline, result: RunResult) -> Baseline:
    if baseline.missing is not None:
        return baseline
    source = result.source
    analysed = result.options.revision or (
        next(iter(source.revisions)) if len(source.revisions) == 1 else None
    )
    if baseline.revision is not None and baseline.revision == analysed:
        return Baseline.absent(
            baseline.name, "that run analysed the same revision as this one"
        )
    service = result.options.service or (
        next(iter(source.services)) if len(source.services) == 1 else None
    )
    if (
        baseline.service is not None
        and service is not None
        and baseline.service != service
    ):
        return Baseline.absent(
            baseline.name, "that run analysed another service"
        )
    if (
        baseline.first_seen is not None
        and source.seen_start is not None
        and baseline.first_seen > source.seen_start
    ):
        return Baseline.absent(
            baseline.name,
            "that run's entries begin after this run's: it describes a "
            "later revision, not the one before",
        )
    return baseline


def _previous_in_file(result: RunResult) -> str | None:
    starts = result.source.revision_starts
    began = starts.get(result.options.revision or "")
    if began is None:
        # Entries without timestamps tell no order.
        return None
    older = sorted(
        (moment, name) for name, moment in starts.items() if moment < began
    )
    return older[-1][1] if older else None


def _file_plan(request: RunRequest) -> tuple[RunOptions, LogSource]:
    assert request.logs is not None
    options = RunOptions(
        revision=request.revision,
        window=parse_window(request.window) if request.window else None,
        until=parse_until(request.until) if request.until else None,
        threshold=request.threshold,
        dry_run=request.dry_run,
        now=request.now,
    )
    return options, FileSource(request.logs, request.fmt)


def _check_bigquery_options(request: RunRequest) -> None:
    if request.source == "bigquery":
        if not request.table:
            raise UsageError(
                "--source bigquery needs --table, such as "
                "my-project.my_logs._AllLogs"
            )
        if request.user_filter or request.max_entries:
            raise UsageError(
                "--filter and --max-entries are for Cloud Logging; the "
                "BigQuery query reads the whole window of the revision"
            )
        if request.logging_endpoint:
            raise UsageError(
                "--logging-endpoint is for Cloud Logging; set "
                "GARDENER_GATE_BIGQUERY_ENDPOINT for another BigQuery endpoint"
            )
        if request.max_bytes_billed is not None and (
            request.max_bytes_billed < 1
        ):
            raise UsageError("--max-bytes-billed: give a positive number")
        parse_table(request.table)
    elif request.table or request.max_bytes_billed is not None:
        raise UsageError(
            "--table and --max-bytes-billed are for --source bigquery"
        )


def _cloud_plan(
    request: RunRequest,
    env: Mapping[str, str],
    progress: Callable[[int, int], None] | None,
    admin: RunAdmin | None,
    logging_client: object | None,
) -> tuple[RunOptions, LogSource]:
    project, service, region = (
        str(request.project),
        str(request.service),
        str(request.region),
    )
    if request.max_entries is not None and request.max_entries < 1:
        raise UsageError("--max-entries: give a positive number")
    window = parse_window(request.window or DEFAULT_CLOUD_WINDOW)
    until = parse_until(request.until) if request.until else request.now
    revision = request.revision or "auto"
    started = None
    if admin is None:
        try:
            admin = make_run_admin(env.get("GARDENER_GATE_RUN_ENDPOINT"))
        except LogReadError as fault:
            if revision == "auto":
                raise
            # With the revision named, Cloud Run only bounds the window.
            logger.warning(
                "could not ask Cloud Run when revision %s started (%s); the "
                "window is not bounded by it",
                revision,
                fault,
            )
    if admin is not None:
        if revision == "auto":
            revision = admin.serving_revision(project, region, service)
        started = admin.revision_start(project, region, service, revision)
    options = RunOptions(
        revision=revision,
        window=window,
        until=until,
        not_before=started,
        threshold=request.threshold,
        dry_run=request.dry_run,
        now=request.now,
        service=service,
        project=project,
        region=region,
    )
    start, _ = window_bounds(options)
    if request.source == "bigquery":
        return options, _bigquery_source(
            request, env, options, start or until - window
        )
    endpoint = request.logging_endpoint or env.get(
        "GARDENER_GATE_LOGGING_ENDPOINT"
    )
    client = logging_client or make_logging_client(project, endpoint)
    query = CloudQuery(
        project=project,
        service=service,
        region=region,
        revision=revision,
        start=start or until - window,
        end=until,
        user_filter=request.user_filter,
        max_entries=request.max_entries,
    )
    retry = RetryPolicy(budget=_retry_budget(request, env))
    return options, CloudLoggingSource(client, query, retry, progress)


def _bigquery_source(
    request: RunRequest,
    env: Mapping[str, str],
    options: RunOptions,
    start: datetime,
) -> BigQuerySource:
    assert request.table is not None and options.until is not None
    project = str(request.project)
    query = BigQueryQuery(
        project=project,
        table=parse_table(request.table),
        service=str(request.service),
        region=str(request.region),
        revision=str(options.revision),
        start=start,
        end=options.until,
        max_bytes_billed=request.max_bytes_billed,
        retry_budget=_retry_budget(request, env),
    )
    endpoint = env.get("GARDENER_GATE_BIGQUERY_ENDPOINT")
    return BigQuerySource(make_bigquery_client(project, endpoint), query)


def _retry_budget(request: RunRequest, env: Mapping[str, str]) -> float:
    if request.retry_budget is not None:
        budget = request.retry_budget
    else:
        text = env.get("GARDENER_GATE_RETRY_BUDGET", "")
        try:
            budget = float(text) if text else DEFAULT_RETRY_BUDGET
        except ValueError:
            raise UsageError(
                f"GARDENER_GATE_RETRY_BUDGET={text!r}: give seconds, such "
                "as 120"
            ) from None
    if budget < 0:
        raise UsageError("--retry-budget: give zero or more seconds")
    return budget
