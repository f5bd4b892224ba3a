"""Turning a raw record into a ``LogEntry``, whatever shape it came in.

Cloud Logging entries arrive with the message in ``textPayload``,
``jsonPayload`` (under one of several keys, or nested) or ``protoPayload``
(audit logs); request logs carry ``httpRequest`` with loosely typed fields;
structured loggers put their own level inside the payload. This module
reads all of them into one record and never raises on a strange value.
"""

from __future__ import annotations

__all__ = [
    "HttpRequest",
    "LogEntry",
    "normalize",
]

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gardener_gate.clock import parse_timestamp
from gardener_gate.severity import Severity, parse_level
from gardener_gate.stacktrace import StackTrace, find_trace

_MESSAGE_KEYS = ("message", "msg", "error", "err", "event", "text", "log")
_TRACE_KEYS = ("stack_trace", "stackTrace", "stack", "exception", "message")
_LEVEL_KEYS = ("severity", "level", "levelname", "log.level", "loglevel")
_TEXT_LEVEL = re.compile(
    r"^\[?(TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL)\]?"
    r"(?::(?:([\w.\-]+):)?|\s+-\s+|\]\s*|\s+(?=\S))\s*"
)
_MAX_JSON_MESSAGE = 4000


# The two records below are built for every entry read. They are not
# frozen: a frozen dataclass sets each field through object.__setattr__,
# which made building a LogEntry five times slower (4 µs against 0.8 µs),
# a tenth of the whole gate's time. Nothing changes them once built; a
# changed entry is a new one (dataclasses.replace).
@dataclass(slots=True)
class HttpRequest:
    """The parts of ``httpRequest`` the gate uses, with types coerced."""

    method: str
    url: str
    status: int | None
    latency: float | None
    user_agent: str
    notes: tuple[str, ...] = ()


@dataclass(slots=True)
class LogEntry:
    """One log entry, read into the fields the gate reasons about.

    ``severity`` is the effective one: a level the payload names wins over
    the top-level field, which often only reflects the output stream.
    """

    seq: int
    timestamp: datetime | None
    insert_id: str
    log_name: str
    kind: str
    message: str
    severity: Severity
    severity_raw: str
    revision: str | None = None
    service: str | None = None
    location: str | None = None
    project: str | None = None
    instance: str | None = None
    trace_id: str | None = None
    logger: str | None = None
    location_hint: str | None = None
    version: str | None = None
    http: HttpRequest | None = None
    stack: StackTrace | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    payload: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()
    fragments: int = 1
    # A JSON value written out as the message (a payload without a message
    # key, a textPayload that is an object): redaction rewrites the message
    # from it, so that secrets under their keys are caught there too.
    flattened: object = None

    @property
    def stream(self) -> str:
        """The last part of the log name, such as ``stderr``."""
        tail = self.log_name.rsplit("/", 1)[-1]
        return tail.replace("%2F", "/").rsplit("/", 1)[-1]


def normalize(seq: int, value: object) -> LogEntry | str:
    """Read one record; return the entry, or the reason it was skipped."""
    if isinstance(value, str):
        return _from_line(seq, value)
    if not isinstance(value, dict):
        return f"not a log entry (a JSON {_json_type(value)})"
    if not looks_like_entry(value):
        return "not a log entry (no payload, timestamp or httpRequest)"
    return _from_entry(seq, value)


def _json_type(value: object) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "value"


_ENTRY_KEYS = frozenset(
    (
        "textPayload",
        "jsonPayload",
        "protoPayload",
        "httpRequest",
        "timestamp",
        "insertId",
        "logName",
    )
)


def looks_like_entry(value: dict[str, Any]) -> bool:
    """Whether a JSON object holds a field every log entry may have."""
    return not _ENTRY_KEYS.isdisjoint(value)


def _from_line(seq: int, line: str) -> LogEntry | str:
    if not line or line.isspace():
        return "empty message"
    severity, logger, message = _level_from_text(line, Severity.DEFAULT)
    # The required fields in order: keywords cost a third of the build.
    return LogEntry(
        seq,
        None,  # timestamp
        "",  # insert_id
        "lines",  # log_name
        "message",  # kind
        message,
        severity,
        "DEFAULT",  # severity_raw
        logger=logger,
    )


def _from_entry(seq: int, raw: dict[str, Any]) -> LogEntry | str:
    notes: list[str] = []
    timestamp = parse_timestamp(raw.get("timestamp"))
    if timestamp is None:
        timestamp = parse_timestamp(raw.get("receiveTimestamp"))
        if timestamp is not None:
            notes.append("no timestamp; receiveTimestamp used")
    resource = _mapping(raw.get("resource"))
    resource_labels = _mapping(resource.get("labels"))
    labels = {str(k): _text(v) for k, v in _mapping(raw.get("labels")).items()}
    severity_raw, top = _top_severity(raw.get("severity"))

    payload = raw.get("jsonPayload")
    proto = raw.get("protoPayload")
    http = _http_request(raw.get("httpRequest"))
    kind = "message"
    stack = None
    logger = None
    location_hint = None
    version = None
    flattened: object = None
    if isinstance(proto, dict):
        kind = "audit"
        message = _audit_summary(proto)
        severity = top
    elif isinstance(payload, dict):
        message, stack = _payload_message(payload)
        if stack is None and _find_message(payload, depth=0) is None:
            flattened = payload
        level = _payload_level(payload)
        severity = level if level is not None else top
        logger = _first_text(payload, ("logger", "name", "logger_name"))
        location_hint, version = _error_report_context(payload)
        if http is None:
            http = _http_request(payload.get("httpRequest"))
    else:
        text = raw.get("textPayload")
        if text is not None and not isinstance(text, str):
            flattened = text
            text = _text(text)
        severity, logger, message = _level_from_text(text or "", top)
        stack = find_trace(message) if "\n" in message else None
    if http is not None:
        kind = "http"
        notes.extend(http.notes)
    elif not message.strip():
        return "empty message"
    if stack is not None and severity == Severity.DEFAULT:
        severity = Severity.ERROR
    source_location = _mapping(raw.get("sourceLocation"))
    if location_hint is None and source_location:
        location_hint = _source_location(source_location)
    return LogEntry(
        seq=seq,
        timestamp=timestamp,
        insert_id=_text(raw.get("insertId")),
        log_name=_text(raw.get("logName")),
        kind=kind,
        message=message,
        severity=severity,
        severity_raw=severity_raw,
        revision=_optional_text(resource_labels.get("revision_name")),
        service=_optional_text(resource_labels.get("service_name")),
        location=_optional_text(resource_labels.get("location")),
        project=_optional_text(resource_labels.get("project_id")),
        instance=_optional_text(labels.get("instanceId")),
        trace_id=_optional_text(raw.get("trace")),
        logger=logger,
        location_hint=location_hint,
        version=version,
        http=http,
        stack=stack,
        labels=labels,
        payload=payload
        if isinstance(payload, dict)
        else proto
        if isinstance(proto, dict)
        else None,
        notes=tuple(notes),
        flattened=flattened,
    )


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _top_severity(value: object) -> tuple[str, Severity]:
    """The top-level severity's name as shown, and the severity it means."""
    if isinstance(value, str):
        known = _TOP_SEVERITIES.get(value)
        if known is None:
            known = (
                _severity_name(value),
                parse_level(value, "cloud") or Severity.DEFAULT,
            )
            if len(_TOP_SEVERITIES) < 1000:
                _TOP_SEVERITIES[value] = known
        return known
    return (
        _severity_name(value),
        parse_level(value, "cloud") or Severity.DEFAULT,
    )


# The few names a log uses, each read once.
_TOP_SEVERITIES: dict[str, tuple[str, Severity]] = {}


def _severity_name(value: object) -> str:
    if value is None or value == "":
        return "DEFAULT"
    known = parse_level(value, "cloud")
    if isinstance(value, str) and known is not None:
        return value.strip().upper()[:20]
    return known.name if known is not None else "(unrecognised)"


def _level_from_text(
    text: str, fallback: Severity
) -> tuple[Severity, str | None, str]:
    found = _TEXT_LEVEL.match(text)
    if found is None:
        return fallback, None, text
    level = parse_level(found.group(1))
    if level is None:
        return fallback, None, text
    return level, found.group(2), text[found.end() :]


def _payload_level(payload: Mapping[str, Any]) -> Severity | None:
    lowered = {str(k).lower(): v for k, v in payload.items()}
    for key in _LEVEL_KEYS:
        if key in lowered:
            found = parse_level(lowered[key])
            if found is not None:
                return found
    nested = lowered.get("log")
    if isinstance(nested, dict):
        found = parse_level(nested.get("level"))
        if found is not None:
            return found
    if "levelno" in lowered:
        return parse_level(lowered["levelno"], "python")
    return None


def _payload_message(
    payload: Mapping[str, Any],
) -> tuple[str, StackTrace | None]:
    message = _find_message(payload, depth=0)
    for key in _TRACE_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and "\n" in value:
            stack = find_trace(value)
            if stack is not None:
                return _with_trace(message, value), stack
    for text in _strings(payload, depth=0):
        if "\n" in text:
            stack = find_trace(text)
            if stack is not None:
                return _with_trace(message, text), stack
    if message is None:
        message = _text(payload)[:_MAX_JSON_MESSAGE]
    return message, None


def _with_trace(message: str | None, trace: str) -> str:
    if message is None or message == trace or trace.startswith(message):
        return trace
    return f"{message}\n{trace}"


def _find_message(payload: Mapping[str, Any], depth: int) -> str | None:
    for key in _MESSAGE_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict) and depth < 3:
            nested = _find_message(value, depth + 1)
            if nested is not None:
                return nested
    return None


def _strings(value: object, depth: int) -> list[str]:
    if depth > 8:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v, depth + 1)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, depth + 1)]
    return []


def _first_text(
    payload: Mapping[str, Any], keys: tuple[str, ...]
) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _error_report_context(
    payload: Mapping[str, Any],
) -> tuple[str | None, str | None]:
    context = _mapping(payload.get("context"))
    where = _mapping(context.get("reportLocation"))
    location = _source_location(where) if where else None
    version = _optional_text(
        _mapping(payload.get("serviceContext")).get("version")
    )
    return location, version


def _source_location(where: Mapping[str, Any]) -> str | None:
    path = where.get("filePath") or where.get("file")
    if not isinstance(path, str):
        return None
    line = where.get("lineNumber") or where.get("line")
    function = where.get("functionName") or where.get("function")
    text = f"{path}:{line}" if line not in (None, "") else path
    return f"{text} {function}" if isinstance(function, str) else text


def _audit_summary(proto: Mapping[str, Any]) -> str:
    method = proto.get("methodName")
    if not isinstance(method, str) or not method:
        kind = _text(proto.get("@type")).rsplit("/", 1)[-1] or "unknown"
        return f"other audit events ({kind})"
    service = _text(proto.get("serviceName")) or "unknown service"
    short = method.rsplit(".", 1)[-1]
    status = _mapping(proto.get("status"))
    code = status.get("code")
    if isinstance(code, int) and code != 0:
        outcome = "denied" if code == 7 else "failed"
        return f"{service} {short} {outcome} (code {code})"
    grants = _binding_deltas(proto)
    return f"{service} {short} ({grants})" if grants else f"{service} {short}"


def _binding_deltas(proto: Mapping[str, Any]) -> str:
    # IAM changes say who gained or lost which role; a grant to allUsers
    # makes a service public, which a team's rules will want to catch.
    delta = _mapping(_mapping(proto.get("serviceData")).get("policyDelta"))
    changes = delta.get("bindingDeltas")
    if not isinstance(changes, list):
        return ""
    described = sorted(
        {
            f"{_text(c.get('action'))} {_text(c.get('role'))} "
            f"to {_text(c.get('member'))}"
            for c in changes[:20]
            if isinstance(c, dict)
        }
    )
    return "; ".join(described)


def _http_request(value: object) -> HttpRequest | None:
    if not isinstance(value, dict):
        return None
    notes: list[str] = []
    status = _status(value.get("status"))
    if status is None and value.get("status") not in (None, ""):
        notes.append(
            f"unreadable HTTP status (a JSON {_json_type(value['status'])})"
        )
    latency, note = _latency(value.get("latency"))
    if note:
        notes.append(note)
    return HttpRequest(
        method=_text(value.get("requestMethod")).upper() or "?",
        url=_text(value.get("requestUrl")),
        status=status,
        latency=latency,
        user_agent=_text(value.get("userAgent")),
        notes=tuple(notes),
    )


def _status(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 < value < 1000:
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        text = value.strip()
        number = int(text) if len(text) < 5 else 0
        return number if 0 < number < 1000 else None
    return None


def _latency(value: object) -> tuple[float | None, str | None]:
    if type(value) is str and value[-1:] == "s" and len(value) <= 40:
        # The usual shape, "0.254s": read at once.
        try:
            seconds = float(value[:-1])
        except ValueError:
            pass
        else:
            if 0 <= seconds <= 1e7:
                return seconds, None
    if value is None or value == "":
        return None, None
    if isinstance(value, dict):
        try:
            seconds = (
                float(value.get("seconds", 0))
                + float(value.get("nanos", 0)) / 1e9
            )
        except (TypeError, ValueError, OverflowError):
            return None, "unreadable latency (not a duration)"
        return _finite(seconds, None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _finite(float(value), "latency without unit, read as seconds")
    text = _text(value).strip()[:40]
    try:
        if text.endswith("s"):
            return _finite(float(text[:-1]), None)
        return _finite(float(text), "latency without unit, read as seconds")
    except (ValueError, OverflowError):
        return None, "unreadable latency (not a duration)"


def _finite(
    seconds: float, note: str | None
) -> tuple[float | None, str | None]:
    if not math.isfinite(seconds) or seconds < 0 or seconds > 1e7:
        return None, "unreadable latency (out of range)"
    return seconds, note
