"""Recognising stack traces in text, and what ended them."""

from __future__ import annotations

__all__ = [
    "INCOMPLETE",
    "Frame",
    "StackTrace",
    "find_trace",
    "is_chain_marker",
    "is_exception_line",
    "is_trace_continuation",
    "is_trace_start",
]

import re
from dataclasses import dataclass

INCOMPLETE = "(traceback cut short)"
_PY_START = "Traceback (most recent call last):"
_PY_FRAME = re.compile(
    r'^[ \t]+File "([^"]{1,1024})", line (\d{1,9}), in (.+)$'
)
_PY_FRAME_ANYWHERE = re.compile(r'^[ \t]+File "[^"\n]{1,1024}", line \d', re.M)
_PY_CHAIN = (
    "During handling of the above exception",
    "The above exception was the direct cause",
)
_PY_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
_JAVA_FRAME = re.compile(r"^\s+at ([\w$.<>/]+)\.([\w$<>]+)\(([^)]*)\)")
_JAVA_CAUSE = re.compile(r"^Caused by: ([\w$.]+)(?::\s?(.*))?$")
_JAVA_HEAD = re.compile(
    r'^(?:Exception in thread "[^"]*" )?([a-z][\w$]*(?:\.[\w$]+)+)'
    r"(?::\s?(.*))?$"
)
_NODE_FRAME = re.compile(r"^\s+at (?:(.+?) \()?(.+?):(\d+):\d+\)?$")
_NODE_HEAD = re.compile(r"^([A-Z][\w$]*(?:Error|Exception))(?::\s?(.*))?$")
_GO_PANIC = re.compile(r"^panic: (.*)$")
_GO_FILE = re.compile(r"^\t(\S+\.go):(\d+)")

_LIBRARY_PATHS = (
    "site-packages",
    "dist-packages",
    "/lib/python",
    "<frozen",
    "node_modules",
    "node:internal",
    "internal/",
    "/usr/lib/",
    "/usr/local/go/",
    "runtime/",
)
_LIBRARY_PACKAGES = (
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.",
    "kotlin.",
    "scala.",
    "org.springframework.",
    "org.apache.",
    "io.netty.",
    "reactor.",
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a stack trace."""

    file: str
    line: int
    function: str

    @property
    def is_app(self) -> bool:
        """Whether the frame is in the application's own code."""
        if any(part in self.file for part in _LIBRARY_PATHS):
            return False
        return not self.function.startswith(_LIBRARY_PACKAGES)


@dataclass(frozen=True, slots=True)
class StackTrace:
    """What a trace says: the exception that ended it, and its frames.

    ``frames`` run outermost first, as Python prints them.
    """

    exception: str
    message: str
    frames: tuple[Frame, ...]

    @property
    def culprit(self) -> Frame | None:
        """The innermost frame in the application's own code."""
        for frame in reversed(self.frames):
            if frame.is_app:
                return frame
        return self.frames[-1] if self.frames else None


def is_trace_start(line: str) -> bool:
    """Whether a line opens a Python traceback."""
    return line.strip() == _PY_START


def is_trace_continuation(line: str) -> bool:
    """Whether a line can sit inside a traceback after its first line."""
    return (
        not line.strip()
        or line[:1] in (" ", "\t")
        or line.startswith(_PY_CHAIN)
        or is_trace_start(line)
    )


def is_chain_marker(line: str) -> bool:
    """Whether a line joins a traceback to the one that caused it."""
    return not line.strip() or line.startswith(_PY_CHAIN)


def is_exception_line(line: str) -> bool:
    """Whether a line names an exception, as the last line of a trace."""
    return bool(_PY_EXCEPTION.match(line)) and not line[:1].isspace()


def find_trace(text: str) -> StackTrace | None:
    """Parse the stack trace in ``text``, if it holds one."""
    if _PY_START in text or _PY_FRAME_ANYWHERE.search(text):
        return _parse_python(text)
    lines = text.splitlines()
    if any(_JAVA_FRAME.match(line) for line in lines[1:6]):
        return _parse_java_or_node(lines)
    if text.startswith("panic: ") or "\ngoroutine " in text:
        return _parse_go(lines)
    return None


def _parse_python(text: str) -> StackTrace | None:
    start = text.rfind(_PY_START)
    block = text if start < 0 else text[start + len(_PY_START) :]
    frames: list[Frame] = []
    exception = message = ""
    for line in block.splitlines():
        frame = _PY_FRAME.match(line)
        if frame:
            frames.append(
                Frame(
                    frame.group(1), int(frame.group(2)), frame.group(3).strip()
                )
            )
            continue
        if not line.strip() or line[:1].isspace():
            continue
        found = _PY_EXCEPTION.match(line)
        if found and not exception:
            exception, message = found.group(1), found.group(2) or ""
    if not exception:
        if not frames and start < 0:
            return None
        # The exception line never arrived (a cut-off or interleaved
        # trace); the frames still say where it happened.
        exception = INCOMPLETE
    return StackTrace(exception, message, tuple(frames))


def _parse_java_or_node(lines: list[str]) -> StackTrace | None:
    exception = message = ""
    frames: list[Frame] = []
    for line in lines:
        cause = _JAVA_CAUSE.match(line) or (
            None if exception else _JAVA_HEAD.match(line)
        )
        head = None if exception else _NODE_HEAD.match(line)
        found = cause or head
        if found:
            exception, message = found.group(1), found.group(2) or ""
            frames = []
            continue
        java = _JAVA_FRAME.match(line)
        if java:
            frames.append(
                Frame(java.group(3), 0, f"{java.group(1)}.{java.group(2)}")
            )
            continue
        node = _NODE_FRAME.match(line)
        if node:
            frames.append(
                Frame(node.group(2), int(node.group(3)), node.group(1) or "")
            )
    if not exception:
        return None
    # Java and Node print the innermost frame first.
    return StackTrace(exception, message, tuple(reversed(frames)))


def _parse_go(lines: list[str]) -> StackTrace | None:
    message = ""
    frames: list[Frame] = []
    function = ""
    for line in lines:
        panic = _GO_PANIC.match(line)
        if panic and not message:
            message = panic.group(1)
            continue
        where = _GO_FILE.match(line)
        if where and function:
            frames.append(Frame(where.group(1), int(where.group(2)), function))
            function = ""
        elif line and not line[0].isspace() and "(" in line:
            function = line.split("(", 1)[0]
    if not message and not frames:
        return None
    return StackTrace("panic", message, tuple(reversed(frames)))
