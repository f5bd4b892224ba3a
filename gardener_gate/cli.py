"""The command line: parse arguments, dispatch, map outcomes to exit codes."""

from __future__ import annotations

__all__ = [
    "main",
]

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gardener_gate import __version__
from gardener_gate.action import Runner
from gardener_gate.errors import (
    EXIT_FAIL,
    EXIT_INTERNAL,
    EXIT_PASS,
    EXIT_READ,
    GateError,
    LogReadError,
    RulesError,
    UsageError,
)
from gardener_gate.pipeline import judge, run_gate
from gardener_gate.plan import (
    SOURCES,
    RunRequest,
    plan_run,
    prepare_baseline,
    read_baseline,
)
from gardener_gate.publish import COMMENT_TARGET, PublishOptions, publish
from gardener_gate.redact import Redactor
from gardener_gate.report import clear_worklog, read_worklog, write_worklog
from gardener_gate.rules import load_rules
from gardener_gate.snippet import suggest
from gardener_gate.source import FORMATS
from gardener_gate.tracker import DEFAULT_LABEL, DEFAULT_LEVEL, look_up_issues
from gardener_gate.verdict import Verdict

logger = logging.getLogger(__name__)

DEFAULT_RULES = Path("rules")


def _priority(text: str) -> int:
    value = text.strip().upper()
    if not value.startswith("P") or not value[1:].isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a priority (P0..P10)"
        )
    number = int(value[1:])
    if number > 10:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a priority (P0..P10)"
        )
    return number


def _level(text: str) -> int | None:
    return None if text.strip().lower() == "off" else _priority(text)


def _cap(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a count (0 or more)"
        )
    return int(text)


def _label(text: str) -> str:
    # GitHub reads a comma in a label filter as two labels.
    label = text.strip()
    if not label or "," in label or len(label) > 50:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a label: give 1 to 50 characters, no comma"
        )
    return label


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gardener-gate",
        description="A deploy gate over the logs of a Cloud Run revision.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="explain on stderr what the run did (-v) and every decision "
        "it made (-vv)",
    )
    issue_label = argparse.ArgumentParser(add_help=False)
    issue_label.add_argument(
        "--issue-label",
        type=_label,
        default=DEFAULT_LABEL,
        metavar="NAME",
        help=f"the label of the gate's issues (default {DEFAULT_LABEL})",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{run,publish,rules}"
    )

    run = commands.add_parser(
        "run",
        help="read logs, cluster, decide",
        parents=[verbose, issue_label],
    )
    run.add_argument(
        "--logs",
        metavar="PATH|-",
        help="exported entries (gcloud logging read "
        "--format=json, NDJSON) or text lines; - for stdin",
    )
    run.add_argument("--format", choices=FORMATS, default="auto")
    run.add_argument(
        "--source",
        choices=SOURCES,
        default="logging",
        help="with --project: read entries from Cloud Logging (default), "
        "or group them in Log Analytics with one BigQuery query",
    )
    run.add_argument(
        "--table",
        metavar="PROJECT.DATASET.TABLE",
        help="with --source bigquery: the Log Analytics view, such as "
        "my-project.my_logs._AllLogs",
    )
    run.add_argument(
        "--max-bytes-billed",
        type=int,
        metavar="N",
        help="with --source bigquery: refuse a query that would bill more "
        "bytes than N",
    )
    run.add_argument("--project", help="Google Cloud project to read")
    run.add_argument("--service", help="Cloud Run service")
    run.add_argument("--region", help="Cloud Run region, e.g. europe-west1")
    run.add_argument(
        "--revision",
        help="analyse only this revision's entries; with Cloud Logging, "
        "'auto' (the default) is the one serving most traffic",
    )
    run.add_argument(
        "--filter",
        dest="user_filter",
        metavar="EXPR",
        help="extra Cloud Logging filter, ANDed in parentheses",
    )
    run.add_argument(
        "--max-entries",
        type=int,
        metavar="N",
        help="stop after N entries (the run is then partial)",
    )
    run.add_argument(
        "--logging-endpoint",
        metavar="URL",
        help="Cloud Logging API endpoint (default: Google's; also "
        "GARDENER_GATE_LOGGING_ENDPOINT)",
    )
    run.add_argument(
        "--retry-budget",
        type=float,
        metavar="SECONDS",
        help="total time to spend retrying throttled or failed reads "
        "(default 120; also GARDENER_GATE_RETRY_BUDGET)",
    )
    baseline = run.add_mutually_exclusive_group()
    baseline.add_argument(
        "--baseline-revision",
        metavar="REV|auto",
        help="compare with this revision's clusters (auto: the revision "
        "before the one analysed)",
    )
    baseline.add_argument(
        "--baseline",
        metavar="WORKLOG",
        help="compare with the worklog.json of an earlier run (or its folder)",
    )
    run.add_argument(
        "--window",
        help="how far back from --until, e.g. 3d (default for Cloud "
        "Logging and BigQuery: 3d; a file is read whole)",
    )
    run.add_argument("--until", help="end of the window (RFC 3339)")
    run.add_argument(
        "--rules",
        type=Path,
        metavar="DIR",
        help="rules folder (default: ./rules if it exists)",
    )
    run.add_argument(
        "--fail-on",
        type=_priority,
        metavar="P2",
        help="fail on new, expired or regressed clusters at this priority "
        "or higher (default: the rules' policy, P2)",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=Path("gardener-gate-out"),
        metavar="DIR",
        help="where worklog.md and .json go (default: gardener-gate-out)",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="report the verdict but exit 0"
    )
    run.add_argument(
        "--link-issues-at",
        type=_level,
        default=DEFAULT_LEVEL,
        metavar="P4|off",
        help="link clusters at this priority or higher to the repository's "
        "issues and mark those back after a fix as regressed (default P4; "
        "needs GITHUB_TOKEN with issues: read)",
    )
    run.add_argument(
        "--github-repo",
        metavar="OWNER/NAME",
        help="the repository whose issues to read (default: "
        "GITHUB_REPOSITORY); the token is GITHUB_TOKEN, from the "
        "environment only",
    )

    publish = commands.add_parser(
        "publish",
        help="job summary, outputs, annotations and the PR comment",
        parents=[verbose, issue_label],
    )
    publish.add_argument(
        "--worklog",
        type=Path,
        required=True,
        metavar="DIR",
        help="the folder `gardener-gate run` wrote the worklog to",
    )
    publish.add_argument(
        "--gate-exit-code",
        type=int,
        metavar="N",
        help="the exit code of the run step (default: from the worklog)",
    )
    publish.add_argument(
        "--artifact-name", metavar="NAME", help="where the full worklog is"
    )
    publish.add_argument(
        "--service",
        metavar="NAME",
        help="the service the comment is about (default: the worklog's)",
    )
    publish.add_argument(
        "--rules",
        type=Path,
        default=Path("rules"),
        metavar="DIR",
        help="the rules folder, compared with the pull request's base",
    )
    publish.add_argument(
        "--override-label",
        default="gardener-gate/override",
        metavar="NAME",
        help="a pull request label that lets a failing gate through "
        "(default: gardener-gate/override)",
    )
    publish.add_argument(
        "--override",
        action="store_true",
        help="let a failing gate through on purpose",
    )
    publish.add_argument(
        "--no-comment",
        dest="comment",
        action="store_false",
        help="do not post or edit the PR comment",
    )
    publish.add_argument(
        "--max-comment-chars",
        type=int,
        default=COMMENT_TARGET,
        metavar="N",
        help=f"cap on the comment's length (default {COMMENT_TARGET})",
    )
    publish.add_argument(
        "--open-issues",
        type=_level,
        metavar="P2|off",
        help="open an issue for each new or regressed cluster at this "
        "priority or higher that has no open one, and update the counts "
        "on those that have (default off; needs issues: write)",
    )
    publish.add_argument(
        "--max-issues",
        type=_cap,
        default=5,
        metavar="N",
        help="open at most N issues a run; the rest are listed (default 5)",
    )

    rules = commands.add_parser("rules", help="work with rules files")
    rules_commands = rules.add_subparsers(
        dest="rules_command", required=True, metavar="{check,suggest}"
    )
    check = rules_commands.add_parser(
        "check", help="validate rules files", parents=[verbose]
    )
    check.add_argument("--rules", type=Path, metavar="DIR")
    suggest = rules_commands.add_parser(
        "suggest",
        help="write the accept snippets of a worklog's new clusters into "
        "a rules file for review",
        parents=[verbose],
    )
    suggest.add_argument(
        "--worklog",
        type=Path,
        default=Path("gardener-gate-out"),
        metavar="PATH",
        help="worklog.json, or its folder (default: gardener-gate-out)",
    )
    suggest.add_argument(
        "--out",
        type=Path,
        default=Path("suggested-rules.yaml"),
        metavar="FILE",
        help="the file to write (default: suggested-rules.yaml); move it "
        "into your rules folder once each reason is written",
    )
    suggest.add_argument(
        "--force", action="store_true", help="overwrite --out if it exists"
    )
    return parser


def _rules_dir(given: Path | None) -> Path | None:
    if given is not None:
        return given
    return DEFAULT_RULES if DEFAULT_RULES.is_dir() else None


def _run(args: argparse.Namespace, now: datetime) -> int:
    rules = load_rules(_rules_dir(args.rules))
    request = RunRequest(
        now=now,
        logs=args.logs,
        fmt=args.format,
        project=args.project,
        service=args.service,
        region=args.region,
        revision=args.revision,
        window=args.window,
        until=args.until,
        user_filter=args.user_filter,
        max_entries=args.max_entries,
        logging_endpoint=args.logging_endpoint,
        retry_budget=args.retry_budget,
        threshold=args.fail_on,
        dry_run=args.dry_run,
        baseline=args.baseline,
        baseline_revision=args.baseline_revision,
        source=args.source,
        table=args.table,
        max_bytes_billed=args.max_bytes_billed,
    )
    progress = _Progress()
    try:
        options, source = plan_run(request, os.environ, progress)
    except LogReadError:
        # Cloud Run or the credentials failed before any entry was read:
        # a failed read all the same, which no earlier verdict may hide.
        clear_worklog(args.out)
        raise
    redactor = Redactor(rules.redact, rules.policy.redact_service_accounts)
    prepared = prepare_baseline(request, options, redactor.text)
    # From here on the logs are read: an earlier run's worklog must not
    # stand for this one if reading fails.
    clear_worklog(args.out)
    _warn(rules.warnings((options.until or now).date()))
    links = look_up_issues(
        os.environ, args.github_repo, args.link_issues_at, args.issue_label
    )
    if links.repository is not None and not links.checked:
        _warn([f"regressions not checked: {links.problem}"])
    result = run_gate(options, rules, source, links=links)
    baseline = read_baseline(request, result, os.environ, prepared, progress)
    if baseline is not None:
        result = judge(result, baseline)
        if baseline.missing:
            _warn([f"no baseline: {baseline.missing}"])
    progress.done()
    md_path, _ = write_worklog(result, args.out, now)
    decision = result.decision
    logger.info(
        "verdict=%s reason=%s", decision.verdict.value, decision.reason
    )
    counts = result.counts
    if result.cluster_overflow:
        _warn(
            [
                f"cluster limit reached: {result.cluster_overflow} event(s) "
                "of further shapes share one cluster that no rule accepts"
            ]
        )
    if counts.skipped:
        shown = "; ".join(counts.skip_reasons[:3])
        _warn(
            [
                f"skipped {counts.skipped} unreadable record(s) ({shown}); "
                "the worklog lists them"
            ]
        )
    _say(
        f"gardener-gate: {decision.verdict.value.upper()}: {decision.reason}"
        f" ({_count(len(decision.findings), 'cluster')}, "
        f"{_count(counts.events, 'event')})"
    )
    print(f"gardener-gate: worklog written to {md_path}")
    if result.partial is not None:
        _say(f"gardener-gate: error: partial data: {result.partial}", True)
        return EXIT_READ
    if decision.verdict is Verdict.FAIL and args.dry_run:
        print("gardener-gate: dry run: exit 0 although the gate failed")
        return EXIT_PASS
    if decision.verdict is Verdict.FAIL:
        return EXIT_FAIL
    return EXIT_PASS


def _count(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


def _warn(lines: list[str]) -> None:
    for line in lines:
        _say(f"gardener-gate: warning: {line}", True)


def _say(text: str, error: bool = False) -> None:
    """Print one line: names read from logs can hold line breaks, and a
    line of theirs must never start a workflow command on a runner."""
    print(" ".join(text.splitlines()), file=sys.stderr if error else None)


class _Progress:
    """Entries read so far: live on a terminal, a line now and then in CI."""

    _EVERY = 10

    def __init__(self) -> None:
        self._live = sys.stderr.isatty()
        self._started = time.monotonic()
        self._shown = False

    def __call__(self, pages: int, entries: int) -> None:
        rate = entries / max(time.monotonic() - self._started, 1e-6)
        line = f"read {entries} entries in {pages} pages ({rate:.0f}/s)"
        if self._live:
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
            self._shown = True
        elif pages % self._EVERY == 0:
            print(f"gardener-gate: {line}", file=sys.stderr)

    def done(self) -> None:
        if self._shown:
            print(file=sys.stderr)


def _publish(args: argparse.Namespace) -> int:
    options = PublishOptions(
        worklog=args.worklog,
        gate_exit_code=args.gate_exit_code,
        artifact=args.artifact_name,
        rules=args.rules,
        override_label=args.override_label,
        override=args.override,
        comment=args.comment,
        max_comment_chars=args.max_comment_chars,
        service=args.service,
        open_issues=args.open_issues,
        max_issues=args.max_issues,
        issue_label=args.issue_label,
    )
    step_code = publish(options, Runner(os.environ))
    print(f"gardener-gate: published; the gate's exit code is {step_code}")
    # A GitHub fault never fails this step: the code is an output.
    return EXIT_PASS


def _check(args: argparse.Namespace, now: datetime) -> int:
    folder = _rules_dir(args.rules)
    rules = load_rules(folder)
    _warn(rules.warnings(now.date()))
    where = (
        f" in {folder}"
        if folder is not None
        else f" (no {DEFAULT_RULES}/ folder here: shipped defaults only)"
    )
    print(f"rules ok: {rules.summary()}{where}")
    return EXIT_PASS


def _suggest(args: argparse.Namespace) -> int:
    text, count, left_out = suggest(read_worklog(args.worklog))
    if left_out:
        _warn(
            [
                f"left out {left_out} accept snippet(s) that are not one "
                "signature each"
            ]
        )
    if not count:
        print(f"gardener-gate: {args.worklog} has no new cluster to accept")
        return EXIT_PASS
    _check_suggested(text)
    try:
        with args.out.open("w" if args.force else "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise UsageError(
            f"--out {args.out} exists; give another file, or --force"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"--out {args.out}: cannot write it ({exc.strerror or exc})"
        ) from None
    print(
        f"gardener-gate: wrote {_count(count, 'signature')} to {args.out}; "
        "write each reason, then move the file into your rules folder"
    )
    return EXIT_PASS


def _check_suggested(text: str) -> None:
    """Stop before writing a rules file that the gate itself would reject.

    Raises:
        LogReadError: the worklog's snippets make no valid rules file.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "suggested.yaml")
        path.write_text(text, encoding="utf-8")
        try:
            load_rules(path)
        except RulesError as exc:
            first = exc.problems[0] if exc.problems else "invalid"
            raise LogReadError(
                "the worklog's accept snippets make no valid rules file "
                f"({str(first).replace(str(path), 'suggestion')})"
            ) from None


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("gardener_gate")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(
    argv: Sequence[str] | None = None, now: datetime | None = None
) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    moment = now or datetime.now(UTC)
    try:
        if args.command == "run":
            return _run(args, moment)
        if args.command == "publish":
            return _publish(args)
        if args.rules_command == "suggest":
            return _suggest(args)
        return _check(args, moment)
    except RulesError as exc:
        for problem in exc.problems:
            _say(str(problem), True)
        print(
            f"gardener-gate: {len(exc.problems)} problem(s) in the rules; "
            "nothing was read",
            file=sys.stderr,
        )
        return exc.exit_code
    except GateError as exc:
        _say(f"gardener-gate: error: {exc}", True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gardener-gate: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the one top-level handler
        traceback.print_exc()
        print(
            "gardener-gate: internal error (a bug); please report it with "
            "the traceback above",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())
