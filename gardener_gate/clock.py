"""Timestamps and durations as the gate reads and writes them."""

from __future__ import annotations

__all__ = [
    "format_time",
    "parse_timestamp",
    "parse_until",
    "parse_window",
]

import re
from datetime import UTC, datetime, timedelta

from gardener_gate.errors import UsageError

_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_timestamp(value: object) -> datetime | None:
    """Read an RFC 3339 timestamp of any precision; None when unreadable.

    Times without an offset are taken as UTC, as Cloud Logging does.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, microseconds only when there are any."""
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    # isoformat pads the year (0001), which strftime does not everywhere.
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec) + "Z"


def parse_window(text: str) -> timedelta:
    """Read ``3d``, ``72h``, ``90m``, ``45s`` or ``2w``.

    Raises:
        UsageError: the text is not a positive duration.
    """
    match = _WINDOW.match(text)
    if (
        match is None
        or float(match.group(1)) <= 0
        or float(match.group(1)) * _UNIT_SECONDS[match.group(2)] > 3.2e9
    ):
        raise UsageError(
            f"--window {text!r}: expected a positive duration such as 3d, "
            "72h or 90m"
        )
    return timedelta(
        seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    )


def parse_until(text: str) -> datetime:
    """Read the end of the window given on the command line.

    Raises:
        UsageError: the text is not an RFC 3339 time or date.
    """
    parsed = parse_timestamp(text)
    if parsed is None:
        raise UsageError(
            f"--until {text!r}: expected an RFC 3339 time such as "
            "2025-05-15T00:00:00Z"
        )
    return parsed
