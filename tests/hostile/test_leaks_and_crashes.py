"""Inputs that once leaked a secret, crashed, or broke the Markdown.

Each leak file comes with a canary: a string that must appear in no output
(worklog.md, worklog.json, stdout, stderr, with debug logging on).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
LEAKS = sorted((DATA / "leaks").glob("*.ndjson"))
CRASHES = sorted((DATA / "crashes").glob("*"))


@pytest.mark.parametrize("logs", LEAKS, ids=lambda p: p.stem)
def test_no_canary_reaches_any_output(gate, tmp_path, logs):
    canary = logs.with_suffix(".canary").read_text().strip()
    out = tmp_path / "out"

    result = gate("-vv", "run", "--logs", str(logs), "--out", str(out))

    assert result.code in (0, 1), result.stderr[-2000:]
    for text in (
        (out / "worklog.md").read_text("utf-8"),
        (out / "worklog.json").read_text("utf-8"),
        result.stdout,
        result.stderr,
    ):
        assert canary not in text


@pytest.mark.parametrize("logs", CRASHES, ids=lambda p: p.name)
def test_odd_input_is_read_without_a_crash(gate, logs):
    result = gate("run", "--logs", str(logs))

    assert "Traceback" not in result.stderr
    if result.code == 3:
        # A file whose only record cannot be read is not logs.
        assert len(result.stderr.strip().splitlines()) == 1
        return
    assert result.code in (0, 1), result.stderr[-2000:]
    text = (result.out / "worklog.json").read_text("utf-8")
    json.loads(text, parse_constant=_refuse)
    assert not any(
        ch in result.markdown for ch in ("\x00", "\x1b", "\x07", "\u202e")
    )


def _refuse(name: str) -> None:
    raise AssertionError(f"worklog.json holds {name}, which is not JSON")
