"""Exit codes and one-line messages of the command line."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CASES, rules_folder

STAGING = CASES / "staging-3day" / "input.json"


def _rules(tmp_path: Path, text: str) -> Path:
    return rules_folder(tmp_path, text)


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
        f"1 signature(s) in {folder}\n"
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
        "hours": 24.0,
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


def test_a_placeholder_reason_passes_but_is_warned_about(gate, tmp_path):
    first = gate("run", "--logs", str(STAGING))
    block = first.markdown.split("## Accept all new and expired clusters")[1]
    block = block.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    folder = rules_folder(tmp_path, block, name="accepted.yaml")

    result = gate("run", "--logs", str(STAGING), "--rules", str(folder))
    check = gate("rules", "check", "--rules", str(folder))

    assert result.code == 0
    warnings = [
        line for line in result.stderr.splitlines() if "placeholder" in line
    ]
    assert len(warnings) == 14
    assert warnings[0].startswith(
        f"gardener-gate: warning: {folder / 'accepted.yaml'}:3: "
    )
    assert check.code == 0
    assert check.stderr.count("is still the placeholder") == 14


def test_an_accepted_cluster_shows_why_it_was_accepted(gate, tmp_path):
    folder = _rules(
        tmp_path,
        "version: 1\nsignatures:\n  - id: probes\n    match: {status: 404}\n"
        "    accept:\n      reason: monitoring calls endpoints we never built"
        "\n      owner: '@platform'\n",
    )

    result = gate("run", "--logs", str(STAGING), "--rules", str(folder))

    assert (
        "- **Accepted because:** `monitoring calls endpoints we never "
        "built` (`@platform`)"
    ) in result.markdown


def test_an_expired_acceptance_is_warned_about_by_rules_check(gate, tmp_path):
    folder = _rules(
        tmp_path,
        "version: 1\nsignatures:\n  - id: probes\n    match: {status: 404}\n"
        "    accept: {reason: probes, expires: 2026-01-31}\n",
    )

    result = gate("rules", "check", "--rules", str(folder))

    assert result.code == 0
    assert result.stderr == (
        f"gardener-gate: warning: {folder / 'team.yaml'}:3: probes: "
        "accept.expires ran out on 2026-01-31\n"
    )


def test_an_out_that_is_a_file_exits_2_with_one_line(gate, tmp_path):
    target = tmp_path / "taken.json"
    target.write_text("{}")

    result = gate("run", "--logs", str(STAGING), "--out", str(target))

    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        f"gardener-gate: error: --out {target}: this is a file; give a "
        "folder for the worklog"
    ]


def test_a_failed_run_leaves_no_earlier_worklog_behind(gate, tmp_path):
    out = tmp_path / "out"
    first = gate("run", "--logs", str(STAGING), "--out", str(out))

    second = gate(
        "run", "--logs", str(STAGING), "--revision", "nope", "--out", str(out)
    )

    assert first.code == 1
    assert second.code == 3
    assert not (out / "worklog.md").exists()
    assert not (out / "worklog.json").exists()


def test_dry_run_says_so(gate):
    result = gate("run", "--logs", str(STAGING), "--dry-run")

    assert result.stdout.splitlines()[-1] == (
        "gardener-gate: dry run: exit 0 although the gate failed"
    )


def test_verbose_may_follow_the_command(gate):
    result = gate("run", "-vv", "--logs", str(STAGING))

    assert result.code == 1
    assert "DEBUG gardener_gate.verdict: cluster=" in result.stderr


def test_gzip_compressed_logs_are_read(gate, tmp_path):
    path = tmp_path / "logs.json.gz"
    path.write_bytes(gzip.compress(STAGING.read_bytes()))

    result = gate("run", "--logs", str(path))

    assert result.code == 1
    assert result.worklog["entries"]["events"] == 622


def test_a_gzip_file_cut_short_is_partial_and_exits_3(gate, tmp_path):
    entries = [
        {"textPayload": f"line {n}", "timestamp": "2025-05-12T00:00:00Z"}
        for n in range(50_000)
    ]
    packed = gzip.compress("\n".join(map(json.dumps, entries)).encode())
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(packed[: len(packed) // 2])

    result = gate("run", "--logs", str(path))

    assert result.code == 3
    assert result.worklog["partial"].startswith(
        "the file could not be read to its end"
    )
    assert 0 < result.worklog["entries"]["read"] < 50_000


def test_hidden_files_in_the_rules_folder_are_not_read(gate, tmp_path):
    folder = _rules(tmp_path, "version: 1\n")
    (folder / ".draft.yaml").write_text("not: [valid")

    result = gate("rules", "check", "--rules", str(folder))

    assert result.code == 0


def test_rules_check_says_when_there_is_no_rules_folder(gate):
    result = gate("rules", "check")

    assert result.code == 0
    assert result.stdout.endswith(
        "(no rules/ folder here: shipped defaults only)\n"
    )


def test_placeholder_reasons_are_called_out_in_the_worklog(gate, tmp_path):
    first = gate("run", "--logs", str(STAGING))
    block = first.markdown.split("## Accept all new and expired clusters")[1]
    folder = rules_folder(
        tmp_path,
        block.split("```yaml\n", 1)[1].split("\n```", 1)[0],
        name="a.yaml",
    )

    result = gate("run", "--logs", str(STAGING), "--rules", str(folder))

    assert result.code == 0
    assert len(result.worklog["warnings"]) == 14
    assert "**14 rules need attention**" in result.markdown
    assert (
        "accepted without a reason yet: write one in its rule"
        in result.markdown
    )


def test_a_dry_run_says_so_in_the_worklog(gate):
    result = gate("run", "--logs", str(STAGING), "--dry-run")

    assert result.worklog["dry_run"] is True
    assert "> **Dry run:** the job passes whatever the verdict says." in (
        result.markdown
    )


def test_revision_auto_needs_cloud_logging(gate):
    result = gate("run", "--logs", str(STAGING), "--revision", "auto")

    assert result.code == 2
    assert "--revision auto" in result.stderr


def test_a_usage_error_leaves_an_earlier_worklog_alone(gate, tmp_path):
    out = tmp_path / "kept"
    gate("run", "--logs", str(STAGING), "--out", str(out))

    result = gate(
        "run", "--logs", str(STAGING), "--window", "3x", "--out", str(out)
    )

    assert result.code == 2
    assert (out / "worklog.json").exists()


def test_http_snippets_pin_tools_by_name_and_never_browsers(gate):
    result = gate("run", "--logs", str(STAGING))

    probes = yaml.safe_load(result.cluster(http_status=404)["accept_snippet"])
    outage = yaml.safe_load(result.cluster(http_status=503)["accept_snippet"])
    assert probes[0]["match"]["user_agent"] == "python-httpx/*"
    assert "user_agent" not in outage[0]["match"]


def test_a_window_without_entries_still_names_the_service(gate):
    result = gate(
        "run",
        "--logs",
        str(CASES / "staging-3day" / "input.json"),
        "--window",
        "3d",
    )

    assert result.worklog["verdict"] == "warn"
    assert result.worklog["entries"]["analysed"] == 0
    assert result.worklog["source"]["service"] == "orders-api"
    assert result.markdown.startswith("# gardener-gate worklog: `orders-api`")
