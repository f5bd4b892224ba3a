"""Exit codes and one-line messages of the command line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from conftest import CASES

STAGING = CASES / "staging-3day" / "input.json"


def _rules(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "team.yaml").write_text(text)
    return folder


def test_invalid_rules_exit_2_before_reading_any_log(gate, tmp_path):
    folder = _rules(
        tmp_path, "version: 1\nsignatures:\n  - id: x\n    match: 3\n"
    )

    result = gate("run", "--logs", "missing.json", "--rules", str(folder))

    assert result.code == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{folder / 'team.yaml'}:4: signatures[0].match:")
    assert "Traceback" not in result.stderr
    assert not result.out.exists()


def test_rules_check_prints_one_line_per_problem(gate, tmp_path):
    folder = _rules(
        tmp_path,
        "version: 1\nsignatures:\n  - id: x\n    match: {kind: log}\n"
        "    mystery: 1\n",
    )

    result = gate("rules", "check", "--rules", str(folder))

    assert result.code == 2
    assert result.stderr.splitlines()[:2] == [
        f"{folder / 'team.yaml'}:4: signatures[0].match.kind: 'log' is not "
        "one of: message, http, trace, audit",
        f"{folder / 'team.yaml'}:5: signatures[0].mystery: unknown key "
        "(allowed: accept, id, match, priority, title)",
    ]


def test_rules_check_counts_what_it_loaded(gate, tmp_path):
    folder = _rules(
        tmp_path,
        "version: 1\nsignatures:\n  - id: x\n    match: {status: 404}\n",
    )

    result = gate("rules", "check", "--rules", str(folder))

    assert result.code == 0
    assert result.stdout == (
        "rules ok: 1 rules file(s), 0 threshold(s) (+10 shipped), "
        "1 signature(s)\n"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 20,
        b"[1, 2, 3]",
        b'[{"foo": 1}, {"bar": 2}]',
        b'{"name": "not a log"}\n{"other": true}\n',
    ],
)
def test_a_file_that_is_not_logs_exits_3_with_one_line(
    gate, tmp_path, content
):
    path = tmp_path / "not-logs.bin"
    path.write_bytes(content)

    result = gate("run", "--logs", str(path))

    assert result.code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_missing_file_exits_3(gate):
    result = gate("run", "--logs", "nowhere.json")

    assert result.code == 3
    assert "nowhere.json: cannot open" in result.stderr


@pytest.mark.parametrize("content", [b"", b"[]", b"  \n", b"[\n]\n"])
def test_empty_input_is_no_data_and_warns(gate, tmp_path, content):
    path = tmp_path / "empty.json"
    path.write_bytes(content)

    result = gate("run", "--logs", str(path))

    assert result.code == 0
    assert result.worklog["verdict"] == "warn"
    assert result.worklog["clusters"] == []
    assert "no log entries in the selected window" in result.markdown


def test_the_no_data_policy_can_fail_the_run(gate, tmp_path):
    path = tmp_path / "empty.json"
    path.write_bytes(b"[]")
    folder = _rules(tmp_path, "version: 1\npolicy: {no_data: fail}\n")

    result = gate("run", "--logs", str(path), "--rules", str(folder))

    assert result.code == 1
    assert result.worklog["verdict"] == "fail"


def test_dry_run_reports_a_failure_but_exits_0(gate):
    result = gate("run", "--logs", str(STAGING), "--dry-run")

    assert result.code == 0
    assert result.worklog["verdict"] == "fail"
    assert result.stdout.startswith("gardener-gate: FAIL:")


@pytest.mark.parametrize(
    ("fail_on", "code"), [("P0", 0), ("P1", 1), ("p2", 1), ("P10", 1)]
)
def test_fail_on_moves_the_threshold(gate, fail_on, code):
    result = gate("run", "--logs", str(STAGING), "--fail-on", fail_on)

    assert result.code == code
    assert result.worklog["threshold"] == fail_on.upper()


@pytest.mark.parametrize(
    "args",
    [
        ["--window", "three days"],
        ["--window", "0d"],
        ["--until", "yesterday"],
        ["--fail-on", "P11"],
        ["--format", "xml"],
    ],
)
def test_bad_options_exit_2(gate, args):
    with pytest.raises(SystemExit) as raised:
        result = gate("run", "--logs", str(STAGING), *args)
        raise SystemExit(result.code)

    assert raised.value.code == 2


def test_logs_can_come_from_standard_input(gate, monkeypatch):
    data = STAGING.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    result = gate("run", "--logs", "-")

    assert result.code == 1
    assert result.worklog["entries"]["read"] == 628


def test_the_window_counts_entries_outside_it(gate):
    result = gate(
        "run",
        "--logs",
        str(STAGING),
        "--until",
        "2025-05-14T00:00:00Z",
        "--window",
        "1d",
    )

    entries = result.worklog["entries"]
    window = result.worklog["source"]["window"]
    assert window == {
        "start": "2025-05-13T00:00:00Z",
        "end": "2025-05-14T00:00:00Z",
        "given": True,
    }
    assert entries["outside_window"] > 0
    assert entries["analysed"] == 628 - entries["outside_window"]
    for cluster in result.worklog["clusters"]:
        assert cluster["first_seen"] >= "2025-05-13T00:00:00"
        assert cluster["last_seen"] < "2025-05-14T00:00:00"


def test_worklog_json_is_valid_and_names_its_schema(gate):
    result = gate("run", "--logs", str(STAGING))

    data = json.loads((result.out / "worklog.json").read_bytes())
    assert data["schema_version"] == 1
    assert data["threshold"] == "P2"
    assert data["partial"] is False
    for cluster in data["clusters"]:
        assert cluster["id"].startswith("c1-")
        assert cluster["first_seen"].endswith("Z")
