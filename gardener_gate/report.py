"""The worklog: ``worklog.json`` for machines, ``worklog.md`` for people."""

from __future__ import annotations

__all__ = [
    "SCHEMA_VERSION",
    "clear_worklog",
    "read_worklog",
    "render_json",
    "write_worklog",
]

import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gardener_gate import __version__
from gardener_gate.baseline import span_hours
from gardener_gate.clock import format_time
from gardener_gate.cluster import ALGORITHM, OVERFLOW_ID, Cluster
from gardener_gate.errors import LogReadError, UsageError
from gardener_gate.pipeline import RunResult, run_day
from gardener_gate.render import render_markdown
from gardener_gate.rules import format_priority
from gardener_gate.snippet import accept_all, accept_snippet
from gardener_gate.verdict import Finding, Status

SCHEMA_VERSION = 1


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _top(counter: Counter[str]) -> str | None:
    return counter.most_common(1)[0][0] if counter else None


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
            "hours": round(
                span_hours(source.window_start, source.window_end), 2
            ),
        },
        "observed": {
            "first": _time(source.seen_start),
            "last": _time(source.seen_end),
            "hours": round(source.active_hours, 2),
        },
        "instances": source.instances,
    }
    if source.bytes_processed is not None:
        described["bytes_processed"] = source.bytes_processed
        described["bytes_billed"] = source.bytes_billed
    return described


def _cluster_json(
    finding: Finding, today: date, instances: int
) -> dict[str, Any]:
    cluster = finding.cluster
    signature = finding.signature
    compared = finding.baseline
    item: dict[str, Any] = {
        "id": cluster.id,
        "priority": format_priority(finding.priority),
        "status": finding.status.value,
        "baseline": compared.standing.value if compared else None,
        "kind": cluster.kind,
        "severity": cluster.severity.name,
        "count": cluster.count,
        "baseline_count": compared.baseline_count if compared else None,
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
    if compared is not None and compared.counterpart is not None:
        item["baseline_match"] = {
            "id": compared.counterpart.id,
            "title": compared.counterpart.title,
            "rate_factor": (
                None if compared.factor is None else round(compared.factor, 2)
            ),
            "changed": compared.changed,
        }
    concentration = _concentration(cluster, instances)
    if concentration is not None:
        item["concentration"] = concentration
    if signature is not None and signature.accept is not None:
        accept = signature.accept
        item["acceptance"] = {
            "reason": accept.reason,
            "owner": accept.owner,
            "link": accept.link,
            "expires": accept.expires.isoformat() if accept.expires else None,
            "until_count": accept.until_count,
            "until_rate_factor": accept.until_rate_factor,
        }
    if finding.ran_out is not None:
        item["expired_because"] = finding.ran_out
    if finding.status.can_fail and cluster.id != OVERFLOW_ID:
        # The overflow cluster holds unrelated events: never accepted.
        item["accept_snippet"] = accept_snippet(finding, today)
    if finding.issue is not None:
        item["issue"] = finding.issue.as_dict()
    return item


def _concentration(cluster: Cluster, instances: int) -> dict[str, Any] | None:
    """The one instance a cluster came from, when the run saw several.

    One bad instance (a full disk, a stuck connection) is not a code
    regression; every event must carry the instance for this to say so.
    """
    if instances < 2 or cluster.count < 2 or cluster.sole_instance is None:
        return None
    return {
        "instance": cluster.sole_instance[-12:],
        "instances_in_run": instances,
    }


def _baseline_json(result: RunResult) -> dict[str, Any] | None:
    baseline = result.baseline
    if baseline is None:
        return None
    standings = Counter(
        f.baseline.standing.value
        for f in result.decision.findings
        if f.baseline is not None
    )
    return {
        "name": baseline.name,
        "missing": baseline.missing,
        "clustering": baseline.algorithm,
        "hours": round(baseline.hours, 2),
        "clusters": len(baseline.clusters),
        "events": baseline.events,
        "by_standing": dict(sorted(standings.items())),
        "cut_short": result.decision.baseline_cut_short,
    }


def render_json(result: RunResult, now: datetime) -> dict[str, Any]:
    """The worklog as a JSON object; README.md lists its fields."""
    decision = result.decision
    counts = result.counts
    today = run_day(result.options)
    new = [f for f in decision.findings if f.status is Status.NEW]
    instances = result.source.instances
    clusters = [_cluster_json(f, today, instances) for f in decision.findings]
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
        "baseline": _baseline_json(result),
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
        "issues": result.links.as_dict() if result.links else None,
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


def read_worklog(path: Path) -> dict[str, Any]:
    """An earlier run's worklog.json, from the file or its folder.

    Raises:
        LogReadError: there is no readable worklog there.
    """
    if path.is_dir():
        path = path / "worklog.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise LogReadError(f"{path}: not a gardener-gate worklog") from None
    except (OSError, ValueError) as exc:
        raise LogReadError(
            f"{path}: no readable worklog ({exc}); run `gardener-gate run` "
            "first"
        ) from None
    if not isinstance(data, dict) or not isinstance(
        data.get("clusters"), list
    ):
        raise LogReadError(f"{path}: not a gardener-gate worklog")
    return data
