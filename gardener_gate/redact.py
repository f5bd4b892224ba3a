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
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gardener_gate.entry import HttpRequest, LogEntry
from gardener_gate.masking import blank_digits
from gardener_gate.rules.model import compile_pattern
from gardener_gate.stacktrace import find_trace

REDACTED = "<REDACTED>"

# Words that make a key secret, wherever they stand in it (db_pass,
# sessionToken, aws_secret_access_key); "auth" and "authorization", but
# not "author" or "authenticationInfo".
_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|"
    r"auth(?:orization|[_-]?token)?(?![a-z])|credential|cookie|session|"
    r"jwt|private[_-]?key|"
    r"access[_-]?key|account[_-]?key|signature|x-api-key"
)
_SECRET_WORD = re.compile(rf"(?i)(?:{_SECRET_WORDS})")
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
# Bounded parts keep the search linear on long runs of letters: a local
# part is at most 64 characters, a domain label 63 (RFC 5321). Letters of
# any script count, and %40 is an @ in a URL.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]{1,64}(?:@|%40)(?:[\w-]{1,63}\.){1,8}"
    r"[^\W\d_]{2,24}(?![\w-])"
)
_SERVICE_ACCOUNT = ".gserviceaccount.com"

# Key material without its PEM lines (a key printed line by line, where a
# line arrives apart from the rest; a JWK's base64url numbers): a run of
# base64 or base64url that holds lower and upper case and digits, and
# changes from one kind of character to another as random text does (at
# about 0.64 of its places; CamelCase words at 0.2). Paths are kept: a run
# right after a dot (a host: run.app/api/v1/user/9382dffx1kVZQ2), and one
# with slashes and no + (two key lines in three hold a +) that starts
# with a short part (/api/, /v1/) or holds a word between its slashes.
_BLOB_LENGTH = 32
_BLOB = re.compile(
    rf"(?<![\w+/.-])[\w+/-]{{{_BLOB_LENGTH},}}={{0,2}}(?![\w+/=-])", re.ASCII
)
_BLOB_CHANGES = 0.3
_KINDS = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/_-",
    "a" * 26 + "A" * 26 + "0" * 10 + "++++",
)
_BLOB_KINDS = (re.compile("[a-z]"), re.compile("[A-Z]"), re.compile("[0-9]"))
_PATH_LENGTH = 200
_PATH_HEAD = 12
_WORD = re.compile(r"[A-Z]?[a-z]{5,}|[A-Z]{6,}")


def _blob(found: re.Match[str]) -> str:
    run = found.group(0).rstrip("=")
    if _is_path(run):
        return found.group(0)
    if not all(kind.search(run) for kind in _BLOB_KINDS):
        return found.group(0)
    kinds = run.translate(_KINDS)
    changes = sum(1 for a, b in zip(kinds, kinds[1:], strict=False) if a != b)
    if changes < _BLOB_CHANGES * (len(kinds) - 1):
        return found.group(0)
    return REDACTED


def _is_path(run: str) -> bool:
    if "/" not in run or "+" in run or len(run) > _PATH_LENGTH:
        return False
    parts = run.split("/")
    # /api/..., /v1/...: a short first part after a leading slash.
    return (not parts[0] and len(parts[1]) <= _PATH_HEAD) or any(
        _WORD.fullmatch(part) for part in parts
    )


# Where each service token must start; the token pattern runs only on text
# holding one of them.
_TOKEN_PREFIXES = (
    "AKIA",
    "ASIA",
    "AGPA",
    "AIDA",
    "AROA",
    "ANPA",
    "AIza",
    "ya29.",
    "1//0",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "sk_",
    "rk_",
    "glpat-",
    "npm_",
    "SG.",
    "hooks.slack.com",
)

# Each pattern with the text that replaces it, and the words (|-separated)
# one of which a text must hold for the pattern to be tried; applied in
# this order.
_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(
            # Spaces may arrive encoded (+, %20) when a key sits in a URL.
            r"-----BEGIN[A-Z0-9 +%]{1,60}KEY(?:(?: |\+|%20)BLOCK)?-----"
            r"(.*?-----END[A-Z0-9 +%]{1,60}KEY(?:(?: |\+|%20)BLOCK)?-----|.*)",
            re.S,
        ),
        REDACTED,
        "KEY-----|BLOCK-----",
    ),
    (
        # Base64 DER of a key or certificate, without its PEM lines.
        re.compile(r"\bMII[A-Za-z0-9+/]{32,}={0,2}"),
        REDACTED,
        "MII",
    ),
    (
        re.compile(
            r"\beyJ[A-Za-z0-9_\-]{4,4096}\.[A-Za-z0-9_\-]{4,8192}"
            r"\.[A-Za-z0-9_\-]{0,4096}"
        ),
        "<JWT>",
        "eyJ",
    ),
    (
        re.compile(
            r"(?i)\b(bearer|basic|token)(\s{1,8})(?!<)"
            r"[A-Za-z0-9\-._~+/]{8,4096}"
            r"=*"
        ),
        r"\1\2" + REDACTED,
        "bearer|basic|token",
    ),
    (
        re.compile(
            r"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"
            r"|\bAIza[0-9A-Za-z_\-]{20,200}"
            r"|\bya29\.[0-9A-Za-z_\-.]{1,4096}"
            r"|\b1//0[0-9A-Za-z_\-]{8,1024}"
            r"|\bgh[pousr]_[A-Za-z0-9]{20,255}"
            r"|\bgithub_pat_[A-Za-z0-9_]{20,255}"
            r"|\bxox[abposr]-[A-Za-z0-9\-]{10,255}"
            r"|\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,255}"
            r"|\bglpat-[A-Za-z0-9_\-]{20,255}"
            r"|\bnpm_[A-Za-z0-9]{36}\b"
            r"|\bSG\.[A-Za-z0-9_\-]{16,64}\.[A-Za-z0-9_\-]{16,128}"
            r"|hooks\.slack\.com/services/[A-Za-z0-9/]{1,256}"
        ),
        REDACTED,
        "|".join(_TOKEN_PREFIXES),
    ),
    (
        # scheme://user:@host: a user name with an empty password.
        re.compile(
            r"\b([a-zA-Z][a-zA-Z0-9+.\-]{0,30}://)[^\s:/@<>]{1,256}(:@)"
        ),
        r"\1" + REDACTED + r"\2",
        ":@",
    ),
    (
        # scheme://user:password@host keeps the user and the host.
        re.compile(
            r"\b([a-zA-Z][a-zA-Z0-9+.\-]{0,30}://[^\s:/@<>]{0,256}:)"
            r"([^\s@/<>]{1,1024})(@)"
        ),
        r"\1" + REDACTED + r"\3",
        "://",
    ),
    (
        re.compile(
            r"(?i)([?&;](code|token|access_token|refresh_token|id_token|key|"
            r"api_key|apikey|sig|signature|password|pass|secret|"
            r"client_secret|auth|session|x-amz-signature|x-goog-signature)="
            r")(?!<)[^&\s#\"'<>]{1,4096}"
        ),
        r"\1" + REDACTED,
        "=",
    ),
)
# key=value and "key": "value" where the key names a secret: the word is
# found first, then what follows it is checked, which keeps the search
# linear; a quoted value goes whole, spaces and all.
_ASSIGNED = re.compile(
    r"[\w.\-]{0,40}([\"']?\s{0,4}[:=]\s{0,4})"
    r"(?![\"']?(?:<|(?i:bearer|basic|token)\s))"
    r"(\"[^\"]{0,4096}\"|'[^']{0,4096}'|[^\s\"',;&}\]]{1,4096})"
)


def _redact_assignments(text: str) -> str:
    parts = []
    done = 0
    for word in _SECRET_WORD.finditer(text):
        if word.start() < done:
            continue
        found = _ASSIGNED.match(text, word.end())
        if found is None:
            continue
        parts += [text[done : found.start(2)], REDACTED]
        done = found.end(2)
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


# A text holding none of these cannot match any pattern above, so most
# texts (ids, routes, plain messages) skip the patterns altogether. Each
# literal is where a pattern must start; the secret words are searched in
# the lower-cased text, which is far quicker than a case-blind pattern.
_LITERALS = (
    "KEY-----",
    "BLOCK-----",
    "MII",
    "eyJ",
    *_TOKEN_PREFIXES,
    "://",
    "@",
    "%40",
)
_SECRET_WORD_LOWER = re.compile(_SECRET_WORDS)


def _worth_scanning(text: str) -> bool:
    if any(literal in text for literal in _LITERALS):
        return True
    if "=" in text and ("?" in text or "&" in text or ";" in text):
        return True
    lower = text.lower()
    return (
        "bearer" in lower
        or "basic" in lower
        or _SECRET_WORD_LOWER.search(lower) is not None
    )


# The shipped patterns ask whether a character is a digit, never which one,
# but where these stand (ya29. and 1//0 of Google tokens, %40 and %20 of
# encoded e-mails and keys, and the lines of a PEM key): a text found clean
# makes every text that differs from it only in its digits clean, unless
# it holds one of them.
_DIGIT_MARKERS = (b"ya00.", b"0//0", b"%00", b"KEY-----")


def _has_marker(key: bytes) -> bool:
    # The key keeps the zero of a 0x apart (masking.blank_digits); the
    # markers are read with it as the digit it is (%40x, 1//0x).
    if b"\xff" in key:
        key = key.replace(b"\xff", b"0")
    return any(marker in key for marker in _DIGIT_MARKERS)


_CACHED_LENGTH = 512
_FLATTENED_CHARS = 4000
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
    # NFKC folds look-alikes (a fullwidth @, ligatures) into the plain
    # characters that patterns and clusters expect.
    return unicodedata.normalize("NFKC", text)


# The texts of an entry that outputs show, besides its message.
_SHOWN_TEXTS = (
    "insert_id",
    "log_name",
    "severity_raw",
    "revision",
    "instance",
    "version",
    "logger",
    "location_hint",
)


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
        # Texts with nothing to redact, their digits blanked (see below).
        self._clean: set[bytes] = set()

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

    def known_clean(self, digits: bytes) -> bool:
        """Whether a text whose digits blanked read ``digits`` was found
        to hold nothing to redact (so that all such texts hold nothing).
        """
        return not self._extra and digits in self._clean

    def _redact(self, text: str) -> str:
        if self._extra:
            # A team's own patterns may ask for particular digits.
            return self._scrub(text)
        key = blank_digits(text)
        if key in self._clean:
            return text
        redacted = self._scrub(text)
        if redacted == text and not _has_marker(key):
            if len(self._clean) >= _CACHE_SIZE:
                self._clean.clear()
            self._clean.add(key)
        return redacted

    def _scrub(self, text: str) -> str:
        text = clean_text(text)
        if self._extra or _worth_scanning(text):
            text = self._shipped(text)
        if len(text) >= _BLOB_LENGTH:
            text = _BLOB.sub(_blob, text)
        for extra in self._extra:
            text = extra.sub(REDACTED, text)
        return text

    def _shipped(self, text: str) -> str:
        lower = text.lower()
        for pattern, replacement, hints in _PATTERNS:
            if not any(
                hint in text or hint in lower for hint in hints.split("|")
            ):
                continue
            text = pattern.sub(replacement, text)
        if _SECRET_WORD_LOWER.search(text.lower()):
            text = _redact_assignments(text)
        if "@" in text or "%40" in text:
            text = _EMAIL.sub(self._email, text)
        return text

    def value(self, value: Any, key: str = "", depth: int = 0) -> Any:
        """Redact a JSON value: strings, and everything under secret keys."""
        if key and _SECRET_WORD.search(key):
            return REDACTED if value not in (None, "", [], {}) else value
        if key and _ADDRESS_KEY.match(key) and isinstance(value, str):
            return "<IP>"
        if isinstance(value, str):
            return self.text(value)
        if depth > 32:
            return REDACTED
        if isinstance(value, Mapping):
            return {
                self.text(str(k)): self.value(v, str(k), depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.value(v, "", depth + 1) for v in value]
        return value

    def entry(self, entry: LogEntry) -> LogEntry:
        """Redact every text field of an entry that an output can show.

        The trace id and the resource's service, project and location are
        never shown as they stand (the run reports its origin through its
        own redacted counts), so they are left as they are.
        """
        message = self.message(entry)
        # A trace is read again from the redacted text: its title, frames
        # and location are shown, and paths or exception names can hold
        # addresses and tokens as well as the message can.
        stack = find_trace(message) if entry.stack is not None else None
        changes: dict[str, Any] = {}
        if message != entry.message:
            changes["message"] = message
        for name in _SHOWN_TEXTS:
            value = getattr(entry, name)
            if value:
                redacted = self.text(value)
                if redacted != value:
                    changes[name] = redacted
        if not changes and (
            entry.flattened is None
            and stack is None
            and entry.http is None
            and entry.payload is None
            and not entry.labels
            and not entry.notes
        ):
            # A plain line with nothing to redact: most of a text log.
            return entry
        return dataclasses.replace(
            entry,
            **changes,
            notes=tuple(self.text(note) for note in entry.notes),
            flattened=None,
            labels=_Redacted(entry.labels, self) if entry.labels else {},
            payload=(
                None
                if entry.payload is None
                else _Redacted(entry.payload, self)
            ),
            http=None if entry.http is None else self._http(entry.http),
            stack=stack,
        )

    def message(self, entry: LogEntry) -> str:
        """The entry's message, redacted.

        A message written out from a JSON value is written again from the
        value redacted, so that secrets under secret keys go too.
        """
        if entry.flattened is None:
            return self.text(entry.message)
        shown = json.dumps(
            self.value(entry.flattened), sort_keys=True, ensure_ascii=False
        )
        return self.text(shown[:_FLATTENED_CHARS])

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
