"""Real third-party logs, fed as plain lines, give a worklog."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import DATA

SYSTEMS = sorted(p.name for p in (DATA / "loghub-2k").iterdir() if p.is_dir())


def _contents(system: str) -> list[str]:
    path = (
        DATA
        / "loghub-2k"
        / system
        / f"{system}_2k.log_structured_corrected.csv"
    )
    with path.open(newline="", encoding="utf-8") as handle:
        return [row["Content"] for row in csv.DictReader(handle)]


@pytest.mark.parametrize("system", SYSTEMS)
def test_each_loghub_system_gives_a_worklog(gate, tmp_path, system):
    lines = _contents(system)
    path = tmp_path / f"{system}.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = gate("run", "--logs", str(path), "--format", "lines")

    assert result.code in (0, 1), result.stderr
    assert result.stderr == ""
    entries = result.worklog["entries"]
    blank = sum(1 for line in lines if not line.strip())
    assert entries["read"] == len(lines) - blank
    assert (
        sum(c["count"] for c in result.worklog["clusters"])
        == entries["events"]
    )
    assert 1 <= len(result.worklog["clusters"]) < entries["events"]
    assert result.markdown.startswith("# gardener-gate worklog")


def test_the_corpus_holds_eleven_systems():
    assert len(SYSTEMS) == 11
    assert Path(DATA / "loghub-2k" / "README.md").exists()
