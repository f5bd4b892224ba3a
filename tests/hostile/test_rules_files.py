"""Hostile rules files: exit 2 with located problems, never a crash."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CASES, rules_folder

RULES = Path(__file__).parent / "data" / "rules"
VALID = {"catastrophic", "status_float"}
FOLDERS = sorted(p for p in RULES.iterdir() if p.is_dir())
PROBLEM = re.compile(r"^.+:\d+: \S.*: .+$")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_each_rules_folder_is_checked_without_a_crash(gate, folder):
    result = gate("rules", "check", "--rules", str(folder))

    assert "Traceback" not in result.stderr
    if folder.name in VALID:
        assert result.code == 0, result.stderr
        return
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].endswith("nothing was read")
    for line in lines[:-1]:
        assert PROBLEM.match(line), line
        assert line.isprintable()


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("(a+)+$", "a" * 50_000 + "!"),
        ("(x+x+)+y", "x" * 50_000),
        ("(.*a){20}", "a" * 50_000),
        ("^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 50_000 + "!"),
    ],
)
def test_catastrophic_patterns_run_in_linear_time(tmp_path, pattern, text):
    rules = rules_folder(
        tmp_path,
        "version: 1\nsignatures:\n  - id: evil\n    match:\n"
        f"      message: {json.dumps(pattern)}\n",
        name="r.yaml",
    )
    logs = tmp_path / "logs.json"
    logs.write_text(
        json.dumps([{"textPayload": text, "severity": "ERROR"}] * 3)
    )

    # A separate process with a generous bound: a backtracking engine
    # would not finish these in hours; RE2 takes well under a second.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gardener_gate",
            "run",
            "--logs",
            str(logs),
            "--rules",
            str(rules),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        timeout=120,
    )

    assert done.returncode in (0, 1), done.stderr


def test_a_float_status_matches_its_integer(gate):
    logs = CASES / "staging-3day" / "input.json"

    result = gate(
        "run", "--logs", str(logs), "--rules", str(RULES / "status_float")
    )

    assert result.code in (0, 1)
    assert "Traceback" not in result.stderr
