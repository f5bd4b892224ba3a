"""Damaged and hostile input: a counted skip or one line and exit 3.

Never a traceback, never a hang, never a record dropped without a count.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from conftest import CASES

ENTRY = {"textPayload": "ok", "timestamp": "2025-05-12T10:00:00Z"}


def _accounted(result, offered: int) -> None:
    """Every record offered was read or skipped, and said so."""
    entries = result.worklog["entries"]
    assert entries["read"] + entries["skipped"] == offered
    assert len(entries["skip_reasons"]) == min(entries["skipped"], 100)
    assert "Traceback" not in result.stderr
    result.markdown.encode("utf-8")


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


CASES_OF_DAMAGE = {
    "truncated array": (
        b'[{"textPayload": "a"}, {"textPayload": "b"}, {"te',
        2,
        1,
    ),
    "truncated last ndjson line": (
        b'{"textPayload": "a"}\n{"textPayload": "b"}\n{"textPay',
        2,
        1,
    ),
    "a malformed element mid-array": (
        b'[{"textPayload": "a"}, {"textPayload": oops}, {"textPayload": "c"}]',
        2,
        1,
    ),
    "non-utf8 bytes": (b'{"textPayload": "\xff\xfe caf\xe9"}\n', 1, 0),
    "lone surrogates": (b'[{"textPayload": "bad \\udcff\\udcfe end"}]', 1, 0),
    "nul and ansi": (
        b'[{"textPayload": "a\\u0000b \\u001b[31mred\\u001b[0m"}]',
        1,
        0,
    ),
    "deep nesting in an array": (
        b"["
        + b'{"a":' * 100_000
        + b"1"
        + b"}" * 100_000
        + b', {"textPayload": "after"}]',
        1,
        1,
    ),
    "json values that are not entries": (
        b'[1, "text", null, true, [], {"textPayload": "a"}]',
        1,
        5,
    ),
}


@pytest.mark.parametrize(
    ("data", "read", "skipped"),
    list(CASES_OF_DAMAGE.values()),
    ids=list(CASES_OF_DAMAGE),
)
def test_damage_is_counted_and_reading_goes_on(
    gate, tmp_path, data, read, skipped
):
    result = gate("run", "--logs", _write(tmp_path, "in.json", data))

    assert result.code == 0
    assert result.worklog["entries"]["read"] == read
    assert result.worklog["entries"]["skipped"] == skipped
    _accounted(result, read + skipped)


def test_a_ten_megabyte_entry_is_read_and_its_sample_trimmed(gate, tmp_path):
    entries = [
        {**ENTRY, "textPayload": "x" * 10_000_000 + " tail"},
        ENTRY,
    ]
    path = _write(tmp_path, "big.json", json.dumps(entries).encode())

    result = gate("run", "--logs", path)

    assert result.code == 0
    _accounted(result, 2)
    samples = [s for c in result.worklog["clusters"] for s in c["samples"]]
    assert max(len(s["message"]) for s in samples) < 2_100
    assert len(result.markdown) < 100_000


@pytest.mark.parametrize(
    "content",
    [
        b"\x00" * 5000,
        bytes(range(256)) * 100,
        b"\x89PNG\r\n\x1a\n" + bytes(1000),
    ],
    ids=["nul bytes", "all bytes", "png"],
)
def test_a_file_that_is_not_logs_exits_3_in_one_line(gate, tmp_path, content):
    result = gate("run", "--logs", _write(tmp_path, "x.bin", content))

    assert result.code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_directory_given_as_logs_exits_3(gate, tmp_path):
    result = gate("run", "--logs", str(tmp_path))

    assert result.code == 3
    assert "cannot open" in result.stderr


def test_wrong_types_in_every_field_never_crash(gate, tmp_path):
    values = [
        None,
        1,
        1.5,
        True,
        "x",
        [],
        {},
        [1, 2],
        {"a": 1},
        "\udcff",
        "\x00\x1b[31m",
        "9" * 400,
        -1,
        10**30,
    ]
    fields = [
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
    rng = random.Random(6)
    entries = []
    for _ in range(2000):
        entry = {f: rng.choice(values) for f in rng.sample(fields, 6)}
        if rng.random() < 0.4:
            entry["httpRequest"] = {
                k: rng.choice(values)
                for k in (
                    "status",
                    "latency",
                    "requestUrl",
                    "userAgent",
                    "requestMethod",
                )
            }
        if rng.random() < 0.4:
            entry["jsonPayload"] = {
                k: rng.choice(values)
                for k in (
                    "message",
                    "level",
                    "severity",
                    "stack_trace",
                    "error",
                    "msg",
                    "logger",
                    "context",
                    "serviceContext",
                )
            }
        if rng.random() < 0.2:
            entry["resource"] = {"labels": rng.choice(values)}
        entries.append(entry)
    path = _write(
        tmp_path,
        "types.json",
        json.dumps(entries).encode("utf-8", "surrogatepass"),
    )

    result = gate("run", "--logs", path)

    assert result.code in (0, 1)
    _accounted(result, 2000)


def test_empty_input_is_no_data(gate, tmp_path):
    result = gate("run", "--logs", _write(tmp_path, "e.json", b""))

    assert (result.code, result.worklog["verdict"]) == (0, "warn")


@pytest.mark.parametrize(
    "case", ["oversized-non-utf8", "gcs-ndjson-export-dupes"]
)
def test_the_shared_damage_cases_are_read_without_fault(gate, case):
    folder = CASES / case
    for path in sorted(folder.glob("input*")):
        result = gate("run", "--logs", str(path))

        assert result.code in (0, 1), (path, result.stderr)
        assert "Traceback" not in result.stderr
        result.markdown.encode("utf-8")


@pytest.mark.parametrize(
    ("name", "read", "skipped", "absent"),
    [
        ("drop_after_malformed.json", 1001, 1, None),
        ("crashes/phantom_entry.json", 2, 1, "PHANTOM"),
        ("crashes/two_arrays.json", 3, 0, None),
    ],
)
def test_a_broken_element_costs_only_itself(gate, name, read, skipped, absent):
    path = Path(__file__).parent / "data" / name

    result = gate("run", "--logs", str(path))

    assert result.worklog["entries"]["read"] == read
    assert result.worklog["entries"]["skipped"] == skipped
    if absent:
        assert absent not in result.markdown


def test_text_after_the_array_is_a_counted_skip(gate, tmp_path):
    data = json.dumps([ENTRY]).encode() + b"\ntrailing garbage\n"

    result = gate("run", "--logs", _write(tmp_path, "t.json", data))

    assert result.worklog["entries"]["read"] == 1
    assert result.worklog["entries"]["skip_reasons"] == [
        "content after the end of the array"
    ]


def test_deep_nesting_in_ndjson_is_a_skip(gate, tmp_path):
    data = (
        b'{"a":' * 100_000
        + b"1"
        + b"}" * 100_000
        + b'\n{"textPayload": "after"}\n'
    )

    result = gate("run", "--logs", _write(tmp_path, "d.ndjson", data))

    assert result.worklog["entries"]["read"] == 1
    assert result.worklog["entries"]["skipped"] == 1


@pytest.mark.parametrize(
    "text",
    [
        "a" * 256_000 + "@",
        'Traceback (most recent call last):\n  File "a.py", line 1, in f'
        + " " * 250_000
        + "x\nValueError: v",
        "x" + "\n" * 160_000 + "y",
        "password" * 30_000,
    ],
    ids=[
        "long run before @",
        "spaces after a frame",
        "newlines",
        "secret words",
    ],
)
def test_long_adversarial_entries_finish(gate, tmp_path, text):
    entry = {**ENTRY, "severity": "ERROR", "textPayload": text}
    path = _write(tmp_path, "a.json", json.dumps([entry]).encode())

    result = gate("run", "--logs", path)

    assert result.code in (0, 1)
    _accounted(result, 1)


def test_an_endless_ndjson_line_is_skipped_in_bounded_memory(
    gate, tmp_path, monkeypatch
):
    from gardener_gate import source

    monkeypatch.setattr(source, "_MAX_RECORD", 1 << 20)
    data = (
        b'{"textPayload": "a"}\n'
        + b"x" * (3 << 20)
        + b'\n{"textPayload": "b"}\n'
    )

    result = gate("run", "--logs", _write(tmp_path, "l.ndjson", data))

    assert result.worklog["entries"]["read"] == 2
    assert result.worklog["entries"]["skip_reasons"] == [
        "line 2: longer than 64 MiB"
    ]


def test_a_byte_order_mark_before_ndjson_is_ignored(gate, tmp_path):
    data = b"\xef\xbb\xbf" + b'{"textPayload": "a"}\n{"textPayload": "b"}\n'

    result = gate("run", "--logs", _write(tmp_path, "bom.ndjson", data))

    assert result.worklog["entries"]["read"] == 2
    assert result.worklog["entries"]["skipped"] == 0


@pytest.mark.parametrize("compress", [False, True])
def test_a_long_blank_start_does_not_change_the_format(
    gate, tmp_path, compress
):
    data = b" " * 100_000 + json.dumps([ENTRY, ENTRY]).encode()
    if compress:
        data = gzip.compress(data)

    result = gate("run", "--logs", _write(tmp_path, "ws.json", data))

    assert result.worklog["entries"]["read"] == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--window", "99999999999999d"],
        ["--window", "800000d"],
        ["--until", "0001-01-01T00:00:00Z", "--window", "3d"],
        ["--until", "0001-01-01T00:00:00+05:00"],
    ],
)
def test_dates_out_of_range_are_usage_errors(gate, tmp_path, args):
    path = _write(tmp_path, "e.json", json.dumps([ENTRY]).encode())

    result = gate("run", "--logs", path, *args)

    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_out_below_a_file_is_a_usage_error(gate, tmp_path):
    (tmp_path / "afile").write_text("x")
    path = _write(tmp_path, "e.json", json.dumps([ENTRY]).encode())

    result = gate(
        "run", "--logs", path, "--out", str(tmp_path / "afile" / "sub")
    )

    assert result.code == 2
    assert "Traceback" not in result.stderr
