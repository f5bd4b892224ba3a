"""The GitHub Actions runner: its environment, outputs, summary, notes.

Workflow commands (``::error::`` and the like) are how a step talks to the
runner; a log line that printed one could open a fake annotation, set an
output or mask text. Everything printed here is escaped as the runner
expects, so that no text from the logs can act as a command.
"""

from __future__ import annotations

__all__ = [
    "Runner",
    "escape_data",
    "escape_property",
]

import json
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

# GitHub rejects a job summary over 1 MiB; keep a margin for other steps.
SUMMARY_LIMIT = 1_000_000


def escape_data(text: str) -> str:
    """Escape the message of a workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property (``title=...``) of a workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass(frozen=True, slots=True)
class Runner:
    """What the runner tells a step through its environment."""

    env: Mapping[str, str]
    console: TextIO | None = None

    @property
    def event(self) -> dict[str, Any]:
        """The event payload, or an empty one when there is none."""
        path = self.env.get("GITHUB_EVENT_PATH")
        if not path:
            return {}
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.warning(f"could not read the event payload at {path}")
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Append step outputs, each safe for any text it holds."""
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            return
        lines = []
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        self._append(path, "".join(lines))

    def add_summary(self, markdown: str) -> None:
        """Append to the job summary, kept under GitHub's limit."""
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if path:
            self._append(path, markdown[:SUMMARY_LIMIT])

    def annotate(self, level: str, title: str, message: str) -> None:
        """An ``error``, ``warning`` or ``notice`` annotation."""
        title = escape_property(title)
        print(
            f"::{level} title={title}::{escape_data(message)}",
            file=self.console or sys.stdout,
        )

    def notice(self, message: str) -> None:
        """A notice line in the log and on the run's page."""
        print(
            f"::notice::{escape_data(message)}",
            file=self.console or sys.stdout,
        )

    def warning(self, message: str) -> None:
        """A warning line in the log and on the run's page."""
        print(
            f"::warning::{escape_data(message)}",
            file=self.console or sys.stdout,
        )

    def _append(self, path: str, text: str) -> None:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            self.warning(f"could not write {path}: {exc.strerror or exc}")
