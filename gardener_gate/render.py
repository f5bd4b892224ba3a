"""Markdown from worklog.json: the worklog file, the summary, the comment.

Everything here reads the JSON worklog only, so that ``publish`` can render
the job summary and the PR comment from the artifact of an earlier step.
With a budget, clusters are added in priority order while they fit, and the
rest are counted with a pointer to the full worklog.
"""

from __future__ import annotations

__all__ = [
    "render_cluster",
    "render_markdown",
]

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from gardener_gate.markdown import code, fenced, table

_SPARK = "▁▂▃▄▅▆▇█"
_SHAPE_BUCKETS = 24
_SECTION_BREAK = "\n\n---\n\n"
_VERDICT_MARK = {
    "pass": "✅ PASS",
    "fail": "❌ FAIL",
    "warn": "⚠️ WARN",
    "overridden": "⏭️ OVERRIDDEN",
}
_ACTIONS = (
    ("Immediate (P0–P2)", range(3)),
    ("Short-term (P3–P5)", range(3, 6)),
    ("Monitoring (P6–P8)", range(6, 9)),
    ("No action (P9–P10)", range(9, 11)),
)
_SUMMARY_ROWS = 60


def _short(title: str, limit: int = 120) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _priority(cluster: dict[str, Any]) -> int:
    return int(str(cluster["priority"])[1:])


def render_markdown(
    data: dict[str, Any],
    *,
    budget: int | None = None,
    artifact: str | None = None,
    preamble: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> str:
    """The worklog for people, modelled on the team's hand-written one.

    ``preamble`` goes before everything (a marker, an override notice),
    ``extra`` after the summary (such as the rules a pull request changes).
    With ``budget``, the text stays within that many characters.
    """
    clusters = data["clusters"]
    head = [
        *preamble,
        _header(data),
        _executive_summary(data),
        *_filing_section(data),
        *extra,
    ]
    application = [c for c in clusters if c["kind"] != "audit"]
    audit = [c for c in clusters if c["kind"] == "audit"]
    numbers = {c["id"]: n for n, c in enumerate(clusters, start=1)}
    sections = [
        _cluster_section(numbers[c["id"]], c, data) for c in application
    ]
    if audit:
        sections.append(
            "## Audit and platform events\n\nAudit logs of the project: "
            "who called which API, and what it changed."
        )
        sections += [
            _cluster_section(numbers[c["id"]], c, data, "###") for c in audit
        ]
    tail = [_next_actions(data), _footer(data)]
    if budget is None:
        return _SECTION_BREAK.join(head + sections + tail) + "\n"
    return _fit(head, sections, tail, budget, artifact, len(clusters))


def _fit(
    head: list[str],
    sections: list[str],
    tail: list[str],
    budget: int,
    artifact: str | None,
    total: int,
) -> str:
    where = f"artifact {code(artifact)}" if artifact else "`worklog.md`"
    kept: list[str] = []
    used = sum(len(part) + len(_SECTION_BREAK) for part in head) + 400
    tail_size = sum(len(part) + len(_SECTION_BREAK) for part in tail)
    if used + tail_size > budget:
        tail = [
            f"The next actions and the accept-all block are in the {where}."
        ]
        tail_size = len(tail[0]) + len(_SECTION_BREAK)
    for section in sections:
        if used + len(section) + len(_SECTION_BREAK) + tail_size > budget:
            break
        kept.append(section)
        used += len(section) + len(_SECTION_BREAK)
    left = len(sections) - len(kept)
    if left:
        counted = sum(
            1 for s in sections[len(kept) :] if s.startswith(("## C", "### C"))
        )
        kept.append(
            f"… and {_plural(counted or left, 'more cluster')} "
            f"(full worklog: {where})."
        )
    text = _SECTION_BREAK.join(head + kept + tail) + "\n"
    if len(text) > budget:
        # Only a header or summary larger than the budget gets here.
        text = text[: budget - 200].rsplit("\n", 1)[0]
        text += f"\n\n… (cut to fit; full worklog: {where})\n"
    return text


def _header(data: dict[str, Any]) -> str:
    source = data["source"]
    entries = data["entries"]
    window = source["window"]
    span = f"{window['start'] or '…'} → {window['end'] or '…'}" + (
        "" if window["given"] else " (as found in the input)"
    )
    revision = (
        code(source["revision"], True)
        if source["revision"]
        else "all revisions in the input"
    )
    rows = [
        ["Service", code(source["service"] or "unknown", True)],
        ["Revision", revision],
        ["Project", code(source["project"] or "unknown", True)],
        ["Region", code(source["region"] or "unknown", True)],
        ["Window", span],
        ["Source", _source_label(source)],
        *_scanned(source),
        [
            "Entries",
            f"{entries['read']} read, {entries['skipped']} skipped, "
            f"{entries['duplicates']} duplicates, "
            f"{entries['outside_window']} outside window, "
            f"{entries['outside_revision']} outside revision, "
            f"{entries['analysed']} analysed, {entries['events']} events",
        ],
        ["Rules", data["rules"]["summary"]],
        *_baseline_rows(_baseline(data)),
        [
            "Threshold",
            f"{data['threshold']} (new, expired or regressed clusters at or "
            "above it fail the gate)",
        ],
    ]
    verdict = _VERDICT_MARK.get(data["verdict"], data["verdict"])
    lines = [
        "# gardener-gate worklog: " + code(source["service"] or "unknown"),
        "",
        f"**Verdict: {verdict}**: {data['reason']}.",
        "",
    ]
    override = data.get("override")
    if override:
        lines += [
            "> [!IMPORTANT]",
            f"> **Overridden:** the gate failed, and "
            f"{code(override['by'])} let it through "
            f"({override['how']}).",
            "",
        ]
    if data.get("dry_run"):
        lines += [
            "> [!NOTE]",
            "> **Dry run:** the job passes whatever the verdict says.",
            "",
        ]
    warnings = data.get("warnings") or []
    if warnings:
        listed = "\n".join(f"> - {code(w)}" for w in warnings[:10])
        more = (
            f"\n> - …and {len(warnings) - 10} more"
            if len(warnings) > 10
            else ""
        )
        lines += [
            "> [!WARNING]",
            f"> **{_plural(len(warnings), 'rule')} "
            f"{'needs' if len(warnings) == 1 else 'need'} attention** (a "
            "reason still the placeholder, or an acceptance that ran out):",
            listed + more,
            "",
        ]
    if data.get("partial"):
        lines += [
            "> [!CAUTION]",
            f"> **Partial data: {data['partial']}.** The verdict covers only "
            "the entries read.",
            "",
        ]
    issues = data.get("issues") or {}
    if issues.get("repository") and not issues.get("checked"):
        lines += [
            "> [!WARNING]",
            "> **Regressions not checked:** the repository's issues could "
            f"not be read ({code(issues.get('problem') or 'unknown')}).",
            "",
        ]
    if entries["events"] == 0:
        lines += [
            "> [!WARNING]",
            "> **No data: no log entries in the selected window.** The gate "
            "could not check this revision.",
            "",
        ]
    overflow = data.get("summary", {}).get("cluster_limit_overflow")
    if overflow:
        lines += [
            "> [!CAUTION]",
            f"> **Cluster limit reached:** {_plural(overflow, 'event')} of "
            "shapes past the limit share the cluster `Other events "
            "(cluster limit reached)`, which no rule can accept. So many "
            "shapes usually mean a variable the masking does not know.",
            "",
        ]
    baseline = _baseline(data)
    if baseline and baseline.get("missing"):
        lines += [
            "> [!WARNING]",
            f"> **No baseline:** {code(str(baseline.get('name')))}: "
            f"{code(str(baseline['missing']))}. No cluster could be "
            "compared with the revision before.",
            "",
        ]
    elif baseline and baseline.get("cut_short"):
        lines += [
            "> [!NOTE]",
            "> **Baseline comparison cut short:** too many clusters on "
            "both sides to weigh every rewording; some clusters may show "
            "as unknown although the baseline had them reworded.",
            "",
        ]
    lines.append(table(["", ""], rows))
    return "\n".join(lines)


def _baseline(data: dict[str, Any]) -> dict[str, Any] | None:
    """The worklog's baseline, when it has one of the expected shape."""
    baseline = data.get("baseline")
    if not isinstance(baseline, dict) or "name" not in baseline:
        return None
    return baseline


def _compared(data: dict[str, Any]) -> bool:
    baseline = _baseline(data)
    return baseline is not None and not baseline.get("missing")


def _baseline_rows(baseline: dict[str, Any] | None) -> list[list[str]]:
    if not baseline:
        return []
    name = code(str(baseline["name"]), True)
    if baseline.get("missing"):
        return [["Baseline", f"{name}: missing"]]
    standings = ", ".join(
        f"{n} {str(s).replace('_', ' ')}"
        for s, n in dict(baseline.get("by_standing") or {}).items()
    )
    return [
        [
            "Baseline",
            f"{name}: {_plural(baseline.get('clusters', 0), 'cluster')}, "
            f"{_plural(baseline.get('events', 0), 'event')} over "
            f"{baseline.get('hours', 0):g} h; this run's clusters against "
            f"it: {standings or 'none'}",
        ]
    ]


def _source_label(source: dict[str, Any]) -> str:
    if source["kind"] == "file":
        if source["path"] == "-":
            return "file from standard input"
        return f"file {code(source['path'], True)}"
    if source["kind"] == "bigquery":
        return f"Log Analytics (BigQuery), {code(source['path'], True)}"
    return f"Cloud Logging, {code(source['path'], True)}"


def _scanned(source: dict[str, Any]) -> list[list[str]]:
    if source.get("bytes_processed") is None:
        return []
    billed = source.get("bytes_billed")
    return [
        [
            "Bytes scanned",
            f"{source['bytes_processed']:,} processed, "
            + (
                f"{billed:,} billed"
                if billed is not None
                else "billing unknown"
            ),
        ]
    ]


def _executive_summary(data: dict[str, Any]) -> str:
    clusters = data["clusters"]
    if not clusters:
        if not data["entries"]["events"]:
            return (
                "## Executive summary\n\nNo entries were read in the "
                "selected window, so there is nothing to cluster."
            )
        return "## Executive summary\n\nNo issue clusters were found."
    statuses = Counter(c["status"] for c in clusters)
    listed = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    compared = _compared(data)
    rows = [
        [
            str(index),
            c["priority"],
            c["status"] + (" ❌" if c["fails"] else ""),
            *([_standing(c), str(c["baseline_count"])] if compared else []),
            c["kind"],
            c["severity"],
            str(c["count"]),
            code(_short(c["title"]), in_table=True),
            code(c["rule"], True) if c["rule"] else "—",
        ]
        for index, c in enumerate(clusters[:_SUMMARY_ROWS], start=1)
    ]
    head = (
        "## Executive summary\n\nFound "
        f"**{_plural(len(clusters), 'issue cluster')}** ({listed})."
    )
    failing = [c for c in clusters if c["fails"]]
    if failing:
        worst = failing[0]
        head += (
            f" The most urgent is {code(_short(worst['title']))} "
            f"({worst['priority']}, {_plural(worst['count'], 'event')})."
        )
    more = len(clusters) - _SUMMARY_ROWS
    note = f"\n\n…and {_plural(more, 'more cluster')}." if more > 0 else ""
    columns = [
        "#",
        "Priority",
        "Status",
        *(["Baseline", "Baseline count"] if compared else []),
        "Kind",
        "Severity",
        "Count",
        "Cluster",
        "Rule",
    ]
    if any("issue" in c for c in clusters):
        columns.append("Issue")
        for row, c in zip(rows, clusters, strict=False):
            row.append(_issue_ref(c["issue"]) if "issue" in c else "—")
    return head + "\n\n" + table(columns, rows) + note


def _standing(cluster: dict[str, Any]) -> str:
    standing = str(cluster.get("baseline") or "—").replace("_", " ")
    match = cluster.get("baseline_match") or {}
    if match.get("changed"):
        standing += " (changed)"
    return standing


def _baseline_line(cluster: dict[str, Any], data: dict[str, Any]) -> str:
    baseline = _baseline(data) or {}
    name = code(str(baseline.get("name", "the baseline")))
    standing = str(cluster["baseline"])
    match = cluster.get("baseline_match")
    if standing == "unknown" or not isinstance(match, dict):
        return f"- **Baseline:** **{standing}**: {name} did not log it"
    here = (data["source"].get("observed") or {}).get("hours", 0)
    text = (
        f"- **Baseline:** **{standing.replace('_', ' ')}**: "
        f"{_plural(cluster.get('baseline_count', 0), 'event')} in {name} "
        f"over {baseline.get('hours', 0):g} h against {cluster['count']} "
        f"here over {here:g} h (rate ×{match.get('rate_factor') or 0:g})"
    )
    if match.get("changed"):
        text += f"; changed from {code(_short(str(match.get('title'))))}"
    return text


def _status_line(cluster: dict[str, Any], threshold: str) -> str:
    status = cluster["status"]
    rule = cluster["rule"]
    acceptance = cluster.get("acceptance")
    if status == "regressed":
        text = (
            f"**regressed**: its issue {_issue_ref(cluster['issue'])} was "
            "closed as fixed, and it is back"
        )
    elif rule is None:
        text = "**new**: no signature matches it"
    elif acceptance is None:
        text = f"**known**: signature {code(rule)}, not accepted"
    elif status == "expired":
        why = cluster.get("expired_because") or (
            f"it ran out on {acceptance['expires']}"
        )
        text = f"**expired**: the acceptance of {code(rule)} ended: {why}"
    else:
        until = (
            f" until {acceptance['expires']}" if acceptance["expires"] else ""
        )
        text = f"**accepted** by {code(rule)}{until}"
    if cluster["fails"]:
        text += (
            f"; fails the gate ({cluster['priority']} is at or above "
            f"{threshold})"
        )
    return text


def _issue_ref(issue: dict[str, Any]) -> str:
    url = str(issue.get("url") or "")
    label = f"#{int(issue['number'])}"
    if url.startswith(("https://", "http://")) and not any(
        c in url for c in "()<> \n"
    ):
        return f"[{label}]({url})"
    return code(label)


def _issue_state(issue: dict[str, Any]) -> str:
    if issue["state"] == "open":
        return "open"
    reason = {"completed": "as fixed", "not_planned": "as not planned"}.get(
        str(issue.get("state_reason")), ""
    )
    when = str(issue.get("closed_at") or "")[:10]
    return " ".join(
        part
        for part in ("closed", reason, f"on {when}" if when else "")
        if part
    )


def _issue_lines(cluster: dict[str, Any], data: dict[str, Any]) -> list[str]:
    lines = []
    issue = cluster.get("issue")
    if issue:
        lines.append(
            f"- **Issue:** {_issue_ref(issue)} ({_issue_state(issue)})"
        )
    filing = data.get("issues_filed") or {}
    for done in filing.get("opened", []):
        if done["cluster"] == cluster["id"]:
            lines.append(f"- **Issue opened by this run:** {_issue_ref(done)}")
    return lines


def _acceptance_lines(cluster: dict[str, Any]) -> list[str]:
    acceptance = cluster.get("acceptance")
    if not acceptance:
        return []
    who = ", ".join(
        code(part)
        for part in (acceptance.get("owner"), acceptance.get("link"))
        if part
    )
    line = f"- **Accepted because:** {code(acceptance['reason'])}"
    return [line + (f" ({who})" if who else "")]


def _shape(cluster: dict[str, Any], window: dict[str, Any]) -> str:
    start, end = window.get("start"), window.get("end")
    if not cluster["hours"] or not start or not end:
        return ""
    first = datetime.fromisoformat(start).timestamp() / 3600
    last = datetime.fromisoformat(end).timestamp() / 3600
    span = max(last - first, 1.0)
    buckets = [0] * _SHAPE_BUCKETS
    for row in cluster["hours"]:
        hour = datetime.fromisoformat(row["hour"]).timestamp() / 3600
        index = int((hour - first) / span * _SHAPE_BUCKETS)
        buckets[min(max(index, 0), _SHAPE_BUCKETS - 1)] += row["count"]
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


def _breakdown_table(name: str, rows: list[dict[str, Any]]) -> str:
    shown = rows[:15]
    body = [
        [code(str(row["value"]), in_table=True), str(row["count"])]
        for row in shown
    ]
    more = "" if len(rows) <= 15 else f"\n\n…and {len(rows) - 15} more"
    return (
        f"**{name.capitalize()}:**\n\n"
        + table([name.rstrip("s"), "count"], body)
        + more
    )


def _cluster_section(
    index: int,
    cluster: dict[str, Any],
    data: dict[str, Any],
    level: str = "##",
) -> str:
    breakdown = cluster["breakdown"]
    parts = [
        f"{level} Cluster {index}: {code(cluster['title'])} "
        f"({cluster['priority']}, {cluster['status']})",
        "",
        f"- **Status:** {_status_line(cluster, data['threshold'])}",
        *_acceptance_lines(cluster),
        *_issue_lines(cluster, data),
        f"- **Priority:** {cluster['priority']} "
        f"(from {code(cluster['priority_rule'])})",
        f"- **Kind:** {cluster['kind']} · **Severity:** {cluster['severity']}"
        f" · **Count:** {cluster['count']}",
        f"- **First seen:** {cluster['first_seen'] or 'n/a'} · "
        f"**Last seen:** {cluster['last_seen'] or 'n/a'}",
        f"- **Cluster id:** {code(cluster['id'])}",
    ]
    if cluster.get("baseline"):
        parts.append(_baseline_line(cluster, data))
    shape = _shape(cluster, data["source"]["window"])
    if shape:
        parts.append(f"- **Time shape:** {shape}")
    for label, key in (
        ("Location", "location"),
        ("Message", "summary"),
        ("First seen in version", "first_version"),
    ):
        if cluster.get(key):
            parts.append(f"- **{label}:** {code(str(cluster[key]))}")
    if cluster.get("latency_p50_s") is not None:
        parts.append(f"- **Latency p50:** {cluster['latency_p50_s']:.3f} s")
    revisions = breakdown.get("revisions", [])
    if revisions:
        listed = ", ".join(
            f"{code(r['value'])} ({r['count']})" for r in revisions[:5]
        )
        parts.append(f"- **Revisions:** {listed}")
    concentration = cluster.get("concentration")
    if concentration:
        parts.append(
            "- **Concentration:** every event came from one instance "
            f"({code(concentration['instance'])}) of the "
            f"{concentration['instances_in_run']} that logged in the "
            "window: one bad instance, maybe, rather than the code"
        )
    if cluster.get("frames"):
        parts += ["", "**Application frames (outermost first):**", ""]
        parts.append(fenced("\n".join(cluster["frames"])))
    for name in ("routes", "clients", "platform messages", "loggers"):
        rows = breakdown.get(name)
        if rows and (cluster["kind"] == "http" or name == "loggers"):
            parts += ["", _breakdown_table(name, rows)]
    if cluster["samples"]:
        parts += ["", f"{level}# Sample entries", ""]
        parts += [
            fenced(json.dumps(s, indent=2, ensure_ascii=False), "json") + "\n"
            for s in cluster["samples"]
        ]
    if cluster.get("accept_snippet"):
        renews = cluster["status"] == "expired"
        parts += [
            "",
            f"{level}# Accept it",
            "",
            "Add this item under `signatures:` in a file of your rules "
            "folder and edit its `reason`"
            + (
                " (it renews the expired signature under a new id; the old "
                "one can then go)"
                if renews
                else ""
            )
            + ":",
            "",
            fenced(cluster["accept_snippet"], "yaml"),
        ]
    return "\n".join(parts)


def _next_actions(data: dict[str, Any]) -> str:
    lines = ["## Next actions"]
    for title, priorities in _ACTIONS:
        chosen = [c for c in data["clusters"] if _priority(c) in priorities]
        if not chosen:
            continue
        lines += ["", f"### {title}", ""]
        for number, cluster in enumerate(chosen, start=1):
            lines.append(
                f"{number}. {code(_short(cluster['title']))} "
                f"({cluster['priority']}, {cluster['status']}, "
                f"{_plural(cluster['count'], 'event')}): {_advice(cluster)}"
            )
    if len(lines) == 1:
        lines += ["", "Nothing to do."]
    return "\n".join(lines)


def _advice(cluster: dict[str, Any]) -> str:
    advice = _status_advice(cluster)
    standing = cluster.get("baseline")
    if standing == "unexpected_frequency":
        factor = (cluster.get("baseline_match") or {}).get("rate_factor")
        return f"its rate rose ×{factor or 0:g} over the baseline; {advice}"
    if standing == "known" and cluster["status"] == "new":
        return f"the baseline logged it at a like rate; {advice}"
    return advice


def _status_advice(cluster: dict[str, Any]) -> str:
    status = cluster["status"]
    if status == "new" and _priority(cluster) >= 9:
        return "informational; nothing to do"
    if status == "new":
        if cluster["fails"]:
            return (
                "fix it before deploying, or accept it with the YAML in its "
                "section"
            )
        return "review; accept it with the YAML in its section if expected"
    if status == "expired":
        return "the acceptance ran out: fix it, or renew the acceptance"
    if status == "regressed":
        return (
            f"it came back after {_issue_ref(cluster['issue'])} was closed "
            "as fixed: fix it again, or reopen the issue"
        )
    if status == "known":
        return "known; decide whether to fix it or accept it"
    reason = (cluster.get("acceptance") or {}).get("reason", "")
    if reason.startswith("EDIT ME"):
        return "accepted without a reason yet: write one in its rule"
    return "accepted; no action"


def _footer(data: dict[str, Any]) -> str:
    parts: list[str] = []
    if data.get("accept_all"):
        parts += [
            "## Accept all new and expired clusters",
            "",
            "Saved as a new file in your rules folder (for example "
            "`rules/accepted.yaml`), this block accepts every cluster above "
            "that is `new`, `expired` or `regressed`. Write each `reason` "
            "first. Expired signatures come back under new ids, so the file "
            "works as it is; their old entries can then go. To add the items "
            "to an existing file instead, copy them under its `signatures:` "
            "key.",
            "",
            fenced(data["accept_all"], "yaml"),
            "",
        ]
    stale = data["stale_signatures"]
    if stale:
        parts += [
            "## Stale signatures",
            "",
            "These signatures matched no cluster in the window:",
            "",
        ]
        for signature in stale:
            where = f"{signature['file']}:{signature['line']}"
            parts.append(f"- {code(signature['id'])} ({code(where)})")
        parts.append("")
    traffic = data["traffic"]
    parts += ["## Traffic baseline (2xx and 3xx, not issues)", ""]
    p50, p95 = traffic["latency_p50_s"], traffic["latency_p95_s"]
    if traffic["count"] and p50 is not None and p95 is not None:
        parts.append(
            f"{_plural(traffic['count'], 'successful request')}; latency "
            f"p50 {p50:.3f} s, p95 {p95:.3f} s."
        )
    elif traffic["count"]:
        parts.append(f"{_plural(traffic['count'], 'successful request')}.")
    else:
        parts.append("No successful requests in the window.")
    entries = data["entries"]
    if entries["skip_reasons"]:
        parts += ["", "## Skipped records", ""]
        parts += [
            f"- {code(reason)}" for reason in entries["skip_reasons"][:20]
        ]
        if entries["skipped"] > 20:
            parts.append(f"- …and {entries['skipped'] - 20} more")
    tool = data["tool"]
    revisions = ", ".join(
        f"{code(r)} ({n})" for r, n in data["source"]["revisions_seen"].items()
    )
    parts += [
        "",
        "## Technical context",
        "",
        f"- **Revisions seen:** {revisions or 'none'}",
        *_issues_context(data.get("issues")),
        f"- **Generated:** {data['generated_at']} by gardener-gate "
        f"{tool['version']} (clustering {tool['clustering']})",
    ]
    return "\n".join(parts)


def _issues_context(issues: dict[str, Any] | None) -> list[str]:
    if not issues or (issues["repository"] and not issues["checked"]):
        # A lookup that failed is said at the top.
        return []
    if not issues["checked"]:
        why = code(issues.get("problem") or "unknown")
        return [
            f"- **Issues:** not looked up, so regressions were not "
            f"checked ({why})"
        ]
    return [
        f"- **Issues:** looked up in {code(issues['repository'])} by the "
        f"label {code(issues['label'])}, for clusters at {issues['level']} "
        "or higher"
    ]


def _filing_section(data: dict[str, Any]) -> list[str]:
    filing = data.get("issues_filed")
    if not filing:
        return []
    titles = {c["id"]: c["title"] for c in data["clusters"]}
    lines = ["## Issues", ""]
    for key, verb in (
        ("opened", "opened"),
        ("updated", "counts updated on"),
    ):
        for done in filing.get(key, []):
            title = code(_short(titles.get(done["cluster"], "?"), 80))
            lines.append(f"- {verb} {_issue_ref(done)}: {title}")
    over = filing.get("over_cap", [])
    if over:
        lines += [
            "",
            f"Not opened: {_plural(len(over), 'more cluster')} over the cap "
            f"of {filing['cap']} issues a run (a later run opens them):",
            "",
        ]
        lines += [
            f"- {code(_short(titles.get(ident, '?'), 80))} ({code(ident)})"
            for ident in over
        ]
    for missed in filing.get("not_updated", []):
        lines.append(
            f"- not updated: {_issue_ref(missed)}: {code(missed['why'])}"
        )
    if filing.get("problem"):
        lines += ["", f"Stopped: {code(filing['problem'])}."]
    if len(lines) == 2:
        lines.append(
            f"No new or regressed cluster at {filing['level']} or higher "
            "called for an issue."
        )
    return ["\n".join(lines)]


def render_cluster(data: dict[str, Any], cluster_id: str) -> str:
    """The worklog section of one cluster, as the worklog shows it."""
    clusters = data["clusters"]
    index = next(
        n for n, c in enumerate(clusters, start=1) if c["id"] == cluster_id
    )
    return _cluster_section(index, clusters[index - 1], data)
