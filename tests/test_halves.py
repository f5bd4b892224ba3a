"""A large file read as two halves at once gives what one pass gives.

The size from which a file is split is lowered to one byte here, so that
the cases' small files are split too, and where the cut falls is moved
line by line across files whose traces arrived split over entries.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, rules_folder

from gardener_gate import beside, pipeline, source
from gardener_gate.source import FileSource

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods()
    or (os.cpu_count() or 1) < 2,
    reason="halves are read at once only with fork and two processors",
)


@pytest.fixture(autouse=True)
def _fork_beside_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other tests leave fake servers' threads idle in this process; the
    # gate itself forks only when it runs no other thread.
    monkeypatch.setattr(beside, "_other_threads", lambda: False)
    assert beside.can_fork()


CASES = DATA / "cases"
SPLIT_CASES = sorted(
    path
    for path in (*CASES.glob("*/input*.json"), *CASES.glob("*/input*.ndjson"))
    if path.stat().st_size > 10
)


def _as_ndjson(path: Path, out: Path) -> Path:
    if path.suffix == ".ndjson":
        return path
    entries = json.loads(path.read_text("utf-8"))
    out.write_text(
        "".join(json.dumps(entry) + "\n" for entry in entries), "utf-8"
    )
    return out


def _comparable(worklog: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in worklog.items() if k != "generated_at"}


@pytest.fixture
def whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Split every file, and note each file read whole instead."""
    monkeypatch.setattr(source, "SPLIT_BYTES", 1)
    reads: list[str] = []
    records = FileSource.records

    def noted(self: FileSource) -> Iterator[Any]:
        reads.append(self.name)
        return records(self)

    monkeypatch.setattr(FileSource, "records", noted)
    return reads


def _one_pass(gate: Any, logs: Path) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "SPLIT_BYTES", 1 << 62)
        return gate("run", "--logs", str(logs))


@pytest.mark.parametrize(
    "case", SPLIT_CASES, ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_halves_give_the_worklog_of_one_pass(gate, tmp_path, case):
    logs = _as_ndjson(case, tmp_path / "logs.ndjson")
    whole = _one_pass(gate, logs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "SPLIT_BYTES", 1)
        halves = gate("run", "--logs", str(logs))

    assert halves.code == whole.code
    assert halves.stderr == whole.stderr
    assert _comparable(halves.worklog) == _comparable(whole.worklog)


def _line_ends(path: Path) -> list[int]:
    ends, offset = [], 0
    for line in path.read_bytes().splitlines(keepends=True):
        offset += len(line)
        ends.append(offset)
    return ends


@pytest.mark.parametrize(
    ("case", "cuts"),
    [("py-traceback-split-lines", 1), ("staging-3day", 40)],
)
def test_a_cut_anywhere_gives_the_worklog_of_one_pass(
    gate, tmp_path, monkeypatch, whole_reads, case, cuts
):
    logs = _as_ndjson(CASES / case / "input.json", tmp_path / "logs.ndjson")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "SPLIT_BYTES", 1 << 62)
        whole = gate("run", "--logs", str(logs))
    whole_reads.clear()
    ends = _line_ends(logs)[:-1:cuts]
    assert len(ends) > 10

    for end in ends:
        # The cut falls just past the newline at end - 1.
        monkeypatch.setattr(source, "_middle", lambda size, at=end: at - 1)
        halves = gate("run", "--logs", str(logs))

        assert _comparable(halves.worklog) == _comparable(whole.worklog), end
    assert whole_reads == []


def _entry(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "insertId": f"id-{number}",
        "timestamp": f"2025-05-12T10:{number // 6000 % 60:02}:"
        f"{number // 100 % 60:02}.{number % 100:02}0000Z",
        "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
        "resource": {"labels": {"revision_name": "api-00001-abc"}},
        "labels": {"instanceId": "instance-1"},
        **fields,
    }


def _write(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), "utf-8")
    return path


def _duplicate_across_the_cut() -> list[dict[str, Any]]:
    entries = [
        _entry(n, textPayload=f"ERROR: job {n} failed") for n in range(40)
    ]
    return [*entries, entries[3]]


def _long_run_of_text_lines() -> list[dict[str, Any]]:
    # One instance writing a text line every 10 ms: one run, longer than
    # the part of it the second half may set aside.
    return [
        _entry(n, textPayload=f"worker tick {n}", severity="INFO")
        for n in range(1500)
    ]


def _many_revisions() -> list[dict[str, Any]]:
    return [
        _entry(
            n,
            textPayload="ERROR: boom",
            resource={"labels": {"revision_name": f"api-{n:05}-abc"}},
        )
        for n in range(120)
    ]


@pytest.mark.parametrize(
    "entries",
    [_duplicate_across_the_cut, _long_run_of_text_lines, _many_revisions],
    ids=lambda make: make.__name__.strip("_"),
)
def test_halves_that_cannot_join_exactly_mean_one_pass(
    gate, tmp_path, whole_reads, entries
):
    logs = _write(tmp_path / "logs.ndjson", entries())
    whole = _one_pass(gate, logs)
    whole_reads.clear()

    halves = gate("run", "--logs", str(logs))

    assert whole_reads == [str(logs)]
    assert _comparable(halves.worklog) == _comparable(whole.worklog)


def test_a_file_of_like_halves_is_not_read_whole(gate, tmp_path, whole_reads):
    entries = [
        _entry(
            n,
            jsonPayload={"message": f"order {n} failed", "level": "error"},
        )
        for n in range(200)
    ]
    logs = _write(tmp_path / "orders.ndjson", entries)

    halves = gate("run", "--logs", str(logs))

    assert whole_reads == []
    assert halves.worklog["entries"]["read"] == 200
    (cluster,) = halves.worklog["clusters"]
    assert cluster["count"] == 200


TRACE = (
    "Traceback (most recent call last):",
    '  File "/app/orders/api.py", line 88, in create_order',
    "    total = pricing.compute_total(cart)",
    '  File "/app/orders/pricing.py", line 41, in compute_total',
    "    rate = TAX_RATES[cart.region]",
    "KeyError: 'zone'",
)


def test_a_trace_cut_in_two_is_joined_whatever_follows_it(
    gate, tmp_path, monkeypatch, whole_reads
):
    # The stream goes on after the trace: the second half closes the run
    # it began with, and must hand it over rather than read it alone.
    entries = []
    for hour in (9, 10, 11):
        for line, text in enumerate(TRACE):
            entries.append(
                _entry(
                    len(entries),
                    textPayload=text,
                    timestamp=f"2025-05-12T{hour:02}:00:00.{line:06}Z",
                )
            )
    logs = _write(tmp_path / "traces.ndjson", entries)
    whole = _one_pass(gate, logs)
    (cluster,) = whole.worklog["clusters"]
    assert cluster["count"] == 3
    whole_reads.clear()

    for end in _line_ends(logs)[:-1]:
        monkeypatch.setattr(source, "_middle", lambda size, at=end: at - 1)
        halves = gate("run", "--logs", str(logs))

        assert _comparable(halves.worklog) == _comparable(whole.worklog), end
    assert whole_reads == []


def test_work_beside_gives_its_result_or_none_when_it_fails():
    assert beside.Beside(lambda: {"read": 3}).result() == {"read": 3}

    def fails() -> None:
        raise ValueError("a fault in the second half")

    def dies() -> None:
        os._exit(3)

    assert beside.Beside(fails).result() is None
    assert beside.Beside(dies).result() is None


def test_a_second_half_that_fails_leaves_the_file_read_whole(
    gate, tmp_path, monkeypatch, whole_reads
):
    logs = _as_ndjson(
        CASES / "staging-3day" / "input.json", tmp_path / "logs.ndjson"
    )
    whole = _one_pass(gate, logs)
    whole_reads.clear()

    def broken(self: FileSource, start: int, end: int | None) -> Any:
        if start:
            raise OSError("the disk went away")
        return between(self, start, end)

    between = FileSource.records_between
    monkeypatch.setattr(FileSource, "records_between", broken)
    halves = gate("run", "--logs", str(logs))

    assert whole_reads == [str(logs)]
    assert _comparable(halves.worklog) == _comparable(whole.worklog)


def test_breakdowns_past_their_limit_join_as_one_pass_counts(
    gate, tmp_path, monkeypatch, whole_reads
):
    # 1,200 clients of one HTTP 500 cluster, the first one again at the
    # end: past 1,000 values, which are named must not depend on the cut.
    def failed(number: int, agent: str) -> dict[str, Any]:
        return _entry(
            number,
            httpRequest={
                "requestMethod": "GET",
                "requestUrl": "https://a.example/api/orders",
                "status": 500,
                "userAgent": agent,
            },
        )

    entries = [failed(0, "victim-agent/1.0")]
    entries += [failed(n, f"agent-{n}/1.0") for n in range(1, 1200)]
    entries += [failed(n, "victim-agent/1.0") for n in range(1200, 1300)]
    logs = _write(tmp_path / "clients.ndjson", entries)
    whole = _one_pass(gate, logs)
    (cluster,) = whole.worklog["clusters"]
    clients = cluster["breakdown"]["clients"]
    assert {
        "value": "(other)",
        "count": 1300
        - sum(row["count"] for row in clients if row["value"] != "(other)"),
    } in clients
    whole_reads.clear()

    for end in _line_ends(logs)[:-1:97]:
        monkeypatch.setattr(source, "_middle", lambda size, at=end: at - 1)
        halves = gate("run", "--logs", str(logs))

        assert _comparable(halves.worklog) == _comparable(whole.worklog), end
    assert whole_reads == []


@pytest.mark.parametrize("duplicate", [False, True], ids=["joined", "whole"])
def test_what_halves_log_reads_as_one_pass_logs(
    gate, tmp_path, monkeypatch, whole_reads, duplicate
):
    # Skipped lines in both halves, with -v: the same lines in the same
    # order, whether the halves are joined or the file is read again.
    lines = []
    for number in range(40):
        entry = _entry(number, textPayload=f"ERROR: job {number} failed")
        lines.append(json.dumps(entry) if number % 5 else "{broken json")
    if duplicate:
        lines.append(lines[2])
    logs = tmp_path / "logs.ndjson"
    logs.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "SPLIT_BYTES", 1 << 62)
        whole = gate("run", "--logs", str(logs), "-v")
    assert "skipped" in whole.stderr
    whole_reads.clear()

    halves = gate("run", "--logs", str(logs), "-v")

    assert halves.stderr == whole.stderr
    assert whole_reads == ([str(logs)] if duplicate else [])


def test_the_first_half_stops_when_the_second_gives_up(
    gate, tmp_path, monkeypatch, whole_reads
):
    monkeypatch.setattr(pipeline, "_ASK_EVERY", 1)
    entries = [
        _entry(n, textPayload=f"worker tick {n}", severity="INFO")
        for n in range(6000)
    ]
    logs = _write(tmp_path / "ticks.ndjson", entries)
    whole = _one_pass(gate, logs)
    whole_reads.clear()

    halves = gate("run", "--logs", str(logs))

    assert whole_reads == [str(logs)]
    assert _comparable(halves.worklog) == _comparable(whole.worklog)


def test_a_first_half_shorter_than_the_sniff_is_judged_as_the_file(
    gate, tmp_path, monkeypatch, whole_reads
):
    # Text or binary is judged on the file's first 64 KiB, even when the
    # cut comes before them.
    good = [
        json.dumps(_entry(n, textPayload=f"ERROR: job {n} failed"))
        for n in range(20)
    ]
    logs = tmp_path / "mixed.ndjson"
    logs.write_bytes(
        "\n".join(good).encode() + b"\n" + b"\x01\x02\x03\x04" * 50 * 40
    )
    whole = _one_pass(gate, logs)
    assert whole.code == 3
    monkeypatch.setattr(source, "_middle", lambda size: 500)

    halves = gate("run", "--logs", str(logs))

    assert (halves.code, halves.stderr) == (whole.code, whole.stderr)


def test_values_that_redact_alike_are_one_value_for_signatures(gate, tmp_path):
    # 300 addresses in one route's path: one route once redacted, which a
    # route signature accepts, and no (other) row for it to trip on.
    entries = [
        _entry(
            n,
            httpRequest={
                "requestMethod": "GET",
                "requestUrl": f"https://a.example/u/{name}%40example.com/x",
                "status": 503,
            },
        )
        for n, name in enumerate(
            a + b + c for a in "abcdef" for b in "ghijklmnop" for c in "qrstv"
        )
    ]
    logs = _write(tmp_path / "profiles.ndjson", entries)
    rules = rules_folder(
        tmp_path,
        "version: 1\n"
        "signatures:\n"
        "  - id: profile-503\n"
        "    match: {status: 503, route: '/u/*'}\n"
        "    accept: {reason: known flaky upstream, expires: 2030-12-31}\n",
    )

    run = gate("run", "--logs", str(logs), "--rules", str(rules))

    (cluster,) = run.worklog["clusters"]
    assert cluster["count"] == 300
    assert cluster["breakdown"]["routes"] == [
        {"value": "GET /u/{id}/x", "count": 300}
    ]
    assert run.code == 0


def test_a_cluster_location_is_a_location_never_the_other_row(gate, tmp_path):
    entries = [
        _entry(
            n,
            severity="ERROR",
            jsonPayload={"message": "Order failed"},
            sourceLocation={"file": f"/app/m{n % 60}.py", "line": "7"},
        )
        for n in range(120)
    ]
    logs = _write(tmp_path / "locations.ndjson", entries)

    run = gate("run", "--logs", str(logs))

    (cluster,) = run.worklog["clusters"]
    assert cluster["location"].startswith("/app/m")
