"""Severity levels, and reading them from what loggers write."""

from __future__ import annotations

__all__ = [
    "Severity",
    "parse_level",
]

import enum
import math


class Severity(enum.IntEnum):
    """Cloud Logging's LogSeverity, ordered as it orders them."""

    DEFAULT = 0
    DEBUG = 100
    INFO = 200
    NOTICE = 300
    WARNING = 400
    ERROR = 500
    CRITICAL = 600
    ALERT = 700
    EMERGENCY = 800


_WORDS = {
    "default": Severity.DEFAULT,
    "trace": Severity.DEBUG,
    "debug": Severity.DEBUG,
    "fine": Severity.DEBUG,
    "finer": Severity.DEBUG,
    "finest": Severity.DEBUG,
    "verbose": Severity.DEBUG,
    "info": Severity.INFO,
    "information": Severity.INFO,
    "informational": Severity.INFO,
    "notice": Severity.NOTICE,
    "warn": Severity.WARNING,
    "warning": Severity.WARNING,
    "error": Severity.ERROR,
    "err": Severity.ERROR,
    "severe": Severity.ERROR,
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "panic": Severity.CRITICAL,
    "alert": Severity.ALERT,
    "emerg": Severity.EMERGENCY,
    "emergency": Severity.EMERGENCY,
}

# pino and bunyan write numbers; Python's logging writes ``levelno``.
_PINO = (
    (60, Severity.CRITICAL),
    (50, Severity.ERROR),
    (40, Severity.WARNING),
    (30, Severity.INFO),
    (0, Severity.DEBUG),
)
_PYTHON = (
    (50, Severity.CRITICAL),
    (40, Severity.ERROR),
    (30, Severity.WARNING),
    (20, Severity.INFO),
    (0, Severity.DEBUG),
)


def parse_level(value: object, numbering: str = "pino") -> Severity | None:
    """Map a level as a logger wrote it to a severity; None if unknown.

    ``numbering`` says how to read a number: ``pino`` (10..60), ``python``
    (10..50) or ``cloud`` (Cloud Logging's own 0..800).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        word = value.strip().lower()
        if word.isdecimal() and len(word) < 10:
            return parse_level(int(word), numbering)
        return _WORDS.get(word)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float):
        if numbering == "cloud":
            return _from_cloud_number(int(min(max(value, -1), 1000)))
        table = _PYTHON if numbering == "python" else _PINO
        for floor, severity in table:
            if value >= floor:
                return severity
    return None


def _from_cloud_number(number: int) -> Severity | None:
    number = min(max(number, -1), 1000)
    for severity in reversed(Severity):
        if number >= severity.value:
            return severity
    return None
