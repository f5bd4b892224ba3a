"""The Log Analytics query: entries masked and grouped in BigQuery SQL.

The query selects one revision's entries in the window, masks the variable
parts of their text and groups like entries: per group it returns the
count, first and last seen, an hourly histogram, the instances, the
request latencies and the earliest entries in full. Only groups travel.

What SQL masks is a cautious subset of ``masking``, within the same
bounds: two entries share a group only when the gate would put them in one
cluster, so that groups can split a cluster but do not mix two (README.md
names the known edges). One-line
text entries next to a line of a stack trace are returned one by one
instead, so that the gate joins split traces as it does for entries it
reads itself.
"""

from __future__ import annotations

__all__ = [
    "EXACT_LATENCIES",
    "build_sql",
    "parse_table",
]

import re

from gardener_gate.cluster import SAMPLES
from gardener_gate.errors import UsageError

# Groups with no more latencies than this send each one, as the clusterer
# keeps that many exactly; larger groups send counts on the clusterer's
# log scale (``cluster._LatencyHistogram``).
EXACT_LATENCIES = 1024

_PROJECT = r"(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,61}[a-z0-9]"
_NAME = r"[A-Za-z0-9_-]{1,1024}"
_TABLE = re.compile(
    rf"^(?P<project>{_PROJECT})\.(?P<rest>{_NAME}(?:\.{_NAME}){{1,2}})$"
)

# Characters around a variable that the gate's masks see as boundaries
# too: nothing alphanumeric, no dot in front (a version, a decimal).
# Quotes are spelled \x22 and \x27, so that the patterns sit in SQL raw
# strings unchanged.
_LEAD = r"(^|[\s=(\[,:\x22\x27/-])"
_TRAIL = r"($|[\s,)\];:\x22\x27/]|\.\s|\.$)"
_HEX = "[0-9a-fA-F]"
# Eight or more hex digits, at least one a digit (RE2 has no lookahead,
# so each place the first digit can stand is spelled out).
_LONG_HEX = "|".join(
    [f"{_HEX}{{{p}}}[0-9]{_HEX}{{{7 - p},}}" for p in range(7)]
    + [f"{_HEX}{{7,}}[0-9]{_HEX}*"]
)
_UUID = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_WORD = r"[\w-]"
# A path segment of six or more word characters with a digit among them.
_ID_WORD = "|".join(
    [f"{_WORD}{{{p}}}[0-9]{_WORD}{{{5 - p},}}" for p in range(5)]
    + [f"{_WORD}{{5,}}[0-9]{_WORD}*"]
)
_SEGMENT = rf"(^|/)(?:[0-9]+|{_UUID}|{_HEX}{{8,}}|{_ID_WORD})(/|$)"
_EMAIL = (
    r"(^|[^A-Za-z0-9_.%+-])[A-Za-z0-9_.%+-]{1,64}@"
    r"(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}($|[^A-Za-z0-9_-])"
)
_NUMBER = r"[-+]?[0-9]+(?:[.,][0-9]+)*"
# ``masking._DURATION`` and ``masking._SIZE``, within the same bounds.
_DURATION = (
    r"[0-9]+(?:\.[0-9]+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|min|mins|"
    r"minutes?|h|hrs?|hours?)"
)
_SIZE = r"[0-9]+(?:\.[0-9]+)?(?:[kKMGT]i?B|[kKMGT]|B|bytes)"
# Lines that sit inside a stack trace (``stacktrace.is_trace_continuation``).
_TRACE_LINE = (
    r"^(\s|$|Traceback \(most recent call last\):|During handling of the "
    r"above exception|The above exception was the direct cause)"
)
_MESSAGE_KEYS = (
    "message",
    "msg",
    "error",
    "err",
    "event",
    "text",
    "log",
    "stack_trace",
    "stackTrace",
    "stack",
    "exception",
)
# Payload fields that decide a cluster other than through the message:
# the level a structured logger wrote, the logger, where an error was
# reported, the version, a request inside the payload.
_PAYLOAD_KEYS = (
    # The gate reads a level under any capitalisation; SQL knows these.
    "severity",
    "Severity",
    "SEVERITY",
    "level",
    "Level",
    "LEVEL",
    "levelname",
    "levelName",
    "log.level",
    "loglevel",
    "logLevel",
    "levelno",
    "logger",
    "name",
    "logger_name",
    "context",
    "serviceContext",
    "httpRequest",
)
_SEPARATOR = "'\\x1f'"
# Whether an entry has a request, whether the view leaves the record null
# or fills it with nulls.
_HAS_HTTP = (
    "(http_request.status IS NOT NULL OR http_request.request_url IS NOT "
    "NULL OR http_request.request_method IS NOT NULL)"
)


def parse_table(text: str) -> str:
    """Check a table path: ``PROJECT.DATASET._AllLogs`` and the like.

    Log Analytics also names views ``PROJECT.LOCATION.BUCKET.VIEW``
    (``my-project.global._Default._AllLogs``).

    Raises:
        UsageError: the path is not one of those shapes.
    """
    found = _TABLE.match(text.strip())
    if found is None:
        raise UsageError(
            f"--table {text!r}: give PROJECT.DATASET.TABLE, such as "
            "my-project.my_logs._AllLogs, or a Log Analytics view such as "
            "my-project.global._Default._AllLogs"
        )
    return found.group(0)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _regex(pattern: str) -> str:
    # A raw string keeps RE2's backslashes as they are.
    assert "'" not in pattern
    return f"r'{pattern}'"


def _replace(text: str, pattern: str, replacement: str) -> str:
    return f"REGEXP_REPLACE({text}, {_regex(pattern)}, {_quote(replacement)})"


def _without_emails(text: str) -> str:
    # Service accounts are kept when the rules' policy says so.
    replaced = _replace(text, _EMAIL, r"\1<EMAIL>\2")
    return f"IF(STRPOS({text}, 'gserviceaccount.com') > 0, {text}, {replaced})"


def _mask(text: str) -> str:
    """SQL masking ``text``: UUIDs, hex ids and numbers, outside URLs."""
    masked = text
    for pattern, placeholder in (
        (_UUID, "<UUID>"),
        (_DURATION, "<DURATION>"),
        (_SIZE, "<NUM>"),
        (_LONG_HEX, "<HEX>"),
        (_NUMBER, "<NUM>"),
        (_NUMBER, "<NUM>"),
    ):
        masked = _replace(
            masked, f"{_LEAD}(?:{pattern}){_TRAIL}", rf"\1{placeholder}\2"
        )
    # Inside a URL the gate keeps or drops parts by their place in the
    # path, which a pattern over the whole text cannot tell.
    return f"IF(STRPOS({text}, '://') > 0, {text}, {masked})"


def _json_text(column: str, *keys: str) -> str:
    path = "$." + ".".join(f'"{key}"' for key in keys)
    return f"IFNULL(TO_JSON_STRING(JSON_QUERY({column}, '{path}')), '')"


def _joined(parts: list[str]) -> str:
    return f"CONCAT({f', {_SEPARATOR}, '.join(parts)})"


def _message_text() -> str:
    keys = _joined([_json_text("json_payload", k) for k in _MESSAGE_KEYS])
    whole = "TO_JSON_STRING(json_payload)"
    return (
        "CASE WHEN json_payload IS NULL THEN IFNULL(text_payload, '') "
        f"WHEN STRPOS({whole}, '\\\\n') > 0 "
        f"OR REGEXP_CONTAINS({keys}, r'[^\\x1f]') IS NOT TRUE THEN {whole} "
        f"ELSE {keys} END"
    )


def _route() -> str:
    path = _replace(
        _replace(
            "IFNULL(http_request.request_url, '')",
            r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*",
            "",
        ),
        r"[?#].*$",
        "",
    )
    # Two passes: a segment's slash is consumed by its neighbour's match.
    return _replace(
        _replace(path, _SEGMENT, r"\1{id}\2"), _SEGMENT, r"\1{id}\2"
    )


def _group_key() -> str:
    audit = _joined(
        [
            "'audit'",
            _json_text("proto_payload", "methodName"),
            _json_text("proto_payload", "serviceName"),
            _json_text("proto_payload", "status", "code"),
            _json_text("proto_payload", "serviceData", "policyDelta"),
            _json_text("proto_payload", "@type"),
        ]
    )
    status = "IFNULL(CAST(http_request.status AS STRING), '')"
    request = _joined(
        [
            "'http'",
            status,
            "IFNULL(http_request.request_method, '')",
            "IFNULL(http_request.user_agent, '')",
            _route(),
        ]
    )
    payload = _joined([_json_text("json_payload", k) for k in _PAYLOAD_KEYS])
    source = _joined(
        [
            "IFNULL(source_location.file, '')",
            "IFNULL(CAST(source_location.line AS STRING), '')",
            "IFNULL(source_location.function, '')",
        ]
    )
    return (
        "CASE WHEN fragment THEN CONCAT('~', IFNULL(log_name, ''), "
        f"{_SEPARATOR}, IFNULL(insert_id, ''), {_SEPARATOR}, "
        "CAST(UNIX_MICROS(timestamp) AS STRING)) "
        "WHEN proto_payload IS NOT NULL THEN "
        f"CONCAT(IFNULL(severity, ''), {_SEPARATOR}, {audit}) "
        "WHEN http_request.status BETWEEN 200 AND 399 THEN "
        f"CONCAT('traffic', {status}) "
        "ELSE "
        + _joined(
            [
                "IFNULL(severity, '')",
                f"IF({_HAS_HTTP}, {request}, '')",
                payload,
                source,
                _mask("emailed"),
            ]
        )
        + " END"
    )


_SAMPLE_FIELDS = (
    ("timestamp", "timestamp"),
    ("insert_id", "insert_id"),
    ("log_name", "log_name"),
    ("severity", "severity"),
    ("text_payload", "text_payload"),
    ("json_payload", "TO_JSON_STRING(json_payload)"),
    ("proto_payload", "TO_JSON_STRING(proto_payload)"),
    ("labels", "TO_JSON_STRING(labels)"),
    ("resource_labels", "TO_JSON_STRING(resource.labels)"),
    ("has_http", _HAS_HTTP),
    ("request_method", "http_request.request_method"),
    ("request_url", "http_request.request_url"),
    ("status", "http_request.status"),
    ("user_agent", "http_request.user_agent"),
    ("latency_seconds", "http_request.latency.seconds"),
    ("latency_nanos", "http_request.latency.nanos"),
    ("trace", "trace"),
    ("source_file", "source_location.file"),
    ("source_line", "source_location.line"),
    ("source_function", "source_location.function"),
)


def build_sql(table: str) -> str:
    """The query over ``table``; the window and the revision are parameters.

    ``@start``, ``@end`` (TIMESTAMP), ``@service``, ``@revision`` and
    ``@location`` (STRING) select the entries; nothing depends on the
    server's clock.
    """
    sample = ", ".join(f"{value} AS {name}" for name, value in _SAMPLE_FIELDS)
    # Read from its decimal text, as the gate reads "1.852540s", so that
    # both give the same float.
    latency = (
        "CAST(CONCAT(CAST(http_request.latency.seconds AS STRING), '.', "
        "LPAD(CAST(IFNULL(http_request.latency.nanos, 0) AS STRING), 9, "
        "'0')) AS FLOAT64)"
    )
    return f"""
WITH selected AS (
  SELECT
    *,
    JSON_VALUE(labels, '$.instanceId') AS instance,
    ROW_NUMBER() OVER (
      PARTITION BY log_name, timestamp, insert_id ORDER BY receive_timestamp
    ) AS copy
  FROM `{parse_table(table)}`
  WHERE timestamp >= @start AND timestamp < @end
    AND resource.type = 'cloud_run_revision'
    AND JSON_VALUE(resource.labels, '$.service_name') = @service
    AND JSON_VALUE(resource.labels, '$.revision_name') = @revision
    AND JSON_VALUE(resource.labels, '$.location') = @location
),
lines AS (
  SELECT
    *,
    SUM(IF(copy > 1, 1, 0)) OVER () AS duplicates,
    IFNULL(text_payload IS NOT NULL AND json_payload IS NULL
      AND proto_payload IS NULL AND NOT {_HAS_HTTP}
      AND STRPOS(TRIM(text_payload), '\\n') = 0, FALSE) AS one_line,
    IFNULL(REGEXP_CONTAINS(text_payload, {_regex(_TRACE_LINE)}), FALSE)
      AS trace_line,
    {latency} AS seconds
  FROM selected
),
flagged AS (
  SELECT
    *,
    one_line AND (
      trace_line
      OR IFNULL(LAG(trace_line) OVER stream AND TIMESTAMP_DIFF(
        timestamp, LAG(timestamp) OVER stream, MICROSECOND) <= 1000000,
        FALSE)
      OR IFNULL(LEAD(trace_line) OVER stream AND TIMESTAMP_DIFF(
        LEAD(timestamp) OVER stream, timestamp, MICROSECOND) <= 1000000,
        FALSE)
    ) AS fragment,
    -- As the gate reads latencies: none negative or beyond 10^7 s.
    IF(seconds BETWEEN 0 AND 1e7, seconds, NULL) AS latency
  FROM lines
  WHERE copy = 1
  WINDOW stream AS (
    PARTITION BY one_line, instance, log_name ORDER BY timestamp, insert_id
  )
),
texts AS (
  SELECT *, {_without_emails(_message_text())} AS emailed
  FROM flagged
),
keyed AS (
  SELECT *, {_group_key()} AS group_key
  FROM texts
),
grouped AS (
  SELECT
    group_key,
    LOGICAL_OR(fragment) AS fragment,
    COUNT(*) AS entries,
    COUNT(latency) AS timed,
    MIN(timestamp) AS first_seen,
    MAX(timestamp) AS last_seen,
    MAX(duplicates) AS duplicates,
    ARRAY_AGG(STRUCT({sample}) ORDER BY timestamp, insert_id LIMIT {SAMPLES})
      AS samples
  FROM keyed
  GROUP BY group_key
),
tallies AS (
  SELECT group_key, 'hour' AS part, CAST(NULL AS STRING) AS label,
    CAST(DIV(UNIX_SECONDS(timestamp), 3600) AS FLOAT64) AS number,
    COUNT(*) AS n
  FROM keyed GROUP BY group_key, number
  UNION ALL
  SELECT group_key, 'instance', instance, NULL, COUNT(*)
  FROM keyed WHERE instance IS NOT NULL GROUP BY group_key, instance
  UNION ALL
  SELECT group_key, 'latency', NULL, latency, COUNT(*)
  FROM keyed WHERE latency IS NOT NULL GROUP BY group_key, latency
  UNION ALL
  SELECT group_key, 'bucket', NULL,
    ROUND(LN(GREATEST(latency, 1e-6)) * 40) AS bucket, COUNT(*)
  FROM keyed WHERE latency IS NOT NULL GROUP BY group_key, bucket
),
shapes AS (
  SELECT
    group_key,
    ARRAY_AGG(STRUCT(part, label, number, n)) AS tallies
  FROM tallies JOIN grouped USING (group_key)
  WHERE part IN ('hour', 'instance')
    OR (part = 'latency') = (timed <= {EXACT_LATENCIES})
  GROUP BY group_key
)
SELECT
  fragment, entries, first_seen, last_seen, duplicates, samples, tallies
FROM grouped JOIN shapes USING (group_key)
ORDER BY fragment, first_seen, entries
"""
