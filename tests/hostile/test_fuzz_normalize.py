"""The entry normaliser takes any JSON value without raising."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gardener_gate.entry import LogEntry, normalize
from gardener_gate.redact import Redactor

FIELDS = [
    "timestamp",
    "receiveTimestamp",
    "severity",
    "insertId",
    "logName",
    "textPayload",
    "jsonPayload",
    "protoPayload",
    "httpRequest",
    "labels",
    "resource",
    "trace",
    "sourceLocation",
    "spanId",
]
SUBFIELDS = [
    "message",
    "msg",
    "error",
    "level",
    "severity",
    "levelname",
    "stack_trace",
    "exception",
    "status",
    "latency",
    "requestUrl",
    "userAgent",
    "requestMethod",
    "labels",
    "revision_name",
    "methodName",
    "serviceName",
    "context",
    "reportLocation",
    "seconds",
    "nanos",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=60)
    | st.sampled_from(
        [
            "2025-05-12T10:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "ERROR",
            "warn",
            "99",
            "²",
            "0.5s",
            "infs",
            "Traceback (most recent call "
            'last):\n  File "/app/a.py", line 1, in f\nValueError: x',
        ]
    )
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(SUBFIELDS) | st.text(max_size=8), inner, max_size=5
        )
    ),
    max_leaves=20,
)
entries = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(entries, values, st.text(alphabet=string.printable)))
def test_any_value_becomes_an_entry_or_a_reason(value):
    result = normalize(0, value)

    assert isinstance(result, LogEntry | str)
    if isinstance(result, LogEntry):
        redacted = Redactor().entry(result)
        assert isinstance(redacted.message, str)
        redacted.message.encode("utf-8")
