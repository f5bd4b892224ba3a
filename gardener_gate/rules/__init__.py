"""Rules: loading, validating and representing the team's YAML."""

from __future__ import annotations

from gardener_gate.rules.load import load_rules
from gardener_gate.rules.model import (
    Acceptance,
    Policy,
    RuleSet,
    Signature,
    Threshold,
    format_priority,
    parse_priority,
)

__all__ = [
    "Acceptance",
    "Policy",
    "RuleSet",
    "Signature",
    "Threshold",
    "format_priority",
    "load_rules",
    "parse_priority",
]
