"""Reading records from files: formats, chunk boundaries, damage."""

from __future__ import annotations

import io
import json

import pytest

from gardener_gate import source
from gardener_gate.errors import LogReadError
from gardener_gate.source import Record, Skip, read_records


def _read(data: bytes, fmt: str = "auto") -> list[Record | Skip]:
    return list(read_records(io.BytesIO(data), fmt, "test"))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every read tiny, so that values straddle chunk boundaries."""
    monkeypatch.setattr(source, "_CHUNK", 7)
    monkeypatch.setattr(source, "_SNIFF", 5)


def test_an_array_is_read_element_by_element():
    records = _read(b'[{"a": 1}, {"b": [1, 2]}]')

    assert records == [Record(0, {"a": 1}), Record(1, {"b": [1, 2]})]


def test_values_across_chunk_boundaries_arrive_whole(small_chunks):
    entries = [{"textPayload": "x" * n, "n": n} for n in range(40)]

    records = _read(json.dumps(entries, indent=2).encode())

    assert [r.value for r in records] == entries


def test_an_ndjson_line_across_chunk_boundaries_arrives_whole(small_chunks):
    lines = [json.dumps({"textPayload": "y" * n}) for n in range(30)]

    records = _read(("\n".join(lines) + "\n").encode())

    assert [r.value["textPayload"] for r in records] == [
        "y" * n for n in range(30)
    ]


def test_a_truncated_last_element_is_skipped_not_fatal():
    records = _read(b'[{"a": 1},\n {"b": 2},\n {"c": ')

    assert records[:2] == [Record(0, {"a": 1}), Record(1, {"b": 2})]
    assert isinstance(records[2], Skip)
    assert records[2].reason.startswith("record 3: malformed or truncated")


def test_a_malformed_element_is_skipped_and_reading_resumes():
    records = _read(b'[{"a": 1}, {"b": oops}, {"c": 3}]')

    assert records[0] == Record(0, {"a": 1})
    assert isinstance(records[1], Skip)
    assert records[2] == Record(2, {"c": 3})


def test_a_truncated_ndjson_line_names_its_line_number():
    records = _read(b'{"a": 1}\n\n{"b": 2}\n{"c": ')

    assert records[:2] == [Record(1, {"a": 1}), Record(3, {"b": 2})]
    assert records[2] == Skip(4, "line 4: malformed JSON (Expecting value)")


def test_deep_nesting_is_a_skip_not_a_crash():
    deep = b"[" * 100_000 + b"]" * 100_000

    records = _read(b'{"a": 1}\n' + deep + b"\n", fmt="ndjson")

    assert records[0] == Record(1, {"a": 1})
    assert records[1] == Skip(2, "line 2: JSON nested too deeply")


def test_invalid_utf8_is_replaced_and_the_next_line_still_read():
    records = _read(b'{"a": "\xff\xfe"}\n{"b": 2}\n')

    assert records == [
        Record(1, {"a": "\ufffd\ufffd"}),
        Record(2, {"b": 2}),
    ]


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"  \n[{}]", "json"),
        (b"\xef\xbb\xbf[{}]", "json"),
        (b'\n{"a": 1}\n', "ndjson"),
        (b"plain text\n", "lines"),
        (b"[\n  {}]", "json"),
        (b"[]", "json"),
        (b'["a"]', "json"),
        (b"[ERROR] payment failed\n", "lines"),
        (b"[2025-05-12 10:00:01] worker started\n", "lines"),
        (b"[ 12.5] usb 1-1: new device\n", "lines"),
        (b"[    0.000000] Linux version 6.1\n[    0.1] x\n", "lines"),
        (b"[true] flag set\n", "lines"),
        (b'[1, "text", null]', "json"),
        (b"[null]\n", "json"),
        (b"[[]]", "json"),
        (b"[]\n[\n  {}\n]\n", "json"),
        (b'[{"id": 1, "sku": "A"}] loaded catalogue\nERROR x\n', "lines"),
        (b'[{"textPayload": "a"}]\ntrailing\n', "json"),
        (b'[{"textPayload": oops}, {"textPayload": "b"}]', "json"),
        (b'[{"a": 1}, {"b": oops}]', "json"),
        (b'["a", oops]', "json"),
        (b'[{"textPayload": "a", "n": ' + b"9" * 5000 + b"}]", "json"),
        (b"[] INFO  c.e.App - Starting App\n", "lines"),
        (b"[ ] migrations pending\n", "lines"),
        (b"[1, 2, 3]\nnext line\n", "lines"),
        (b"[ { id: 1, name: 'a' } ]\n", "lines"),
        (b'[\n  {"textPayload": "a"},\n  {"textPa', "json"),
        (b'["' + b"x" * 70000, "json"),
        (b'[{"textPayload": "' + b"x" * 70000, "json"),
    ],
)
def test_the_format_is_detected_from_the_first_character(data, fmt):
    assert source._detect_format(data) == fmt


def test_binary_content_is_not_logs():
    with pytest.raises(LogReadError, match="not log text"):
        _read(b"\x00\x01\x02\x03" * 100)


def test_a_json_file_that_is_not_an_array_cannot_be_read_as_one():
    with pytest.raises(LogReadError, match="expected a JSON array"):
        _read(b'{"a": 1}', fmt="json")


def test_plain_lines_keep_their_numbers_and_drop_blank_lines():
    records = _read(b"first\r\n\n  \nsecond", fmt="lines")

    assert records == [Record(1, "first"), Record(4, "second")]


@pytest.mark.parametrize("offset", range(0, 40, 3))
def test_a_line_is_too_long_by_its_length_wherever_reads_fall(
    monkeypatch, offset
):
    # Reads of 16 bytes from where the first line ends: lines longer than
    # the limit of 100 are skipped, and only they, whatever the offset.
    monkeypatch.setattr(source, "_CHUNK", 16)
    monkeypatch.setattr(source, "_MAX_RECORD", 100)
    lengths = list(range(90, 140))
    text = "x" * offset + "\n" + "".join("y" * n + "\n" for n in lengths)
    stream = io.BytesIO(text.encode())
    stream.read(offset + 1)

    read = list(source._read_lines(b"", stream))

    assert [isinstance(r, Skip) for r in read] == [n > 100 for n in lengths]


def test_an_endless_last_line_is_too_long(monkeypatch):
    monkeypatch.setattr(source, "_CHUNK", 16)
    monkeypatch.setattr(source, "_MAX_RECORD", 100)
    stream = io.BytesIO(b"short\n" + b"z" * 1000)

    read = list(read_records(stream, "lines"))

    assert isinstance(read[0], Record)
    assert isinstance(read[1], Skip)
    assert len(read) == 2
