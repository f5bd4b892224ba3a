"""Priorities, statuses and the verdict: what the gate decides."""

from __future__ import annotations

__all__ = [
    "Decision",
    "Finding",
    "Status",
    "Verdict",
    "decide",
]

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from gardener_gate.baseline import Compared, Comparison, Standing
from gardener_gate.cluster import OVERFLOW_ID, Cluster
from gardener_gate.rules import RuleSet, Signature, format_priority

if TYPE_CHECKING:
    from gardener_gate.tracker import IssueLink, IssueLinks

logger = logging.getLogger(__name__)


class Status(enum.Enum):
    """How a cluster stands against the rules."""

    NEW = "new"
    KNOWN = "known"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    REGRESSED = "regressed"

    @property
    def can_fail(self) -> bool:
        """Whether a cluster in this status fails the gate at threshold."""
        return self in (Status.NEW, Status.EXPIRED, Status.REGRESSED)


class Verdict(enum.Enum):
    """The outcome of a run."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    OVERRIDDEN = "overridden"


@dataclass(frozen=True, slots=True)
class Finding:
    """A cluster with its priority, status and the rules behind them."""

    cluster: Cluster
    priority: int
    priority_rule: str
    status: Status
    signature: Signature | None
    fails: bool
    baseline: Comparison | None = None
    ran_out: str | None = None
    issue: IssueLink | None = None

    @property
    def excused(self) -> bool:
        """A new cluster that does not fail: the baseline had it alike."""
        return (
            self.status is Status.NEW
            and not self.fails
            and self.baseline is not None
            and self.baseline.standing is Standing.KNOWN
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict, and every finding in the order the worklog lists them."""

    verdict: Verdict
    threshold: int
    findings: tuple[Finding, ...]
    stale: tuple[Signature, ...]
    reason: str
    baseline_cut_short: bool = False

    @property
    def failing(self) -> tuple[Finding, ...]:
        """The findings that fail the gate."""
        return tuple(f for f in self.findings if f.fails)


def decide(
    clusters: Iterable[Cluster],
    rules: RuleSet,
    today: date,
    threshold: int,
    no_data: bool,
    *,
    baseline: Compared | None = None,
    no_baseline: str | None = None,
    links: IssueLinks | None = None,
) -> Decision:
    """Give each cluster a priority and a status, then the verdict.

    ``baseline`` holds each cluster's comparison with the baseline, when
    one was asked for; ``no_baseline`` says why it could not be had.
    ``links`` are the repository's issues that speak for clusters; one
    closed as fixed turns a cluster that is back into ``regressed``.
    """
    clusters = list(clusters)
    compared = baseline.by_cluster if baseline is not None else {}
    # Each signature is matched once against each cluster: matching runs
    # patterns over texts, and both the status and staleness need it.
    fitting = {
        cluster.id: [s for s in rules.signatures if s.matches(cluster)]
        for cluster in clusters
    }
    findings = [
        _link(
            _assess(
                cluster,
                fitting[cluster.id],
                rules,
                today,
                threshold,
                compared.get(cluster.id),
            ),
            links,
            threshold,
        )
        for cluster in clusters
    ]
    # A signature shadowed by an earlier one still describes something; only
    # one that fits no cluster at all is stale.
    used = {s.id for fits in fitting.values() for s in fits}
    findings.sort(key=lambda f: (f.priority, -f.cluster.count, f.cluster.id))
    stale = tuple(s for s in rules.signatures if s.id not in used)
    verdict, reason = _verdict(findings, rules, threshold, no_data)
    if no_baseline is not None and verdict is Verdict.PASS:
        policy = rules.policy.no_baseline
        verdict = {"warn": Verdict.WARN, "fail": Verdict.FAIL}.get(
            policy, Verdict.PASS
        )
        # Why there is none names revisions and files: the worklog shows
        # it inert, the reason line stays ours.
        reason += f"; no baseline to compare with (no_baseline: {policy})"
    logger.debug("verdict=%s reason=%s", verdict.value, reason)
    cut_short = baseline is not None and baseline.cut_short
    return Decision(
        verdict, threshold, tuple(findings), stale, reason, cut_short
    )


def _assess(
    cluster: Cluster,
    fitting: list[Signature],
    rules: RuleSet,
    today: date,
    threshold: int,
    compared: Comparison | None,
) -> Finding:
    rise = compared.factor if compared is not None else None
    signature = _signature(cluster, fitting, today, rise)
    priority, priority_rule = _priority(cluster, rules, signature)
    ran_out = None
    if signature is None:
        status = Status.NEW
    elif signature.accept is None:
        status = Status.KNOWN
    else:
        ran_out = signature.accept.ran_out(today, cluster.count, rise)
        status = Status.ACCEPTED if ran_out is None else Status.EXPIRED
    fails = status.can_fail and priority <= threshold
    if (
        fails
        and status is Status.NEW
        and compared is not None
        and compared.standing is Standing.KNOWN
        and rules.policy.known_in_baseline == "pass"
    ):
        # The revision before logged it at a like rate: not this change.
        fails = False
    logger.debug(
        "cluster=%s priority=%s by=%s signature=%s status=%s fails=%s",
        cluster.id,
        format_priority(priority),
        priority_rule,
        signature.id if signature else None,
        status.value,
        fails,
    )
    return Finding(
        cluster,
        priority,
        priority_rule,
        status,
        signature,
        fails,
        compared,
        ran_out,
    )


def _signature(
    cluster: Cluster,
    fitting: list[Signature],
    today: date,
    rise: float | None,
) -> Signature | None:
    """The first signature that fits, one whose acceptance holds first.

    An acceptance renewed in a file of its own (the accept-all block of
    the worklog) then wins over the expired one it renews.
    """
    if cluster.id == OVERFLOW_ID:
        return None
    holding = (
        s
        for s in fitting
        if s.accept is not None
        and s.accept.ran_out(today, cluster.count, rise) is None
    )
    return next(holding, fitting[0] if fitting else None)


def _link(
    finding: Finding, links: IssueLinks | None, threshold: int
) -> Finding:
    cluster = finding.cluster
    issue = (
        None if links is None else links.link_for(cluster.id, finding.priority)
    )
    if issue is None:
        return finding
    # An acceptance that holds is the team's word, and an expired one
    # fails already; a new or known cluster that is back after its fix
    # is a regression.
    if finding.status in (Status.NEW, Status.KNOWN) and issue.is_fixed:
        logger.debug(
            "cluster=%s issue=%s closed as fixed; status=regressed",
            cluster.id,
            issue.number,
        )
        return replace(
            finding,
            status=Status.REGRESSED,
            fails=finding.priority <= threshold,
            issue=issue,
        )
    return replace(finding, issue=issue)


def _priority(
    cluster: Cluster, rules: RuleSet, signature: Signature | None
) -> tuple[int, str]:
    if signature is not None and signature.priority is not None:
        return signature.priority, f"signature {signature.id}"
    for threshold in rules.thresholds:
        if threshold.matches(cluster):
            return threshold.priority, threshold.id
    return 10, "no threshold matched"


def _verdict(
    findings: list[Finding], rules: RuleSet, threshold: int, no_data: bool
) -> tuple[Verdict, str]:
    if no_data:
        policy = rules.policy.no_data
        verdict = {
            "pass": Verdict.PASS,
            "fail": Verdict.FAIL,
        }.get(policy, Verdict.WARN)
        return (
            verdict,
            f"no log entries in the selected window (no_data: {policy})",
        )
    failing = [f for f in findings if f.fails]
    excused = sum(1 for f in findings if f.excused and f.priority <= threshold)
    known = (
        f"; {excused} new cluster(s) the baseline had at a like rate do "
        "not fail"
        if excused
        else ""
    )
    if not failing:
        return Verdict.PASS, (
            f"no new or expired cluster at {format_priority(threshold)} "
            f"or higher{known}"
        )
    counts: dict[str, int] = {}
    for finding in failing:
        label = format_priority(finding.priority)
        counts[label] = counts.get(label, 0) + 1
    listed = ", ".join(
        f"{n} at {p}"
        for p, n in sorted(counts.items(), key=lambda kv: int(kv[0][1:]))
    )
    kinds = (
        "new, expired or regressed"
        if any(f.status is Status.REGRESSED for f in failing)
        else "new or expired"
    )
    return Verdict.FAIL, (
        f"{len(failing)} {kinds} cluster(s) at "
        f"{format_priority(threshold)} or higher ({listed}){known}"
    )
