"""Masking the variable parts of a message, so that a template remains.

Masks run in a fixed order, most specific first: a UUID must be masked
before its digit groups look like numbers, a URL before its path looks like
a file path. Placeholders left by redaction (``<EMAIL>``, ``<JWT>``,
``<REDACTED>``) are already masks and pass through unchanged.
"""

from __future__ import annotations

__all__ = [
    "MAX_TEMPLATE_INPUT",
    "blank_digits",
    "digit_key",
    "forget",
    "mask",
    "shape",
    "template_route",
]

import functools
import re
from urllib.parse import urlsplit

MAX_TEMPLATE_INPUT = 2000

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s\"'<>()\[\]{}|,]+")
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}\b"
)
_TLDS = (
    "com|net|org|edu|gov|mil|int|io|info|biz|co|us|uk|de|fr|nl|eu|jp|cn|ru"
    "|br|mx|au|ca|in|it|es|ch|se|no|pl|kr|tw|hk|sg|om|ar|za|local|internal"
)
_HOST = re.compile(
    rf"(?<![\w.@/<>-])(?:[A-Za-z0-9-]+\.)+(?:{_TLDS})(?![\w.-])",
    re.IGNORECASE,
)
_PATH = re.compile(r"(?<![\w:/.<>~-])(?:/[\w.\-~%@+{}]+)+/?")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])")
_IPV6 = re.compile(
    r"(?<![\w:])(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|"
    r"(?:[0-9a-fA-F]{1,4}:){1,7}:(?:[0-9a-fA-F]{1,4}:){0,6}[0-9a-fA-F]{0,4}|"
    r"::(?:[0-9a-fA-F]{1,4}:){0,6}[0-9a-fA-F]{1,4})(?![\w:])"
)
_DURATION = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|min|mins|"
    r"minutes?|h|hrs?|hours?)(?![\w])"
)
_SIZE = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?(?:[kKMGT]i?B|[kKMGT]|B|bytes)(?![\w])"
)
_HEX = re.compile(
    r"\b0x[0-9a-fA-F]+\b|(?<![\w])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])"
    r"[0-9a-fA-F]{8,}(?![\w])"
)
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9])(?<!\d\.)[-+]?\d+(?:[.,]\d+)*(?![A-Za-z0-9]|\.\d)"
)
_SPACED_SIZE = re.compile(r"<NUM> (?:[kKMGT]i?B|B|bytes)(?![\w])")
_TIME = re.compile(
    r"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? )?"
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2},? "
    r"\d{1,2}:\d\d:\d\d(?:\.\d+)?(?: \d{4})?"
    r"|\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?"
    r"|\b\d{1,2}:\d\d:\d\d(?:[.,]\d+)?\b"
)
_METHOD = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\b")
_SPACE = re.compile(r"\s{2,}|[^\S ]")
# What a match of _HOST, _TIME, _DURATION or _SIZE, _HEX and _METHOD holds.
_HOST_HINT = re.compile(rf"\.(?:{_TLDS})(?![\w.-])", re.IGNORECASE)
_HEX_HINT = re.compile(r"0x|[0-9a-fA-F]{8}")
_TIME_HINT = re.compile(r"\d:\d\d:\d\d")
_UNIT_HINT = re.compile(r"\d(?:\s?[nuµmsh]|[kKMGTBb])")
_METHOD_HINT = re.compile(r"GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS")
_RANDOM_LETTERS = 16
_CAMEL_CASE = re.compile(
    r"(?:[a-z]+|[A-Z]+[a-z]{2,})(?:[A-Z]+[a-z]{2,})*[A-Z]*"
)
_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8,}|(?=.*\d)[\w\-]{6,}|(?=.*\d)(?=.*[A-Za-z])"
    r"[\w\-=.~]{12,})$"
)


def mask(text: str) -> str:
    """Return the template of ``text``: variables masked, spaces folded."""
    text = text[:MAX_TEMPLATE_INPUT]
    key = digit_key(text)
    if key is None:
        return _mask(text)
    known = _BY_DIGITS.get(key)
    if known is not None:
        return known
    template = _mask(text)
    if _DIGIT.search(template) is None:
        if len(_BY_DIGITS) >= _CACHE_SIZE:
            _BY_DIGITS.clear()
        _BY_DIGITS[key] = template
    return template


# Every mask but the 0x of hex numbers asks whether a character is a
# digit, never which digit, so texts that differ only in their digits are
# masked alike; when no digit is left in the template ("Order <NUM>
# paid"), it is the template of all of them, found by a table lookup
# instead of a dozen pattern passes. The zero of a 0x is kept apart as a
# byte UTF-8 never holds, so that 0x1f and 7x1f differ in their keys.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_DIGIT = re.compile(r"[0-9]")


def blank_digits(text: str) -> bytes:
    """``text`` as UTF-8 with every digit a 0, but the 0 of a 0x."""
    raw = text.encode("utf-8", "surrogatepass")
    # A search for one character is a third of one for two.
    if "x" in text or "X" in text:
        raw = raw.replace(b"0x", b"\xffx").replace(b"0X", b"\xffX")
    return raw.translate(_DIGITS_AS_ZERO)


def digit_key(text: str) -> bytes | None:
    """``text`` with its digits blanked, or None where masking asks which
    digit stands somewhere, so that the texts sharing it are masked alike.
    """
    if "[" in text and "://" in text:
        # urlsplit checks a bracketed host's address by its value.
        return None
    return blank_digits(text)


_CACHE_SIZE = 50_000
_BY_DIGITS: dict[bytes, str] = {}


def forget() -> None:
    """Empty the caches of templates, as a new process starts."""
    _BY_DIGITS.clear()
    _mask.cache_clear()
    shape.cache_clear()


# Logs repeat their messages word for word ("Application startup
# complete."); each distinct text is masked once.
@functools.lru_cache(maxsize=_CACHE_SIZE)
def _mask(text: str) -> str:
    # A mask runs only where its hint shows that it can match: a pattern
    # tried at every position costs more than a scan for the hint.
    if "://" in text:
        text = _URL.sub(_url_template, text)
    if "-" in text:
        text = _UUID.sub("<UUID>", text)
    if "::" in text or text.count(":") >= 7:
        text = _IPV6.sub(_ipv6, text)
    if "." in text:
        text = _IPV4.sub("<IP>", text)
    if "." in text and _HOST_HINT.search(text):
        text = _HOST.sub("<HOST>", text)
    if "/" in text:
        text = _PATH.sub("<PATH>", text)
    if ":" in text and _TIME_HINT.search(text):
        text = _TIME.sub("<TIME>", text)
    if _UNIT_HINT.search(text):
        text = _DURATION.sub("<DURATION>", text)
        text = _SIZE.sub("<NUM>", text)
    if _HEX_HINT.search(text):
        text = _HEX.sub("<HEX>", text)
    text = _NUMBER.sub("<NUM>", text)
    if "<NUM> " in text:
        text = _SPACED_SIZE.sub("<NUM>", text)
    if _METHOD_HINT.search(text):
        text = _METHOD.sub("<METHOD>", text)
    if "  " in text or not text.isprintable():
        # Every blank but the space is unprintable.
        text = _SPACE.sub(" ", text)
    return text.strip()


_PLACEHOLDER = re.compile(r"<[A-Z*]+>")
# An empty value where a variable usually stands: "connection from <IP> ()".
_EMPTY_VALUES = frozenset({"()", "[]", "{}", '""', "''"})
# true, false and null are values, whatever key they stand under.
_LITERALS = frozenset({"true", "false", "null"})
_KEY_LITERAL = re.compile(
    r"^([\w.\[\]-]+[:=])(true|false|null|none|nil)([,;)\]]?)$", re.I
)
_QUOTED = re.compile(r"\"[^\"]{0,200}\"|'[^']{0,200}'")


@functools.lru_cache(maxsize=50_000)
def shape(template: str) -> str:
    """What a template groups on: every variable part one ``<*>``.

    A token that holds a placeholder (``node-<NUM>``, ``vis=<HEX>``) is a
    variable as a whole, keeping only a ``key=`` in front; quoted text is
    a value; runs of repeated variables fold into one, so that a list of
    three nodes and a list of five give the same shape.
    """
    if "'" in template or '"' in template:
        template = _QUOTED.sub("<*>", template)
    tokens: list[str] = []
    for token in template.split(" "):
        if token in _EMPTY_VALUES or token.lower() in _LITERALS:
            token = "<*>"
        elif "<" in token and _PLACEHOLDER.search(token):
            head, sign, _ = token.partition("=")
            token = f"{head}=<*>" if sign and "<" not in head else "<*>"
        else:
            token = _literal_value(token)
        if not tokens or token != tokens[-1] or "<*>" not in token:
            tokens.append(token)
    return " ".join(_fold_repeats(tokens))


def _literal_value(token: str) -> str:
    found = _KEY_LITERAL.match(token)
    return f"{found.group(1)}<*>{found.group(3)}" if found else token


def _fold_repeats(tokens: list[str]) -> list[str]:
    for width in (2, 3):
        folded: list[str] = []
        for token in tokens:
            folded.append(token)
            if (
                len(folded) >= 2 * width
                and folded[-width:] == folded[-2 * width : -width]
                and any("<*>" in t for t in folded[-width:])
            ):
                del folded[-width:]
        tokens = folded
    return tokens


@functools.lru_cache(maxsize=50_000)
def template_route(url: str) -> str:
    """The path of a URL with ids as ``{id}`` (UUIDs as ``{uuid}``)."""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    path = path.split("#", 1)[0] or "/"
    return "/".join(_segment(part) for part in path.split("/"))


def _segment(part: str) -> str:
    if _UUID.fullmatch(part):
        return "{uuid}"
    if part.startswith("<") and part.endswith(">"):
        return "{id}"
    if _ID_SEGMENT.match(part) and not _is_file_name(part):
        return "{id}"
    if (
        len(part) >= _RANDOM_LETTERS
        and part.isascii()
        and part.isalpha()
        and not part.isupper()
        and not _CAMEL_CASE.fullmatch(part)
    ):
        # An id of letters alone (one Firestore id of 20 in 30 has no
        # digit): mixed case, but not words (GetHTTPUserSettings).
        return "{id}"
    return part


def _is_file_name(part: str) -> bool:
    stem, dot, extension = part.rpartition(".")
    return (
        bool(dot)
        and extension.isalpha()
        and not any(c.isdigit() for c in stem)
    )


def _ipv6(found: re.Match[str]) -> str:
    # Words such as "cafe::beef" are valid IPv6 too; an address has digits
    # in at least two of its groups (fe80::1, 2001:db8::17).
    groups = [g for g in found.group(0).split(":") if g]
    with_digits = sum(1 for g in groups if any(c.isdigit() for c in g))
    compressed = found.group(0).startswith("::") and with_digits
    return "<IP>" if with_digits >= 2 or compressed else found.group(0)


def _url_template(found: re.Match[str]) -> str:
    url = found.group(0).rstrip(".,;:!?")
    tail = found.group(0)[len(url) :]
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<URL>" + tail
    if _IPV4.fullmatch(host) or ":" in host:
        host = "<IP>"
    route = template_route(parts.path) if parts.path else ""
    return f"{parts.scheme}://{host}{route}{tail}"
