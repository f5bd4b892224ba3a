"""Hostile baselines: wrong files, crafted names, rates that mislead.

A baseline can only excuse clusters, so each fault here is a way to pass
a gate that should fail, or to stop a run with a traceback.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES, compare_revisions
from conftest import revision_entry as _entry
from fakes.google import LoggingFake, RunFake, error_response

from gardener_gate import baseline as baseline_module
from gardener_gate.action import INPUTS, run_arguments
from gardener_gate.cluster import Clusterer
from gardener_gate.entry import normalize
from gardener_gate.rules import Acceptance

STAGING = str(CASES / "staging-3day" / "input.json")
AFTER = "orders-api-00042-kot"
OLD, NEW = "svc-00001-old", "svc-00002-new"


def _logs(tmp_path: Path, entries: list[dict[str, Any]], name="l.json"):
    path = tmp_path / name
    path.write_text(json.dumps(entries))
    return str(path)


def _against_before(gate, logs: str, *extra: str):
    """The new revision, with the one before as baseline."""
    return compare_revisions(gate, logs, NEW, "auto", *extra)


def _no_traceback(result) -> None:
    assert result.code in (0, 1, 2, 3), result.stderr
    assert "Traceback" not in result.stderr


def _worklog_of(gate, tmp_path: Path) -> dict[str, Any]:
    earlier = gate("run", "--logs", STAGING, "--revision", AFTER)
    return earlier.worklog


def _write(tmp_path: Path, data: Any, name: str = "b.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


# -- a baseline that would excuse everything ----------------------------------


def test_a_worklog_of_the_revision_analysed_is_refused(gate, tmp_path):
    first = gate("run", "--logs", STAGING, "--revision", AFTER)

    second = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline",
        str(first.out),
    )

    assert second.code == 2
    assert "that run analysed the revision analysed now" in second.stderr


def test_a_worklog_of_the_same_revision_excuses_nothing_when_implied(
    gate, tmp_path
):
    entries = [_entry("Payment 7 failed", NEW, n) for n in range(5)]
    logs = _logs(tmp_path, entries)
    first = gate("run", "--logs", logs)

    second = gate("run", "--logs", logs, "--baseline", str(first.out))

    assert (first.code, second.code) == (1, 1)
    assert second.worklog["baseline"]["missing"] == (
        "that run analysed the same revision as this one"
    )


def test_an_empty_baseline_path_is_refused(gate, tmp_path):
    result = gate("run", "--logs", STAGING, "--baseline", "")

    assert result.code == 2
    assert "give the path of a worklog.json" in result.stderr


def test_an_error_is_not_excused_by_the_same_text_at_a_lower_severity(
    gate, tmp_path
):
    entries = [
        _entry("Payment 7 captured", OLD, n, "INFO") for n in range(20)
    ] + [_entry("Payment 7 captured", NEW, 700 + n) for n in range(20)]

    result = _against_before(gate, _logs(tmp_path, entries))

    assert result.cluster(template="Payment <NUM> captured")["baseline"] == (
        "unknown"
    )
    assert result.code == 1


@pytest.mark.parametrize("added", ["not", "never", "failed", "NOT"])
def test_a_word_that_negates_the_message_makes_another_message(
    gate, tmp_path, added
):
    entries = [_entry("Payment 7 captured", OLD, n) for n in range(20)] + [
        _entry(f"Payment 7 {added} captured", NEW, 700 + n) for n in range(20)
    ]

    result = _against_before(gate, _logs(tmp_path, entries))

    assert result.cluster(template=f"Payment <NUM> {added} captured")[
        "baseline"
    ] == ("unknown")
    assert result.code == 1


# -- names from the logs ------------------------------------------------------

HOSTILE_REVISION = (
    "old-rev <img src=x> @octocat [x](https://evil.example)\n::error::pwned"
)


def _outside_code(markdown: str) -> str:
    return re.sub(r"(`+).*?\1", "", markdown)


def test_revision_names_from_the_logs_stay_inert(gate, tmp_path):
    entries = [
        _entry("Cache warmed", HOSTILE_REVISION, 0, "INFO"),
        _entry("Cache warmed", NEW, 700, "INFO"),
    ]

    result = _against_before(gate, _logs(tmp_path, entries))

    _no_traceback(result)
    for stream in (result.stdout, result.stderr):
        assert not any(
            line.startswith("::") for line in stream.splitlines()
        ), stream
    prose = _outside_code(result.markdown)
    for text in ("@octocat", "<img", "evil.example", "::error::"):
        assert text not in prose


def test_a_typo_in_the_baseline_revision_stops_like_one_in_revision(
    gate, tmp_path
):
    entries = [
        _entry("Cache warmed", HOSTILE_REVISION, 0, "INFO"),
        _entry("Cache warmed", NEW, 700, "INFO"),
    ]

    result = gate(
        "run",
        "--logs",
        _logs(tmp_path, entries),
        "--revision",
        NEW,
        "--baseline-revision",
        "svc-typo",
    )

    assert result.code == 3
    assert "--baseline-revision svc-typo: no entry of the file" in (
        result.stderr
    )
    # The names listed stay on the one line.
    assert len(result.stderr.splitlines()) == 1
    assert "\n::" not in result.stderr + result.stdout


def test_an_older_revision_named_auto_can_be_the_baseline(gate, tmp_path):
    entries = [
        _entry("Cache warmed", "auto", 0, "INFO"),
        _entry("Cache warmed", NEW, 700, "INFO"),
    ]

    result = _against_before(gate, _logs(tmp_path, entries))

    assert result.code == 0
    assert result.worklog["baseline"]["name"] == "revision auto"
    assert result.worklog["baseline"]["missing"] is None


def test_the_revision_before_is_found_among_many_newest_first(gate, tmp_path):
    entries = []
    for number in range(60, 0, -1):
        revision = f"svc-{number:05d}-x"
        entries.append(_entry("Cache warmed", revision, number * 60, "INFO"))

    result = gate(
        "run",
        "--logs",
        _logs(tmp_path, entries),
        "--revision",
        "svc-00005-x",
        "--baseline-revision",
        "auto",
    )

    assert result.worklog["baseline"]["name"] == "revision svc-00004-x"


def test_without_timestamps_there_is_no_revision_before(gate, tmp_path):
    entries = [_entry("Cache warmed", OLD, 0, "INFO")]
    untimed = _entry("Cache warmed", NEW, 0, "INFO")
    del untimed["timestamp"]

    result = _against_before(gate, _logs(tmp_path, [*entries, untimed]))

    assert result.worklog["baseline"]["missing"] == (
        "no revision seen is older than the one analysed"
    )


# -- files that are no worklog ------------------------------------------------


def _with(worklog: dict[str, Any], **cluster: Any) -> dict[str, Any]:
    changed = json.loads(json.dumps(worklog))
    changed["source"]["revision"] = "orders-api-00041-zed"
    changed["clusters"][0].update(cluster)
    return changed


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"count": "Infinity"}, "clusters[0].count is not a count"),
        ({"count": True}, "clusters[0].count is not a count"),
        ({"count": 2.5}, "clusters[0].count is not a count"),
        ({"count": -1}, "clusters[0].count is not a count"),
        ({"count": 10**400}, "clusters[0].count is not a count"),
        ({"severity": "LOUD"}, "clusters[0].severity is not a severity"),
        ({"title": {"a": 1}, "template": None}, "clusters[0].title is not"),
    ],
)
def test_a_worklog_with_wrong_values_stops_with_exit_2(
    gate, tmp_path, change, problem
):
    bad = _with(_worklog_of(gate, tmp_path), **change)
    text = json.dumps(bad).replace('"Infinity"', "Infinity")

    result = gate(
        "run", "--logs", STAGING, "--baseline", _write(tmp_path, text)
    )

    assert result.code == 2
    assert problem in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"tool": {"name": "gardener-gate", "clustering": "c1"}, '
        '"clusters": [], "entries": {"events": "0"}, "source": {}}',
    ],
    ids=["deep-list", "deep-object", "events-as-text"],
)
def test_a_file_that_is_no_worklog_stops_with_exit_2(gate, tmp_path, text):
    result = gate(
        "run", "--logs", STAGING, "--baseline", _write(tmp_path, text)
    )

    assert result.code == 2
    assert "not a gardener-gate worklog.json" in result.stderr
    _no_traceback(result)


def test_a_fifo_as_baseline_stops_at_once(gate, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    result = gate("run", "--logs", STAGING, "--baseline", str(fifo))

    assert result.code == 2
    assert "not a regular file" in result.stderr


def test_a_bad_baseline_stops_before_the_logs_are_read(gate, tmp_path):
    out = tmp_path / "kept"
    out.mkdir()
    (out / "worklog.json").write_text('{"verdict": "pass"}')

    result = gate(
        "run",
        "--logs",
        STAGING,
        "--out",
        str(out),
        "--baseline",
        _write(tmp_path, "{not json"),
    )

    assert result.code == 2
    # Nothing was read, so the earlier worklog was left alone.
    assert (out / "worklog.json").read_text() == '{"verdict": "pass"}'


def test_the_out_folder_of_an_earlier_run_serves_as_baseline(gate, tmp_path):
    out = tmp_path / "shared"
    gate("run", "--logs", STAGING, "--revision", "orders-api-00041-zed")
    gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        "orders-api-00041-zed",
        "--out",
        str(out),
    )

    result = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--out",
        str(out),
        "--baseline",
        str(out),
    )

    assert result.worklog["baseline"]["missing"] is None
    assert result.worklog["baseline"]["clusters"] == 11


def test_a_partial_worklog_is_no_baseline(gate, tmp_path):
    earlier = _with(_worklog_of(gate, tmp_path))
    earlier["partial"] = "stopped after 1000 entries (--max-entries)"

    result = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline",
        _write(tmp_path, earlier),
    )

    assert result.worklog["baseline"]["missing"] == (
        "that run read its logs only in part"
    )


def test_secrets_in_a_baseline_file_are_redacted(gate, tmp_path):
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    earlier = _with(
        _worklog_of(gate, tmp_path),
        template="request.session accessed but no session middleware is "
        f"installed; continuing without session mail bob@example.com {token}",
    )

    result = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline",
        _write(tmp_path, earlier),
    )

    everything = (
        result.markdown + json.dumps(result.worklog) + result.stdout
    ) + result.stderr
    assert "bob@example.com" not in everything
    assert token not in everything


def test_huge_titles_are_cut_before_they_are_compared(gate, tmp_path):
    earlier = _with(_worklog_of(gate, tmp_path), template="word " * 200_000)

    result = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline",
        _write(tmp_path, earlier),
    )

    titles = [
        c["baseline_match"]["title"]
        for c in result.worklog["clusters"]
        if "baseline_match" in c
    ]
    assert any(title.startswith("word word") for title in titles)
    assert all(len(title) <= 2000 for title in titles)


# -- rates --------------------------------------------------------------------


def test_rates_count_the_hours_a_revision_logged_not_the_window(
    gate, tmp_path
):
    # Both log every ten minutes; the old one for ten hours, then the new.
    entries = [_entry("db timeout", OLD, m) for m in range(0, 600, 10)] + [
        _entry("db timeout", NEW, m) for m in range(600, 1200, 10)
    ]

    result = gate(
        "run",
        "--logs",
        _logs(tmp_path, entries),
        "--revision",
        NEW,
        "--baseline-revision",
        "auto",
        "--window",
        "12h",
        "--until",
        "2025-06-01T20:00:00Z",
    )

    cluster = result.cluster(template="db timeout")
    assert cluster["baseline"] == "known"
    assert cluster["baseline_match"]["rate_factor"] == pytest.approx(1, 0.1)


def test_an_acceptance_holds_just_under_its_rate_factor():
    accept = Acceptance("ok", until_rate_factor=3.0)

    assert accept.ran_out(date(2026, 1, 1), 10, 2.996) is None
    assert accept.ran_out(date(2026, 1, 1), 10, 3.0) == (
        "its rate rose ×3.00 over the baseline, past until_rate_factor 3"
    )


def test_a_comparison_cut_short_says_so(gate, tmp_path, monkeypatch):
    monkeypatch.setattr(baseline_module, "MAX_PAIRS", 1)
    before = {f"Job {w} finished in shard {n}": 2 for n, w in enumerate("ab")}
    entries = [
        _entry(text, OLD, n) for n, text in enumerate(before) for _ in (1, 2)
    ] + [
        _entry(text + " again", NEW, 700 + n) for n, text in enumerate(before)
    ]

    result = _against_before(gate, _logs(tmp_path, entries))

    assert result.worklog["baseline"]["cut_short"] is True
    assert "Baseline comparison cut short" in result.markdown


# -- a cloud baseline read in part --------------------------------------------


def test_a_baseline_revision_read_in_part_is_no_baseline(
    gate, httpserver, monkeypatch
):
    before = [_entry("db timeout", OLD, n) for n in range(20)]
    after = [_entry("db timeout", NEW, 700 + n) for n in range(20)]
    fake = LoggingFake(
        [],
        page_size=5,
        chosen=lambda text: before if OLD in text else after,
        # Calls 1-4 read the new revision; the old one's second page fails.
        fault=lambda n: error_response(429, "quota") if n == 6 else None,
    )
    url = fake.install(httpserver)
    RunFake(
        project="p",
        region="europe-west1",
        service="svc",
        traffic=[{"revision": NEW, "percent": 100}],
        revisions={OLD: "2025-05-31T20:00:00Z", NEW: "2025-06-01T11:00:00Z"},
    ).install(httpserver)
    monkeypatch.setenv("GARDENER_GATE_LOGGING_ENDPOINT", url)
    monkeypatch.setenv("GARDENER_GATE_RUN_ENDPOINT", url)

    result = gate(
        "run",
        "--project",
        "p",
        "--service",
        "svc",
        "--region",
        "europe-west1",
        "--revision",
        "auto",
        "--baseline-revision",
        "auto",
        "--until",
        "2025-06-02T00:00:00Z",
        "--retry-budget",
        "0",
    )

    assert result.worklog["baseline"]["missing"].startswith(
        "it was read only in part"
    )
    assert result.worklog["partial"] is False
    assert result.code == 1


# -- concentration, Action inputs, suggest ------------------------------------


def test_instances_that_share_their_last_characters_are_told_apart(
    gate, tmp_path
):
    entries = [
        _entry("Disk full", NEW, n, instance=f"zone-{z}-vm-000000001")
        for n, z in enumerate("abab")
    ]

    result = gate("run", "--logs", _logs(tmp_path, entries))

    assert "concentration" not in result.cluster(template="Disk full")


def test_action_inputs_that_start_with_a_dash_stay_values(tmp_path):
    inputs = {**INPUTS, "logs": "l.json", "baseline-revision": "--dry-run"}

    argv = run_arguments(inputs, tmp_path / "out", tmp_path / "rules")

    assert "--baseline-revision=--dry-run" in argv
    assert "--dry-run" not in argv


def test_suggest_rewrites_snippets_and_leaves_out_what_is_no_signature(
    gate, tmp_path
):
    worklog = {
        "clusters": [
            1,
            {"status": "new", "accept_snippet": "policy: {fail_on: P10}"},
            {"status": "new", "accept_snippet": "- [unclosed"},
            {
                "status": "new",
                "accept_snippet": "- id: ok\n  match: {message: 'boom "
                "bob@example.com'}\n  accept: {reason: fine}\n",
            },
        ]
    }
    path = _write(tmp_path, worklog, "worklog.json")

    result = gate("rules", "suggest", "--worklog", path, "--out", "s.yaml")

    assert result.code == 0
    assert "left out 2 accept snippet(s)" in result.stderr
    written = Path("s.yaml").read_text()
    assert "policy" not in written
    assert "bob@example.com" not in written
    assert "id: ok" in written


def test_suggest_refuses_snippets_that_make_no_valid_rules_file(
    gate, tmp_path
):
    worklog = {
        "clusters": [
            {
                "status": "new",
                "accept_snippet": "- id: bad\n  match: {colour: red}\n",
            }
        ]
    }
    path = _write(tmp_path, worklog, "worklog.json")

    result = gate("rules", "suggest", "--worklog", path, "--out", "s.yaml")

    assert result.code == 3
    assert "make no valid rules file" in result.stderr
    assert not Path("s.yaml").exists()


def test_publish_survives_a_baseline_of_another_shape(gate, tmp_path):
    first = gate(
        "run",
        "--logs",
        STAGING,
        "--revision",
        AFTER,
        "--baseline-revision",
        "auto",
    )
    data = first.worklog
    data["baseline"] = {"name": "x"}
    for cluster in data["clusters"]:
        cluster.pop("baseline_match", None)
    (first.out / "worklog.json").write_text(json.dumps(data))

    published = gate("publish", "--worklog", str(first.out), "--no-comment")

    _no_traceback(published)
    assert published.code == 0


def test_similar_templates_are_found_among_thousands():
    clusterer = Clusterer()
    for n in range(3000):
        entry = normalize(n, f"task{n} step{n} finished for job{n}")
        assert not isinstance(entry, str)
        clusterer.add(entry)
    clusters = clusterer.clusters()
    counterparts = tuple(
        baseline_module.Counterpart(
            f"c0-{n}", "message", c.template.replace(" finished", ""), 1
        )
        for n, c in enumerate(clusters)
    )
    baseline = baseline_module.Baseline("b", "c0", 1.0, counterparts)

    compared = baseline_module.compare(clusters, baseline, 1.0, 3.0)

    assert compared.cut_short is False
    assert all(
        c.standing is baseline_module.Standing.KNOWN
        for c in compared.by_cluster.values()
    )
