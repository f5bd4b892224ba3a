"""The YAML that accepts a cluster, ready to paste into rules/."""

from __future__ import annotations

__all__ = [
    "accept_all",
    "accept_item",
    "accept_snippet",
    "suggest",
]

import re
from datetime import date, timedelta
from typing import Any

import yaml

from gardener_gate.redact import Redactor
from gardener_gate.rules.model import PLACEHOLDER_REASON
from gardener_gate.verdict import Finding, Status

ACCEPT_DAYS = 90
_MAX_PATTERN = 1000
_MAX_LISTED = 10
_SLUG = re.compile(r"[^a-z0-9]+")
_RENEWED = re.compile(r"-renewed-[0-9]{8}$")
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def _escape(text: str) -> str:
    return _RE2_SPECIAL.sub(r"\\\1", text)


def _anchored(text: str) -> str:
    escaped = _escape(text)
    if len(escaped) <= _MAX_PATTERN:
        return f"^{escaped}$"
    return "^" + _escape(text[: _MAX_PATTERN // 2])


def _slug(finding: Finding) -> str:
    cluster = finding.cluster
    words = _SLUG.sub("-", cluster.title.lower()).strip("-")[:40].strip("-")
    return f"{cluster.kind}-{words or 'cluster'}-{cluster.id[-6:]}"


def _match(finding: Finding) -> dict[str, Any]:
    cluster = finding.cluster
    if cluster.kind == "http":
        match: dict[str, Any] = {
            "status": cluster.status if cluster.status else "unknown"
        }
        routes = sorted(set(cluster.routes))
        clients = sorted(set(cluster.clients))
        if routes and len(routes) <= _MAX_LISTED and "(other)" not in routes:
            match["route"] = routes[0] if len(routes) == 1 else routes
        tools = sorted({_tool_glob(c) for c in clients})
        if clients and len(tools) <= _MAX_LISTED and all(tools):
            # Only clients that name a tool (python-httpx/0.27.2) are
            # pinned, by name; browser strings change with every release.
            match["user_agent"] = tools[0] if len(tools) == 1 else tools
        return match
    return {
        "kind": cluster.kind,
        "severity": cluster.severity.name,
        "message": _anchored(cluster.template),
    }


def _tool_glob(client: str) -> str:
    name, slash, _ = client.partition("/")
    if not slash or " " in client or not name or client == "(other)":
        return ""
    return f"{name}/*"


def accept_item(finding: Finding, today: date) -> dict[str, Any]:
    """One item for ``signatures:`` that accepts the finding's cluster.

    For an expired acceptance, the existing signature comes back with a new
    expiry date, to replace the old one.
    """
    expires = (today + timedelta(days=ACCEPT_DAYS)).isoformat()
    signature = finding.signature
    if finding.status is Status.EXPIRED and signature is not None:
        item = dict(signature.raw)
        # A new id, so that the renewal can stand in a file of its own
        # beside the expired signature, which it then wins over.
        item["id"] = _renewal_id(signature.id, today)
        accept = dict(item.get("accept") or {})
        if signature.accept is None or not signature.accept.holds_on(today):
            accept["expires"] = expires
        if _past_count(finding):
            del accept["until_count"]
        if _past_rate(finding):
            del accept["until_rate_factor"]
        item["accept"] = accept
        return item
    return {
        "id": _slug(finding),
        "title": finding.cluster.title[:200],
        "match": _match(finding),
        "accept": {
            "reason": PLACEHOLDER_REASON,
            "expires": expires,
        },
    }


def _renewal_id(old: str, today: date) -> str:
    base = _RENEWED.sub("", old)[:60]
    return f"{base}-renewed-{today:%Y%m%d}"


def _past_count(finding: Finding) -> bool:
    accept = finding.signature.accept if finding.signature else None
    limit = accept.until_count if accept else None
    return limit is not None and finding.cluster.count >= limit


def _past_rate(finding: Finding) -> bool:
    accept = finding.signature.accept if finding.signature else None
    limit = accept.until_rate_factor if accept else None
    rise = finding.baseline.factor if finding.baseline else None
    return limit is not None and rise is not None and rise >= limit


def suggest(worklog: dict[str, Any]) -> tuple[str, int, int]:
    """A rules file accepting every new or regressed cluster of a worklog.

    Each snippet is read back and written anew, redacted, so that a
    worklog edited by hand cannot smuggle other YAML into the file.
    Returns the file's text, how many clusters it accepts, and how many
    snippets were not one signature and were left out.
    """
    redactor = Redactor()
    items = []
    left_out = 0
    for cluster in worklog["clusters"]:
        if not isinstance(cluster, dict) or cluster.get("status") not in (
            "new",
            "regressed",
        ):
            continue
        snippet = cluster.get("accept_snippet")
        try:
            loaded = (
                yaml.safe_load(snippet) if isinstance(snippet, str) else None
            )
        except yaml.YAMLError:
            loaded = None
        if (
            isinstance(loaded, list)
            and len(loaded) == 1
            and isinstance(loaded[0], dict)
        ):
            items.append(redactor.value(loaded[0]))
        elif snippet is not None:
            left_out += 1
    text = _dump({"version": 1, "signatures": items}) if items else ""
    return text, len(items), left_out


# libyaml's emitter when PyYAML was built with it: the pure-Python one
# took most of a run's time for thousands of clusters.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(value: Any) -> str:
    return yaml.dump(
        value,
        Dumper=_DUMPER,
        sort_keys=False,
        allow_unicode=True,
        width=1000,
    )


def accept_snippet(finding: Finding, today: date) -> str:
    """The YAML list item for one finding, as text."""
    return _dump([accept_item(finding, today)])


def accept_all(snippets: list[str]) -> str:
    """A whole rules file holding every snippet given."""
    items = "".join(
        "".join(f"  {line}\n" for line in snippet.splitlines())
        for snippet in snippets
    )
    return f"version: 1\nsignatures:\n{items}"
