"""Putting untrusted log text into Markdown so that it stays inert.

Everything that comes from a log goes into a code span or a fenced block:
there, GitHub renders no HTML, image or link, pings no mention and links no
issue. A fence is always longer than any run of backticks inside it, so
that no log line can close it.
"""

from __future__ import annotations

__all__ = [
    "code",
    "fenced",
    "table",
]

import re

_BACKTICKS = re.compile(r"`+")
# GitHub's renderer takes no code-span fence longer than 80 backticks, so a
# long run in log text could end a span early; runs are cut to three.
_LONG_RUN = re.compile(r"`{4,}")


def _longest_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def code(text: str, in_table: bool = False) -> str:
    """An inline code span holding ``text`` on one line."""
    text = text.replace("\r", " ").replace("\n", " ⏎ ")
    text = _LONG_RUN.sub("```", text)
    if in_table:
        text = text.replace("|", "\\|")
    if not text:
        return "` `"
    fence = "`" * (_longest_run(text) + 1)
    if text.startswith(("`", " ")) or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def fenced(text: str, language: str = "") -> str:
    """A fenced block holding ``text``, whatever backticks it contains."""
    fence = "`" * max(3, _longest_run(text) + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; cells must already be safe (see ``code``)."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)
