"""Loghub's labelled samples: each line's message and its true group."""

from __future__ import annotations

import csv
from pathlib import Path


def systems(folder: Path) -> list[str]:
    """The systems in a folder laid out as loghub-2k is."""
    return sorted(
        path.name
        for path in folder.iterdir()
        if (path / f"{path.name}_2k.log_structured_corrected.csv").exists()
    )


def labelled_lines(folder: Path, system: str) -> tuple[list[str], list[str]]:
    """The ``Content`` and ``EventId`` columns of one system."""
    path = folder / system / f"{system}_2k.log_structured_corrected.csv"
    return read_columns(path)


def read_columns(path: Path) -> tuple[list[str], list[str]]:
    """``Content`` and ``EventId`` of any Loghub structured CSV."""
    contents: list[str] = []
    events: list[str] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            contents.append(row["Content"])
            events.append(row["EventId"])
    return contents, events
