"""The worklog: ``worklog.json`` for machines, ``worklog.md`` for people."""

from __future__ import annotations

__all__ = [
    "SCHEMA_VERSION",
    "clear_worklog",
    "render_json",
    "write_worklog",
]

import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gardener_gate import __version__
from gardener_gate.clock import format_time
from gardener_gate.cluster import ALGORITHM
from gardener_gate.errors import UsageError
from gardener_gate.pipeline import RunResult
from gardener_gate.render import render_markdown
from gardener_gate.rules import format_priority
from gardener_gate.snippet import accept_all, accept_snippet
from gardener_gate.verdict import Finding, Status

SCHEMA_VERSION = 1


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _top(counter: Counter[str]) -> str | None:
    return counter.most_common(1)[0][0] if counter else None


def run_date(result: RunResult) -> date:
    """The day acceptances expire against: ``--until``'s, or today's."""
    moment = result.options.until or result.options.now
    return moment.astimezone(UTC).date()


def _describe_source(result: RunResult) -> dict[str, Any]:
    source = result.source
    revision = result.options.revision
    if revision is None and len(source.revisions) == 1:
        revision = next(iter(source.revisions))
    options = result.options
    described: dict[str, Any] = {
        "kind": source.kind,
        "path": source.name,
        "service": options.service or _top(source.services),
        "revision": revision,
        "revisions_seen": dict(sorted(source.revisions.items())),
        "project": options.project or _top(source.projects),
        "region": options.region or _top(source.regions),
        "window": {
            "start": _time(source.window_start),
            "end": _time(source.window_end),
            "given": source.window_given,
        },
    }
    if source.bytes_processed is not None:
        described["bytes_processed"] = source.bytes_processed
        described["bytes_billed"] = source.bytes_billed
    return described


def _cluster_json(finding: Finding, today: date) -> dict[str, Any]:
    cluster = finding.cluster
    signature = finding.signature
    item: dict[str, Any] = {
        "id": cluster.id,
        "priority": format_priority(finding.priority),
        "status": finding.status.value,
        "kind": cluster.kind,
        "severity": cluster.severity.name,
        "count": cluster.count,
        "title": cluster.title,
        "template": cluster.template,
        "rule": signature.id if signature else None,
        "priority_rule": finding.priority_rule,
        "fails": finding.fails,
        "first_seen": _time(cluster.first_seen),
        "last_seen": _time(cluster.last_seen),
        "hours": [
            {
                "hour": format_time(datetime.fromtimestamp(h * 3600, UTC)),
                "count": n,
            }
            for h, n in cluster.hours
        ],
        "samples": list(cluster.samples),
        "breakdown": {
            name: [{"value": v, "count": n} for v, n in rows]
            for name, rows in cluster.breakdown.items()
        },
    }
    for name, value in (
        ("http_status", cluster.status),
        ("location", cluster.location),
        ("summary", cluster.summary),
        ("first_version", cluster.first_version),
        ("latency_p50_s", cluster.latency_p50),
    ):
        if value is not None:
            item[name] = value
    if cluster.frames:
        item["frames"] = list(cluster.frames)
    if signature is not None and signature.accept is not None:
        accept = signature.accept
        item["acceptance"] = {
            "reason": accept.reason,
            "owner": accept.owner,
            "link": accept.link,
            "expires": accept.expires.isoformat() if accept.expires else None,
        }
    if finding.status in (Status.NEW, Status.EXPIRED):
        item["accept_snippet"] = accept_snippet(finding, today)
    return item


def render_json(result: RunResult, now: datetime) -> dict[str, Any]:
    """The worklog as a JSON object; README.md lists its fields."""
    decision = result.decision
    counts = result.counts
    today = run_date(result)
    new = [f for f in decision.findings if f.status is Status.NEW]
    clusters = [_cluster_json(f, today) for f in decision.findings]
    snippets = [c["accept_snippet"] for c in clusters if "accept_snippet" in c]
    by_priority = Counter(format_priority(f.priority) for f in new)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {
            "name": "gardener-gate",
            "version": __version__,
            "clustering": ALGORITHM,
        },
        "generated_at": format_time(now),
        "verdict": decision.verdict.value,
        "reason": decision.reason,
        "threshold": format_priority(decision.threshold),
        "partial": result.partial or False,
        "dry_run": result.options.dry_run,
        "warnings": result.rules.warnings(today),
        "entries": {
            "read": counts.read,
            "skipped": counts.skipped,
            "skip_reasons": counts.skip_reasons,
            "duplicates": counts.duplicates,
            "outside_window": counts.outside_window,
            "outside_revision": counts.outside_revision,
            "analysed": counts.analysed,
            "events": counts.events,
        },
        "source": _describe_source(result),
        "rules": {
            "files": list(result.rules.files),
            "summary": result.rules.summary(),
        },
        "summary": {
            "clusters": len(decision.findings),
            "failing": len(decision.failing),
            "new": len(new),
            "by_status": dict(
                sorted(
                    Counter(f.status.value for f in decision.findings).items()
                )
            ),
            "new_by_priority": dict(
                sorted(by_priority.items(), key=lambda kv: int(kv[0][1:]))
            ),
            "cluster_limit_overflow": result.cluster_overflow,
        },
        "clusters": clusters,
        "stale_signatures": [
            {"id": s.id, "file": s.file, "line": s.line}
            for s in decision.stale
        ],
        "traffic": result.traffic.as_dict(),
        "accept_all": accept_all(snippets) if snippets else None,
    }


def write_worklog(
    result: RunResult, out: Path, now: datetime
) -> tuple[Path, Path]:
    """Write ``worklog.json`` and ``worklog.md`` into ``out``."""
    data = render_json(result, now)
    json_path = out / "worklog.json"
    md_path = out / "worklog.md"
    try:
        out.mkdir(parents=True, exist_ok=True)
        json_path.write_text(
            json.dumps(data, indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        md_path.write_text(render_markdown(data), encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write the worklog "
            f"({exc.strerror or exc}); give a folder that can be written"
        ) from None
    return md_path, json_path


def clear_worklog(out: Path) -> None:
    """Remove an earlier run's worklog, so that no stale verdict remains.

    Raises:
        UsageError: ``out`` exists but is not a folder.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"--out {out}: this is a file; give a folder for the worklog"
        )
    for name in ("worklog.md", "worklog.json"):
        try:
            (out / name).unlink()
        except (FileNotFoundError, IsADirectoryError):
            continue
        except OSError as exc:
            raise UsageError(
                f"--out {out}: cannot use it ({exc.strerror or exc})"
            ) from None
