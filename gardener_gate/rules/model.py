"""Rules as records: thresholds, signatures, acceptances and policy."""

from __future__ import annotations

__all__ = [
    "PLACEHOLDER_REASON",
    "Acceptance",
    "Policy",
    "RuleSet",
    "Signature",
    "Threshold",
    "compile_pattern",
    "format_priority",
    "glob_to_re2",
    "parse_priority",
]

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import re2

from gardener_gate.severity import Severity

if TYPE_CHECKING:
    # Annotations only: the clusterer redacts with patterns compiled here.
    from gardener_gate.cluster import Cluster

# Patterns run over bounded text, so that their cost is bounded too.
MAX_MATCH_TEXT = 8192
# The reason an accept snippet carries until someone writes a real one.
PLACEHOLDER_REASON = "EDIT ME: why this is acceptable"


def compile_pattern(pattern: str) -> Any:
    """Compile an RE2 pattern, without RE2 printing to stderr.

    Raises:
        ValueError: RE2 cannot take the pattern; the message says why.
    """
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", errors="replace")
        raise ValueError(str(detail)) from None


def parse_priority(text: str) -> int:
    """``"P2"`` -> 2."""
    return int(text[1:])


def format_priority(priority: int) -> str:
    """2 -> ``"P2"``."""
    return f"P{priority}"


def glob_to_re2(glob: str) -> str:
    """Translate a shell-style glob into an anchored RE2 pattern.

    fnmatch's translation uses lookahead, which RE2 rejects; globs here
    know only ``*``, ``?`` and ``[...]``.
    """
    out = []
    index = 0
    while index < len(glob):
        char = glob[index]
        index += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = glob.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
                continue
            body = glob[index:end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            index = end + 1
        else:
            out.append(re.escape(char))
    return "(?s)^" + "".join(out) + "$"


def _search(pattern: Any, texts: Iterable[str]) -> bool:
    return any(pattern.search(text[:MAX_MATCH_TEXT]) for text in texts)


def _status_matches(wanted: int | str, status: int | None) -> bool:
    if isinstance(wanted, int):
        return status == wanted
    if wanted == "unknown":
        return status is None
    if wanted.endswith("xx"):
        return status is not None and status // 100 == int(wanted[0])
    return status is not None and str(status) == wanted


@dataclass(frozen=True, slots=True)
class Threshold:
    """Maps clusters to a priority; the first that matches wins."""

    id: str
    priority: int
    source: str
    kind: str | None = None
    min_severity: Severity | None = None
    status: int | str | None = None
    min_count: int | None = None
    match: Any = None

    def matches(self, cluster: Cluster) -> bool:
        """Whether every condition of the threshold holds for ``cluster``."""
        if self.kind is not None and cluster.kind != self.kind:
            return False
        if self.status is not None:
            if cluster.kind != "http" or not _status_matches(
                self.status, cluster.status
            ):
                return False
        elif self.min_severity is not None and cluster.kind == "http":
            # Request clusters take their priority from the HTTP rows only.
            return False
        if (
            self.min_severity is not None
            and cluster.severity < self.min_severity
        ):
            return False
        if self.min_count is not None and cluster.count < self.min_count:
            return False
        return self.match is None or _search(self.match, cluster.texts())


@dataclass(frozen=True, slots=True)
class Acceptance:
    """Why a team accepts a signature's clusters, and until when."""

    reason: str
    owner: str | None = None
    link: str | None = None
    expires: date | None = None
    until_count: int | None = None
    until_rate_factor: float | None = None

    def holds_on(self, day: date) -> bool:
        """Whether the acceptance still holds on ``day`` (UTC)."""
        return self.expires is None or day <= self.expires

    def ran_out(self, day: date, count: int, rise: float | None) -> str | None:
        """Why the acceptance no longer holds, or None while it does.

        ``rise`` is the factor by which the cluster's rate per hour rose
        over the baseline's; None when there is no baseline to say.
        """
        if not self.holds_on(day):
            return f"it ran out on {self.expires}"
        if self.until_count is not None and count >= self.until_count:
            return f"{count} events reached until_count {self.until_count}"
        if (
            self.until_rate_factor is not None
            and rise is not None
            and rise >= self.until_rate_factor
        ):
            return (
                f"its rate rose ×{rise:.2f} over the baseline, past "
                f"until_rate_factor {self.until_rate_factor:g}"
            )
        return None


@dataclass(frozen=True, slots=True)
class Signature:
    """A known cluster: every key given under ``match`` must hold."""

    id: str
    file: str
    line: int
    title: str | None = None
    message: Any = None
    glob: Any = None
    kind: str | None = None
    severity: Severity | None = None
    status: int | str | None = None
    routes: tuple[Any, ...] = ()
    user_agents: tuple[Any, ...] = ()
    logger: Any = None
    labels: tuple[tuple[str, Any], ...] = ()
    priority: int | None = None
    accept: Acceptance | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def matches(self, cluster: Cluster) -> bool:
        """Whether the signature describes ``cluster`` entirely."""
        texts = cluster.texts()
        checks = (
            self.kind is None or cluster.kind == self.kind,
            self.severity is None or cluster.severity == self.severity,
            self.status is None
            or (
                cluster.kind == "http"
                and _status_matches(self.status, cluster.status)
            ),
            self.message is None or _search(self.message, texts),
            self.glob is None or _search(self.glob, texts),
            _all_match(self.routes, cluster.routes, cluster.kind == "http"),
            _all_match(
                self.user_agents, cluster.clients, cluster.kind == "http"
            ),
            self.logger is None
            or _all_match(
                (self.logger,),
                tuple(v for v, _ in cluster.breakdown.get("loggers", ())),
                True,
            ),
            all(
                _labels_match(key, glob, cluster) for key, glob in self.labels
            ),
        )
        return all(checks)


def _all_match(
    globs: tuple[Any, ...], values: tuple[str, ...], ok: bool
) -> bool:
    if not globs:
        return True
    if not ok or not values:
        return False
    return all(
        any(g.search(v[:MAX_MATCH_TEXT]) for g in globs) for v in values
    )


def _labels_match(key: str, glob: Any, cluster: Cluster) -> bool:
    labels = [sample.get("labels", {}) for sample in cluster.samples]
    return bool(labels) and all(
        key in found and glob.search(str(found[key])) for found in labels
    )


@dataclass(frozen=True, slots=True)
class Policy:
    """Run-wide choices a team makes in its rules."""

    fail_on: int = 2
    no_data: str = "warn"
    redact_service_accounts: bool = False
    no_baseline: str = "warn"
    frequency_factor: float = 3.0
    known_in_baseline: str = "pass"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything the rules say, the team's thresholds before the shipped."""

    thresholds: tuple[Threshold, ...]
    signatures: tuple[Signature, ...]
    redact: tuple[str, ...]
    policy: Policy
    files: tuple[str, ...]

    def warnings(self, today: date) -> list[str]:
        """Acceptances that still need a reason, or have run out."""
        found = []
        for signature in self.signatures:
            accept = signature.accept
            if accept is None:
                continue
            where = f"{signature.file}:{signature.line}: {signature.id}"
            if accept.reason.strip() == PLACEHOLDER_REASON:
                found.append(
                    f"{where}: accept.reason is still the placeholder; "
                    "write why this is acceptable"
                )
            if not accept.holds_on(today):
                found.append(
                    f"{where}: accept.expires ran out on {accept.expires}"
                )
        return found

    def summary(self) -> str:
        """One line counting what was loaded."""
        shipped = sum(1 for t in self.thresholds if t.source == "shipped")
        return (
            f"{len(self.files)} rules file(s), "
            f"{len(self.thresholds) - shipped} threshold(s) "
            f"(+{shipped} shipped), {len(self.signatures)} signature(s)"
        )
