"""The worklog: ``worklog.json`` for machines, ``worklog.md`` for people."""

from __future__ import annotations

__all__ = [
    "SCHEMA_VERSION",
    "clear_worklog",
    "render_json",
    "render_markdown",
    "write_worklog",
]

import contextlib
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from gardener_gate import __version__
from gardener_gate.clock import format_time
from gardener_gate.cluster import ALGORITHM, Cluster
from gardener_gate.errors import UsageError
from gardener_gate.markdown import code, fenced, table
from gardener_gate.pipeline import RunResult
from gardener_gate.rules import format_priority
from gardener_gate.snippet import accept_all, accept_snippet
from gardener_gate.verdict import Finding, Status, Verdict

SCHEMA_VERSION = 1
_SPARK = "▁▂▃▄▅▆▇█"
_SHAPE_BUCKETS = 24
_VERDICT_MARK = {
    Verdict.PASS: "✅ PASS",
    Verdict.FAIL: "❌ FAIL",
    Verdict.WARN: "⚠️ WARN",
    Verdict.OVERRIDDEN: "⏭️ OVERRIDDEN",
}
_ACTIONS = (
    ("Immediate (P0–P2)", range(3)),
    ("Short-term (P3–P5)", range(3, 6)),
    ("Monitoring (P6–P8)", range(6, 9)),
    ("No action (P9–P10)", range(9, 11)),
)


def _short(title: str, limit: int = 120) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


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
    return {
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
        "clusters": [_cluster_json(f, today) for f in decision.findings],
        "stale_signatures": [
            {"id": s.id, "file": s.file, "line": s.line}
            for s in decision.stale
        ],
        "traffic": result.traffic.as_dict(),
    }


def _shape(
    cluster: Cluster, start: datetime | None, end: datetime | None
) -> str:
    if not cluster.hours or start is None or end is None:
        return ""
    first = start.timestamp() / 3600
    span = max(end.timestamp() / 3600 - first, 1.0)
    buckets = [0] * _SHAPE_BUCKETS
    for hour, count in cluster.hours:
        index = int((hour - first) / span * _SHAPE_BUCKETS)
        buckets[min(max(index, 0), _SHAPE_BUCKETS - 1)] += count
    peak = max(buckets) or 1
    marks = "".join(
        "·"
        if n == 0
        else _SPARK[min(len(_SPARK) - 1, (n * len(_SPARK) - 1) // peak)]
        for n in buckets
    )
    width = timedelta(hours=span / _SHAPE_BUCKETS)
    return f"`{marks}` (each mark ≈ {_duration(width)})"


def _duration(width: timedelta) -> str:
    minutes = width.total_seconds() / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 60 * 48:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def _status_line(finding: Finding, threshold: int) -> str:
    signature = finding.signature
    accept = signature.accept if signature is not None else None
    if signature is None:
        text = "**new**: no signature matches it"
    elif accept is None:
        text = f"**known**: signature {code(signature.id)}, not accepted"
    elif finding.status is Status.EXPIRED:
        text = (
            f"**expired**: the acceptance of {code(signature.id)} "
            f"ran out on {accept.expires}"
        )
    else:
        until = f" until {accept.expires}" if accept.expires else ""
        text = f"**accepted** by {code(signature.id)}{until}"
    if finding.fails:
        text += f"; fails the gate ({format_priority(finding.priority)} is at "
        text += f"or above {format_priority(threshold)})"
    return text


def _acceptance_lines(finding: Finding) -> list[str]:
    signature = finding.signature
    if signature is None or signature.accept is None:
        return []
    accept = signature.accept
    who = ", ".join(code(part) for part in (accept.owner, accept.link) if part)
    line = f"- **Accepted because:** {code(accept.reason)}"
    return [line + (f" ({who})" if who else "")]


def _breakdown_table(name: str, rows: tuple[tuple[str, int], ...]) -> str:
    shown = rows[:15]
    body = [[code(value, in_table=True), str(count)] for value, count in shown]
    more = "" if len(rows) <= 15 else f"\n\n…and {len(rows) - 15} more"
    return (
        f"**{name.capitalize()}:**\n\n"
        + table([name.rstrip("s"), "count"], body)
        + more
    )


def _sample_block(sample: dict[str, Any]) -> str:
    return fenced(json.dumps(sample, indent=2, ensure_ascii=False), "json")


def _cluster_section(
    index: int,
    finding: Finding,
    result: RunResult,
    today: date,
    level: str = "##",
) -> str:
    cluster = finding.cluster
    source = result.source
    parts = [
        f"{level} Cluster {index}: {code(cluster.title)} "
        f"({format_priority(finding.priority)}, {finding.status.value})",
        "",
        f"- **Status:** {_status_line(finding, result.decision.threshold)}",
        *_acceptance_lines(finding),
        f"- **Priority:** {format_priority(finding.priority)} "
        f"(from {code(finding.priority_rule)})",
        f"- **Kind:** {cluster.kind} · **Severity:** {cluster.severity.name} "
        f"· **Count:** {cluster.count}",
        f"- **First seen:** {_time(cluster.first_seen) or 'n/a'} · "
        f"**Last seen:** {_time(cluster.last_seen) or 'n/a'}",
        f"- **Cluster id:** {code(cluster.id)}",
    ]
    shape = _shape(cluster, source.window_start, source.window_end)
    if shape:
        parts.append(f"- **Time shape:** {shape}")
    if cluster.location:
        parts.append(f"- **Location:** {code(cluster.location)}")
    if cluster.summary:
        parts.append(f"- **Message:** {code(cluster.summary)}")
    if cluster.first_version:
        parts.append(
            f"- **First seen in version:** {code(cluster.first_version)}"
        )
    if cluster.latency_p50 is not None:
        parts.append(f"- **Latency p50:** {cluster.latency_p50:.3f} s")
    revisions = cluster.breakdown.get("revisions", ())
    if revisions:
        listed = ", ".join(f"{code(r)} ({n})" for r, n in revisions[:5])
        parts.append(f"- **Revisions:** {listed}")
    instances = cluster.breakdown.get("instances", ())
    if len(instances) == 1 and cluster.count > 1:
        parts.append(
            f"- **Concentration:** every event came from one instance "
            f"({code(instances[0][0])})"
        )
    if cluster.frames:
        parts.extend(["", "**Application frames (outermost first):**", ""])
        parts.append(fenced("\n".join(cluster.frames)))
    for name in ("routes", "clients", "platform messages", "loggers"):
        rows = cluster.breakdown.get(name)
        if rows and (cluster.kind == "http" or name == "loggers"):
            parts.extend(["", _breakdown_table(name, rows)])
    if cluster.samples:
        parts.extend(["", f"{level}# Sample entries", ""])
        parts.extend(_sample_block(s) + "\n" for s in cluster.samples)
    if finding.status in (Status.NEW, Status.EXPIRED):
        parts.extend(
            [
                "",
                f"{level}# Accept it",
                "",
                "Add this item under `signatures:` in a file of your rules "
                "folder and edit its `reason`"
                + (
                    " (it replaces the expired signature)"
                    if finding.status is Status.EXPIRED
                    else ""
                )
                + ":",
                "",
                fenced(accept_snippet(finding, today), "yaml"),
            ]
        )
    return "\n".join(parts)


def _source_label(source: dict[str, Any]) -> str:
    if source["kind"] == "file":
        if source["path"] == "-":
            return "file from standard input"
        return f"file {code(source['path'], True)}"
    return f"Cloud Logging, {code(source['path'], True)}"


def _header(result: RunResult, data: dict[str, Any]) -> str:
    source = data["source"]
    entries = data["entries"]
    decision = result.decision
    window = source["window"]
    span = f"{window['start'] or '…'} → {window['end'] or '…'}" + (
        "" if window["given"] else " (as found in the file)"
    )
    rows = [
        ["Service", code(source["service"] or "unknown", True)],
        [
            "Revision",
            code(source["revision"] or "all revisions in the input", True),
        ],
        ["Project", code(source["project"] or "unknown", True)],
        ["Region", code(source["region"] or "unknown", True)],
        ["Window", span],
        ["Source", _source_label(source)],
        [
            "Entries",
            f"{entries['read']} read, {entries['skipped']} skipped, "
            f"{entries['duplicates']} duplicates, "
            f"{entries['outside_window']} outside window, "
            f"{entries['outside_revision']} outside revision, "
            f"{entries['analysed']} analysed, {entries['events']} events",
        ],
        ["Rules", data["rules"]["summary"]],
        [
            "Threshold",
            f"{data['threshold']} (new or expired clusters at or "
            "above it fail the gate)",
        ],
    ]
    verdict = _VERDICT_MARK[decision.verdict]
    lines = [
        "# gardener-gate worklog: " + code(source["service"] or "unknown"),
        "",
        f"**Verdict: {verdict}**: {decision.reason}.",
        "",
    ]
    if result.partial:
        lines += [
            "> [!CAUTION]",
            f"> **Partial data: {result.partial}.** The verdict covers only "
            "the entries read.",
            "",
        ]
    if decision.verdict is Verdict.WARN or data["entries"]["events"] == 0:
        lines += [
            "> [!WARNING]",
            "> **No data: no log entries in the selected window.** The gate "
            "could not check this revision.",
            "",
        ]
    lines.append(table(["", ""], rows))
    return "\n".join(lines)


def _executive_summary(result: RunResult) -> str:
    findings = result.decision.findings
    if not findings:
        if not result.counts.events:
            return (
                "## Executive summary\n\nNo entries were read in the "
                "selected window, so there is nothing to cluster."
            )
        return "## Executive summary\n\nNo issue clusters were found."
    statuses = Counter(f.status.value for f in findings)
    listed = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    rows = [
        [
            str(index),
            format_priority(f.priority),
            f.status.value + (" ❌" if f.fails else ""),
            f.cluster.kind,
            f.cluster.severity.name,
            str(f.cluster.count),
            code(_short(f.cluster.title), in_table=True),
            code(f.signature.id, True) if f.signature else "—",
        ]
        for index, f in enumerate(findings, start=1)
    ]
    head = (
        f"## Executive summary\n\nFound **{len(findings)} issue clusters** "
        f"({listed})."
    )
    if result.decision.failing:
        worst = result.decision.failing[0]
        head += (
            f" The most urgent is {code(_short(worst.cluster.title))} "
            f"({format_priority(worst.priority)}, "
            f"{_plural(worst.cluster.count, 'event')})."
        )
    return (
        head
        + "\n\n"
        + table(
            [
                "#",
                "Priority",
                "Status",
                "Kind",
                "Severity",
                "Count",
                "Cluster",
                "Rule",
            ],
            rows,
        )
    )


def _next_actions(result: RunResult) -> str:
    lines = ["## Next actions"]
    for title, priorities in _ACTIONS:
        chosen = [
            f for f in result.decision.findings if f.priority in priorities
        ]
        if not chosen:
            continue
        lines += ["", f"### {title}", ""]
        for number, finding in enumerate(chosen, start=1):
            lines.append(
                f"{number}. {code(_short(finding.cluster.title))} "
                f"({format_priority(finding.priority)}, "
                f"{finding.status.value}, "
                f"{_plural(finding.cluster.count, 'event')}): "
                + _advice(finding)
            )
    return "\n".join(lines)


def _advice(finding: Finding) -> str:
    if finding.status is Status.NEW:
        return (
            "fix it before deploying, or accept it with the YAML in its "
            "section"
            if finding.fails
            else "review; accept it with the YAML in its section if expected"
        )
    if finding.status is Status.EXPIRED:
        return "the acceptance ran out: fix it, or renew the acceptance"
    if finding.status is Status.KNOWN:
        return "known; decide whether to fix it or accept it"
    return "accepted; no action"


def _footer(result: RunResult, data: dict[str, Any], today: date) -> str:
    decision = result.decision
    parts: list[str] = []
    acceptable = [
        f
        for f in decision.findings
        if f.status in (Status.NEW, Status.EXPIRED)
    ]
    if acceptable:
        parts += [
            "## Accept all new and expired clusters",
            "",
            "Saved as a new file in your rules folder (for example "
            "`rules/accepted.yaml`), this block accepts every cluster above "
            "that is `new` or `expired`. Write each `reason` first; remove "
            "the expired signatures it renews from their old file. To add "
            "the items to an existing file instead, copy them under its "
            "`signatures:` key.",
            "",
            fenced(accept_all(acceptable, today), "yaml"),
        ]
    if decision.stale:
        parts += [
            "",
            "## Stale signatures",
            "",
            "These signatures matched nothing in the window:",
            "",
        ]
        parts += [
            f"- {code(s.id)} ({code(f'{s.file}:{s.line}')})"
            for s in decision.stale
        ]
    traffic = data["traffic"]
    parts += ["", "## Traffic baseline (2xx and 3xx, not issues)", ""]
    if traffic["count"]:
        p50 = traffic["latency_p50_s"]
        p95 = traffic["latency_p95_s"]
        parts.append(
            f"{traffic['count']} successful requests; latency p50 "
            f"{p50:.3f} s, p95 {p95:.3f} s."
            if p50 is not None and p95 is not None
            else f"{traffic['count']} successful requests."
        )
    else:
        parts.append("No successful requests in the window.")
    skipped = data["entries"]["skip_reasons"]
    if skipped:
        parts += ["", "## Skipped records", ""]
        parts += [f"- {code(reason)}" for reason in skipped[:20]]
        if data["entries"]["skipped"] > 20:
            parts.append(f"- …and {data['entries']['skipped'] - 20} more")
    source = data["source"]
    parts += [
        "",
        "## Technical context",
        "",
        "- **Revisions seen:** "
        + (
            ", ".join(
                f"{code(r)} ({n})" for r, n in source["revisions_seen"].items()
            )
            or "none"
        ),
        f"- **Generated:** {data['generated_at']} by gardener-gate "
        f"{__version__} (clustering {ALGORITHM})",
    ]
    return "\n".join(parts)


def render_markdown(result: RunResult, data: dict[str, Any]) -> str:
    """The worklog for people, modelled on the team's hand-written one.

    Audit logs (who changed what in the project) get a section of their
    own after the application's clusters; numbering follows the summary.
    """
    today = run_date(result)
    numbered = list(enumerate(result.decision.findings, start=1))
    sections = [_header(result, data), _executive_summary(result)]
    sections += [
        _cluster_section(index, finding, result, today)
        for index, finding in numbered
        if finding.cluster.kind != "audit"
    ]
    audit = [(i, f) for i, f in numbered if f.cluster.kind == "audit"]
    if audit:
        sections.append(
            "## Audit and platform events\n\nAudit logs of the project: "
            "who called which API, and what it changed."
        )
        sections += [
            _cluster_section(index, finding, result, today, "###")
            for index, finding in audit
        ]
    sections += [_next_actions(result), _footer(result, data, today)]
    return "\n\n---\n\n".join(sections) + "\n"


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
        md_path.write_text(render_markdown(result, data), encoding="utf-8")
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
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            (out / name).unlink()
