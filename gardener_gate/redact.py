"""Removing secrets and personal data before anything else sees the text.

Redaction keeps the text readable: a secret is replaced where it stood, so
``postgresql://orders:S3cret@db`` becomes ``postgresql://orders:<REDACTED>@db``
and the message still clusters with its siblings. The same pass normalises
the text (NFC, no invisible or direction-override characters, no ANSI
escapes or control characters, no lone surrogates), so that look-alike
variants of one message form one cluster and every output is valid UTF-8.
"""

from __future__ import annotations

__all__ = [
    "REDACTED",
    "Redactor",
    "clean_text",
]

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gardener_gate.entry import HttpRequest, LogEntry
from gardener_gate.rules.model import compile_pattern

REDACTED = "<REDACTED>"

_SECRET_KEY = re.compile(
    r"(?i)(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|"
    r"authorization|cookie|session|credential|private[_-]?key|"
    r"access[_-]?key|account[_-]?key|signature|x-api-key)"
)
_ADDRESS_KEY = re.compile(
    r"(?i)^(caller_?ip|remote_?ip|client_?ip|"
    r"x-forwarded-for|x-real-ip)$"
)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?")
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+\.)+[A-Za-z]{2,}")
_SERVICE_ACCOUNT = ".gserviceaccount.com"

# Each pattern with the text that replaces it; applied in this order.
_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----"
            r"(.*?-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|.*)",
            re.S,
        ),
        REDACTED,
        "PRIVATE KEY",
    ),
    (
        re.compile(
            r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"
        ),
        "<JWT>",
        "eyJ",
    ),
    (
        re.compile(
            r"(?i)\b(bearer|basic|token)(\s+)(?!<)[A-Za-z0-9\-._~+/]{8,}=*"
        ),
        r"\1\2" + REDACTED,
        "",
    ),
    (
        re.compile(
            r"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"
            r"|\bAIza[0-9A-Za-z_\-]{20,}"
            r"|\bya29\.[0-9A-Za-z_\-.]+"
            r"|\b1//0[0-9A-Za-z_\-]{8,}"
            r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
            r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
            r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"
            r"|\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,}"
            r"|\bglpat-[A-Za-z0-9_\-]{20,}"
            r"|\bnpm_[A-Za-z0-9]{36}\b"
        ),
        REDACTED,
        "",
    ),
    (
        # scheme://user:password@host keeps the user and the host.
        re.compile(
            r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@<>]*:)([^\s@/<>]+)(@)"
        ),
        r"\1" + REDACTED + r"\3",
        "://",
    ),
    (
        re.compile(
            r"(?i)([?&;](code|token|access_token|refresh_token|id_token|key|"
            r"api_key|apikey|sig|signature|password|pass|secret|"
            r"client_secret|auth|session|x-amz-signature|x-goog-signature)="
            r")(?!<)[^&\s#\"'<>]+"
        ),
        r"\1" + REDACTED,
        "=",
    ),
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|apikey|"
            r"access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|"
            r"client[_-]?secret|account[_-]?key|sharedaccesskey|private[_-]?key"
            r"|authorization|x-api-key)"
            r"([\"']?\s*[:=]\s*[\"']?)(?!<|(?i:bearer|basic|token)\s)"
            r"([^\s\"',;&}\]]+)"
        ),
        r"\1\2" + REDACTED,
        "",
    ),
)


# Any text that holds none of these needs no pattern run over it.
def _scoped(pattern: str) -> str:
    if pattern.startswith("(?i)"):
        return f"(?i:{pattern[4:]})"
    return f"(?:{pattern})"


_TRIGGER = re.compile(
    "|".join(_scoped(pattern.pattern) for pattern, _, _ in _PATTERNS) + "|@",
    re.S,
)
_CACHED_LENGTH = 512
_CACHE_SIZE = 50_000


def clean_text(text: str) -> str:
    """Normalise text so that it is valid, visible, comparable UTF-8."""
    if text.isascii():
        if text.isprintable():
            return text
        text = _ANSI.sub("", text)
        return _CONTROL.sub("", text.replace("\r\n", "\n"))
    text = _SURROGATE.sub("\ufffd", text)
    text = _ANSI.sub("", text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n"))
    return unicodedata.normalize("NFC", text)


class Redactor:
    """Applies the shipped patterns, then the rules' own (RE2) patterns."""

    def __init__(
        self,
        extra: Iterable[str] = (),
        redact_service_accounts: bool = False,
    ) -> None:
        self._extra = [compile_pattern(pattern) for pattern in extra]
        self._keep_service_accounts = not redact_service_accounts
        # Revision names, loggers, user agents and templates repeat in
        # every entry; each is redacted once.
        self._cache: dict[str, str] = {}

    def text(self, text: str) -> str:
        """Redact one string."""
        if len(text) <= _CACHED_LENGTH:
            known = self._cache.get(text)
            if known is not None:
                return known
            redacted = self._redact(text)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[text] = redacted
            return redacted
        return self._redact(text)

    def _redact(self, text: str) -> str:
        text = clean_text(text)
        if not self._extra and not _TRIGGER.search(text):
            return text
        for pattern, replacement, hint in _PATTERNS:
            if hint and hint not in text:
                continue
            text = pattern.sub(replacement, text)
        if "@" in text:
            text = _EMAIL.sub(self._email, text)
        for extra in self._extra:
            text = extra.sub(REDACTED, text)
        return text

    def value(self, value: Any, key: str = "", depth: int = 0) -> Any:
        """Redact a JSON value: strings, and everything under secret keys."""
        if key and _SECRET_KEY.search(key):
            return REDACTED if value not in (None, "", [], {}) else value
        if key and _ADDRESS_KEY.match(key) and isinstance(value, str):
            return "<IP>"
        if isinstance(value, str):
            return self.text(value)
        if depth > 32:
            return REDACTED
        if isinstance(value, Mapping):
            return {
                clean_text(str(k)): self.value(v, str(k), depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.value(v, "", depth + 1) for v in value]
        return value

    def entry(self, entry: LogEntry) -> LogEntry:
        """Redact every text field of an entry."""
        stack = entry.stack
        if stack is not None:
            stack = dataclasses.replace(
                stack, message=self.text(stack.message)
            )
        return dataclasses.replace(
            entry,
            insert_id=self.text(entry.insert_id),
            log_name=self.text(entry.log_name),
            severity_raw=self.text(entry.severity_raw),
            revision=self._optional(entry.revision),
            service=self._optional(entry.service),
            location=self._optional(entry.location),
            project=self._optional(entry.project),
            instance=self._optional(entry.instance),
            trace_id=self._optional(entry.trace_id),
            version=self._optional(entry.version),
            notes=tuple(self.text(note) for note in entry.notes),
            message=self.text(entry.message),
            labels=_Redacted(entry.labels, self) if entry.labels else {},
            payload=(
                None
                if entry.payload is None
                else _Redacted(entry.payload, self)
            ),
            http=None if entry.http is None else self._http(entry.http),
            logger=self._optional(entry.logger),
            location_hint=self._optional(entry.location_hint),
            stack=stack,
        )

    def _optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def _http(self, http: HttpRequest) -> HttpRequest:
        return dataclasses.replace(
            http,
            method=self.text(http.method),
            url=self.text(http.url),
            user_agent=self.text(http.user_agent),
            notes=tuple(self.text(note) for note in http.notes),
        )

    def _email(self, found: re.Match[str]) -> str:
        address = found.group(0)
        if self._keep_service_accounts and address.endswith(_SERVICE_ACCOUNT):
            return address
        return "<EMAIL>"


class _Redacted(Mapping[str, Any]):
    """A payload redacted when first read.

    Only the few entries kept as samples are ever read whole; redacting
    every payload up front cost more than the rest of the gate together.
    """

    __slots__ = ("_raw", "_redactor", "_done")

    def __init__(self, raw: Mapping[str, Any], redactor: Redactor) -> None:
        self._raw = raw
        self._redactor = redactor
        self._done: dict[str, Any] | None = None

    def _redacted(self) -> dict[str, Any]:
        if self._done is None:
            self._done = self._redactor.value(dict(self._raw))
            self._raw = {}
        return self._done

    def __getitem__(self, key: str) -> Any:
        return self._redacted()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._redacted())

    def __len__(self) -> int:
        return len(self._redacted())
