"""Reading log records from a file or standard input.

A record is one parsed JSON value (an entry as Cloud Logging writes it) or
one line of text. Records that cannot be parsed become ``Skip`` values with
a reason, so that the caller can count them; nothing is dropped silently.
"""

from __future__ import annotations

__all__ = [
    "FORMATS",
    "SPLIT_BYTES",
    "FileSource",
    "Record",
    "Skip",
    "read_records",
]

import codecs
import contextlib
import gzip
import io
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from gardener_gate.entry import looks_like_entry
from gardener_gate.errors import LogReadError

FORMATS = ("auto", "json", "ndjson", "lines")

_CHUNK = 1 << 20
# One entry of Cloud Logging is at most 256 KB; far beyond that a record is
# either garbage or an unterminated value, and reading on would only load
# the rest of the file into memory.
_MAX_RECORD = 64 << 20
_SNIFF = 64 << 10
# How near the end of a cut-off start a JSON value may break and be taken
# for cut there ("traceSampled": tr, "\u00).
_CUT_SLACK = 16
_JSON_OBJECT = re.compile(r'\{\s*["}]')
# From this size on, a file of newline-delimited JSON is read in two halves
# at once (see ``FileSource.halves``).
SPLIT_BYTES = 32 << 20
_GZIP_MAGIC = b"\x1f\x8b"
# Strings whole (so that brackets inside them are skipped), and brackets.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],]')
_decoder = json.JSONDecoder()


# Not frozen: one is built per line read, and a frozen dataclass is slow to
# build; nothing changes a record once built.
@dataclass(slots=True)
class Record:
    """One parsed record; ``position`` is its line (1-based) or index."""

    position: int
    value: object
    label: str = field(default="", compare=False)

    @property
    def where(self) -> str:
        """How a message names the record: ``line 9`` or ``record 3``."""
        return self.label or f"record {self.position + 1}"


@dataclass(slots=True)
class Skip:
    """A record that could not be parsed, and why."""

    position: int
    reason: str


class FileSource:
    """Records from a file, or from standard input for ``-``."""

    kind = "file"

    def __init__(self, path: str, fmt: str = "auto") -> None:
        self.name = path
        self.fmt = fmt
        self.partial: str | None = None

    def records(self) -> Iterator[Record | Skip]:
        """Yield the file's records.

        Raises:
            LogReadError: the file cannot be opened or is not logs.
        """
        with _open(self.name) as stream:
            try:
                yield from read_records(stream, self.fmt, self.name)
            except (OSError, EOFError) as exc:
                # A compressed file cut short, or a disk fault: what was
                # read stands, and the run says it is partial.
                self.partial = f"the file could not be read to its end ({exc})"

    def halves(self) -> int | None:
        """Where to cut a large file of newline-delimited JSON in two.

        The offset just past the newline nearest the middle, or None when
        the file is better read whole: standard input, other formats,
        compressed or small files, or no newline past the middle.
        """
        if self.name == "-" or self.fmt not in ("auto", "ndjson"):
            return None
        try:
            with open(self.name, "rb") as stream:
                facts = os.fstat(stream.fileno())
                if not stat.S_ISREG(facts.st_mode):
                    return None
                if facts.st_size < SPLIT_BYTES:
                    return None
                head = stream.read(_SNIFF)
                if head.startswith(_GZIP_MAGIC) or (
                    _detect_format(head) != "ndjson"
                ):
                    return None
                cut = _middle(facts.st_size)
                stream.seek(cut)
                while cut < facts.st_size:
                    chunk = stream.read(_CHUNK)
                    found = chunk.find(b"\n")
                    if found >= 0:
                        return cut + found + 1
                    cut += len(chunk)
                    if not chunk:
                        break
        except OSError:
            return None
        return None

    def records_between(
        self, start: int, end: int | None
    ) -> Iterator[Record | Skip]:
        """Yield the records of the file's bytes from ``start`` to ``end``.

        ``start`` is 0 or just past a newline; lines are numbered as in
        the whole file.
        """
        with _open(self.name) as stream:
            try:
                if start == 0:
                    sniffed = stream.read(_SNIFF)
                    stream.seek(0)
                    yield from read_records(
                        cast(BinaryIO, _Bounded(stream, end)),
                        self.fmt,
                        self.name,
                        sniffed,
                    )
                    return
                first = 1 + _count_lines(stream, start)
                stream.seek(start)
                bounded = cast(BinaryIO, _Bounded(stream, end))
                yield from _read_ndjson(b"", bounded, first)
            except (OSError, EOFError) as exc:
                self.partial = f"the file could not be read to its end ({exc})"


def _middle(size: int) -> int:
    return size // 2


def _count_lines(stream: BinaryIO, end: int) -> int:
    stream.seek(0)
    lines = 0
    while end > 0:
        chunk = stream.read(min(_CHUNK << 3, end))
        if not chunk:
            break
        lines += chunk.count(b"\n")
        end -= len(chunk)
    return lines


class _Bounded:
    """A stream that ends at an offset of the file it reads."""

    def __init__(self, stream: BinaryIO, end: int | None) -> None:
        self._stream = stream
        self._left = None if end is None else end - stream.tell()

    def read(self, size: int = -1) -> bytes:
        if self._left is None:
            return self._stream.read(size)
        if size < 0 or size > self._left:
            size = self._left
        data = self._stream.read(size)
        self._left -= len(data)
        return data


@contextlib.contextmanager
def _open(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        if sys.stdin is None or sys.stdin.closed:
            raise LogReadError("standard input is closed; give --logs FILE")
        yield sys.stdin.buffer
        return
    try:
        stream = open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise LogReadError(
            f"{name}: cannot open ({exc.strerror or exc}); check the path "
            "given to --logs"
        ) from None
    with stream:
        yield stream


def read_records(
    stream: BinaryIO,
    fmt: str = "auto",
    name: str = "input",
    sniffed: bytes | None = None,
) -> Iterator[Record | Skip]:
    """Yield the records of ``stream`` in file order.

    Bytes that are not UTF-8 are replaced with U+FFFD, never fatal.
    ``sniffed``: the first bytes of the whole file, when ``stream`` is its
    first half, so that text and format are judged as for the whole.

    Raises:
        LogReadError: the input is not text, or not the format asked for.
    """
    head = _past_blanks(stream.read(_SNIFF), stream)
    if head.startswith(_GZIP_MAGIC):
        # Log exports are often kept compressed; read them as they are.
        stream = cast(
            BinaryIO, gzip.GzipFile(fileobj=_Rewound(head, stream), mode="rb")
        )
        try:
            head = _past_blanks(stream.read(_SNIFF), stream)
        except (OSError, EOFError) as exc:
            raise LogReadError(f"{name}: damaged gzip file ({exc})") from None
    judged = head if sniffed is None else sniffed
    _check_is_text(judged, name)
    if fmt == "auto":
        fmt = _detect_format(judged)
    if fmt == "json":
        return _read_json_array(head, stream, name)
    if fmt == "ndjson":
        return _read_ndjson(head, stream)
    return _read_lines(head, stream)


class _Rewound(io.RawIOBase):
    """A stream whose first bytes were already read, put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _json_record(position: int, value: object, where: str) -> Record | Skip:
    # A bare string in a JSON file is not an entry; plain text lines are
    # read by the lines format, where strings are the records.
    if isinstance(value, str):
        return Skip(position, f"{where}: not a log entry (a JSON string)")
    return Record(position, value, where)


def _past_blanks(head: bytes, stream: BinaryIO) -> bytes:
    # Read past leading blank space, so that the format is told by what
    # follows it; each read is looked at once.
    if not head or head.strip():
        return head
    parts, size = [head], len(head)
    while size < _MAX_RECORD:
        more = stream.read(_SNIFF)
        if not more:
            break
        parts.append(more)
        size += len(more)
        if more.strip():
            break
    return b"".join(parts)


def _check_is_text(head: bytes, name: str) -> None:
    if not head:
        return
    text = head.decode("utf-8", errors="replace")
    # Text logs may hold a few bad bytes (replaced, read on) but not many
    # control characters or a mostly undecodable start.
    control = sum(1 for c in text if c < " " and c not in "\t\n\r\x1b")
    replaced = text.count("\ufffd")
    if control > len(text) * 0.05 or replaced > len(text) * 0.3:
        raise LogReadError(
            f"{name}: this is not log text (binary content); give a JSON "
            "array, newline-delimited JSON or plain text lines"
        )


def _detect_format(head: bytes) -> str:
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if stripped.startswith(b"["):
        cut_off = len(head) >= _SNIFF
        return "json" if _opens_array(stripped[1:], cut_off) else "lines"
    if stripped.startswith(b"{"):
        return "ndjson"
    return "lines"


def _opens_array(after: bytes, cut_off: bool) -> bool:
    # A text line may start with a bracket too ("[ERROR] payment failed",
    # "[] INFO App - started", "[    0.000000] Linux version", a printed
    # list or a JavaScript object). An array is a log entry first, or
    # JSON values up to a closing bracket that ends the text or opens
    # another array; once a value was read, damage is the array's (it is
    # skipped and counted). A first value that breaks is JSON damage
    # when it is an object ({" or {}), or when it breaks where the text
    # read is cut off (a long file; a first entry longer than that).
    text = after.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    at = _skip_blank(text, 0)
    first = True
    while at < len(text):
        if text.startswith("]", at):
            rest = text[at + 1 :].lstrip()
            return not rest or rest.startswith("[")
        begin = at
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as fault:
            cut = cut_off and (
                fault.pos >= len(text) - _CUT_SLACK
                or fault.msg.startswith("Unterminated string")
            )
            return not first or cut or bool(_JSON_OBJECT.match(text, begin))
        except (ValueError, RecursionError):
            # Too deep, or a number too long: JSON all the same.
            return True
        if first and isinstance(value, dict) and looks_like_entry(value):
            return True
        first = False
        at = _skip_blank(text, at)
        if text.startswith(",", at):
            at = _skip_blank(text, at + 1)
        elif not text.startswith("]", at):
            return cut_off and at >= len(text)
    return True


def _skip_blank(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _iter_lines(head: bytes, stream: BinaryIO) -> Iterator[bytes | None]:
    """The lines of the stream; None stands for a line past the limit.

    A line is past the limit by its length alone, wherever reads begin
    and end (the second half of a file starts reading elsewhere).
    """
    pending = [head.removeprefix(b"\xef\xbb\xbf")]
    size = len(pending[0])
    # Bytes of the current line already let go of.
    dropped = 0
    chunk = pending[0]
    while True:
        if b"\n" in chunk:
            *lines, rest = b"".join(pending).split(b"\n")
            for line in lines:
                yield None if dropped + len(line) > _MAX_RECORD else line
                dropped = 0
            pending, size = [rest], len(rest)
        if size > _MAX_RECORD:
            # Keep no more of an endless line than it takes to skip it.
            dropped += size
            pending, size = [], 0
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        pending.append(chunk)
        size += len(chunk)
    tail = b"".join(pending)
    if tail or dropped:
        yield None if dropped + len(tail) > _MAX_RECORD else tail


def _read_ndjson(
    head: bytes, stream: BinaryIO, first: int = 1
) -> Iterator[Record | Skip]:
    for number, raw in enumerate(_iter_lines(head, stream), start=first):
        if raw is None:
            yield Skip(number, f"line {number}: longer than 64 MiB")
            continue
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skip(number, f"line {number}: malformed JSON ({exc.msg})")
            continue
        except ValueError:
            # Python refuses integers of more than 4300 digits.
            yield Skip(number, f"line {number}: a number too long to read")
            continue
        except RecursionError:
            yield Skip(number, f"line {number}: JSON nested too deeply")
            continue
        yield _json_record(number, value, f"line {number}")


def _read_lines(head: bytes, stream: BinaryIO) -> Iterator[Record | Skip]:
    for number, raw in enumerate(_iter_lines(head, stream), start=1):
        if raw is None:
            yield Skip(number, f"line {number}: longer than 64 MiB")
            continue
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        if line.strip():
            yield Record(number, line, f"line {number}")


def _read_json_array(
    head: bytes, stream: BinaryIO, name: str
) -> Iterator[Record | Skip]:
    reader = _ArrayReader(head, stream)
    if not reader.buffer.startswith("["):
        raise LogReadError(f"{name}: expected a JSON array of log entries")
    reader.pos = 1
    return reader.records()


class _ArrayReader:
    """Decodes one element of a JSON array at a time.

    The standard library has no incremental array parser, and a whole
    ``gcloud logging read`` dump can be far larger than memory should hold;
    decoding element by element with ``raw_decode`` keeps memory bounded
    and lets one malformed element be skipped instead of the whole file.
    """

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._stream = stream
        self._decode = codecs.getincrementaldecoder("utf-8")(
            errors="replace"
        ).decode
        self.buffer = self._decode(head).lstrip("\ufeff \t\r\n")
        self.pos = 0
        self._eof = False

    def records(self) -> Iterator[Record | Skip]:
        index = 0
        while True:
            self._fill(self.pos + _CHUNK)
            self._skip_space()
            if self.pos >= len(self.buffer):
                return
            if self.buffer[self.pos] == "]":
                # Dumps appended to one file (>>) are arrays in a row.
                self.pos += 1
                self._fill(self.pos + 1)
                self._skip_space()
                if self.pos >= len(self.buffer):
                    return
                if self.buffer[self.pos] != "[":
                    yield Skip(index, "content after the end of the array")
                    return
                self.pos += 1
                continue
            value, problem = self._decode_element()
            if problem is None:
                yield _json_record(index, value, f"record {index + 1}")
            else:
                yield Skip(index, f"record {index + 1}: {problem}")
                if not self._resync():
                    return
            index += 1
            if self.pos > _CHUNK:
                self.buffer = self.buffer[self.pos :]
                self.pos = 0

    def _fill(self, minimum: int) -> bool:
        while not self._eof and len(self.buffer) < minimum:
            chunk = self._stream.read(_CHUNK)
            self._eof = not chunk
            self.buffer += self._decode(chunk, final=self._eof)
        return len(self.buffer) >= minimum

    def _skip_space(self) -> None:
        while (
            self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n"
        ):
            self.pos += 1

    def _decode_element(self) -> tuple[object, str | None]:
        ahead = _CHUNK
        while True:
            try:
                value, end = _decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                # A value cut by the chunk boundary fails like a malformed
                # one; only more input tells them apart.
                if ahead < _MAX_RECORD and self._fill(len(self.buffer) + 1):
                    self._fill(len(self.buffer) + ahead)
                    ahead *= 2
                    continue
                return None, f"malformed or truncated JSON ({exc.msg})"
            except RecursionError:
                return None, "JSON nested too deeply"
            except ValueError:
                # Python refuses integers of more than 4300 digits.
                return None, "a number too long to read"
            self.pos = end
            self._skip_space()
            if self.pos < len(self.buffer) and self.buffer[self.pos] == ",":
                self.pos += 1
            return value, None

    def _resync(self) -> bool:
        """Skip past the element that failed, whatever it holds.

        Brackets are counted outside strings, so that objects nested in the
        broken element are never taken for entries of the array.
        """
        depth = 0
        position = self.pos
        while True:
            for found in _STRUCTURE.finditer(self.buffer, position):
                mark = found.group(0)
                if mark[0] == '"':
                    continue
                if mark in "{[":
                    depth += 1
                elif mark in "}]":
                    depth -= 1
                if depth < 0 or (depth == 0 and mark in ",}]"):
                    # The end of the array, or of the broken element.
                    self.pos = found.start() if depth < 0 else found.end()
                    self._skip_space()
                    if self.buffer[self.pos : self.pos + 1] == ",":
                        self.pos += 1
                    return True
                position = found.end()
            position = max(position, len(self.buffer) - 1)
            if not self._fill(len(self.buffer) + _CHUNK):
                return False
