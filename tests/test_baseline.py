"""Each control of the baseline comparison, on small made-up logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import compare_revisions, revision_entry, rules_folder
from fakes.google import LoggingFake, RunFake

from gardener_gate.baseline import (
    Baseline,
    Counterpart,
    Standing,
    compare,
)
from gardener_gate.cluster import Clusterer
from gardener_gate.entry import normalize

OLD, NEW = "shop-00001-abc", "shop-00002-def"


def _entry(
    message: str,
    revision: str,
    minute: int,
    severity: str = "ERROR",
    instance: str = "instance-a",
) -> dict[str, Any]:
    return revision_entry(
        message, revision, minute, severity, instance, "shop"
    )


def _logs(tmp_path: Path, entries: list[dict[str, Any]]) -> str:
    path = tmp_path / "logs.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return str(path)


def _against(gate, logs: str, baseline: str, *extra: str):
    """Run the gate on NEW in ``logs``, compared with ``baseline``."""
    return compare_revisions(gate, logs, NEW, baseline, *extra)


def _revision(
    revision: str,
    messages: dict[str, int],
    offset: int = 0,
    severity: str = "ERROR",
):
    """``count`` entries of each message, spread over ten hours."""
    entries = []
    for message, count in messages.items():
        for n in range(count):
            minute = offset + n * 600 // max(count, 1)
            entries.append(_entry(message, revision, minute, severity))
    return entries


def _rules(tmp_path: Path, text: str) -> str:
    return str(rules_folder(tmp_path, text))


# -- template drift -----------------------------------------------------------

DRIFT_BEFORE = {
    "Payment failed for order 1234 at gateway stripe": 6,
    "user=7 order=9 refund rejected by bank": 4,
    "Disk cache warmed in 35 ms": 3,
}
DRIFT_AFTER = {
    # A word added in the new release.
    "Payment failed for order 1234 at gateway stripe after retry": 6,
    # Two fields swapped.
    "order=9 user=7 refund rejected by bank": 4,
    # Something else entirely.
    "Quota exceeded for tenant 42 on volume data": 3,
}


@pytest.fixture
def drift(gate, tmp_path):
    logs = _logs(
        tmp_path,
        _revision(OLD, DRIFT_BEFORE) + _revision(NEW, DRIFT_AFTER, 700),
    )
    return _against(gate, logs, OLD)


def test_a_message_with_a_word_added_finds_its_counterpart(drift):
    payment = drift.cluster(
        template="Payment failed for order <NUM> at gateway stripe after retry"
    )

    assert payment["baseline"] == "known"
    assert payment["baseline_count"] == 6
    assert payment["baseline_match"]["changed"] is True
    assert payment["baseline_match"]["title"] == (
        "Payment failed for order <NUM> at gateway stripe"
    )
    assert "changed from `Payment failed for order <NUM>" in drift.markdown


def test_a_message_with_fields_reordered_finds_its_counterpart(drift):
    refund = drift.cluster(
        template="order=<NUM> user=<NUM> refund rejected by bank"
    )

    assert refund["baseline"] == "known"
    assert refund["baseline_match"]["changed"] is True


def test_a_different_message_is_not_taken_for_a_changed_one(drift):
    quota = drift.cluster(
        template="Quota exceeded for tenant <NUM> on volume data"
    )

    assert quota["baseline"] == "unknown"
    assert quota["fails"] is True
    assert drift.code == 1


def test_unrelated_templates_of_one_kind_do_not_pair():
    clusterer = Clusterer()
    for text in ("Cache hit for key 1", "Cache miss for key 1"):
        found = normalize(1, _entry(text, NEW, 0))
        assert not isinstance(found, str)
        clusterer.add(found)
    hit, miss = sorted(clusterer.clusters(), key=lambda c: c.title)
    baseline = Baseline(
        "b", "c0", 10.0, (Counterpart("c0-x", "message", miss.title, 4),)
    )

    compared = compare([hit], baseline, 10.0, 3.0)

    assert compared.by_cluster[hit.id].standing is Standing.UNKNOWN


# -- no baseline --------------------------------------------------------------


def _quiet_logs(tmp_path: Path) -> str:
    """Logs that pass the gate: informational only."""
    return _logs(tmp_path, _revision(NEW, {"Cache warmed": 3}, 0, "INFO"))


@pytest.mark.parametrize(
    ("policy", "code", "verdict"),
    [(None, 0, "warn"), ("fail", 1, "fail"), ("pass", 0, "pass")],
)
def test_a_missing_baseline_is_judged_by_the_policy(
    gate, tmp_path, policy, code, verdict
):
    args = ["run", "--logs", _quiet_logs(tmp_path)]
    args += ["--baseline", str(tmp_path / "nowhere" / "worklog.json")]
    if policy:
        args += [
            "--rules",
            _rules(
                tmp_path, f"version: 1\npolicy:\n  no_baseline: {policy}\n"
            ),
        ]

    result = gate(*args)

    assert (result.code, result.worklog["verdict"]) == (code, verdict)
    assert result.worklog["baseline"]["missing"].endswith("does not exist")
    assert "> **No baseline:" in result.markdown
    assert "no baseline to compare with" in result.worklog["reason"]
    assert "warning: no baseline" in result.stderr


def test_a_missing_baseline_never_turns_a_failing_gate_into_a_warning(
    gate, tmp_path
):
    logs = _logs(tmp_path, _revision(NEW, {"Payment failed for order 7": 3}))

    result = gate(
        "run", "--logs", logs, "--baseline", str(tmp_path / "none.json")
    )

    assert (result.code, result.worklog["verdict"]) == (1, "fail")


def test_no_revision_before_the_first_is_a_missing_baseline(gate, tmp_path):
    result = _against(gate, _quiet_logs(tmp_path), "auto")

    assert result.code == 0
    assert result.worklog["verdict"] == "warn"
    assert result.worklog["baseline"]["missing"] == (
        "no revision seen is older than the one analysed"
    )


def test_verbose_output_names_the_revision_chosen_and_the_verdict(
    gate, tmp_path
):
    entries = _revision(OLD, {"Payment failed for order 7": 3})
    entries += _revision(NEW, {"Payment failed for order 7": 3}, 700)
    entries += _revision(NEW, {"Refund failed for order 8": 3}, 700)

    result = _against(gate, _logs(tmp_path, entries), "auto", "-v")

    said = [line for line in result.stderr.splitlines() if "INFO" in line]
    reason = result.worklog["reason"]
    assert f"baseline revision auto: chosen={OLD}" in said[0]
    # The verdict is said once, as judged against the baseline.
    assert [line for line in said if "verdict=" in line] == [
        f"INFO gardener_gate.cli: verdict=fail reason={reason}"
    ]
    assert "baseline had at a like rate" in reason


def test_a_baseline_revision_the_file_does_not_hold_stops_the_run(
    gate, tmp_path
):
    result = _against(gate, _quiet_logs(tmp_path), "shop-00000-zzz")

    assert result.code == 3
    assert "--baseline-revision shop-00000-zzz: no entry of the file" in (
        result.stderr
    )


def test_a_baseline_revision_without_entries_in_the_window_is_missing(
    gate, tmp_path
):
    entries = _revision(OLD, {"Cache warmed": 3}, 0, "INFO")
    entries += _revision(NEW, {"Cache warmed": 3}, 700, "INFO")

    result = _against(
        gate,
        _logs(tmp_path, entries),
        OLD,
        "--until",
        "2025-06-02T00:00:00Z",
        "--window",
        "10h",
    )

    assert result.code == 0
    assert result.worklog["baseline"]["missing"] == (
        "it logged nothing in its window"
    )


def test_a_baseline_worklog_without_events_is_missing(gate, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    earlier = gate("run", "--logs", str(empty))

    result = gate(
        "run",
        "--logs",
        _quiet_logs(tmp_path),
        "--baseline",
        str(earlier.out),
    )

    assert result.worklog["verdict"] == "warn"
    assert result.worklog["baseline"]["missing"] == "that run had no events"


# -- usage errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--baseline-revision", "auto"],
            "name the one analysed with --revision",
        ),
        (
            ["--revision", NEW, "--baseline-revision", NEW],
            "is the revision analysed",
        ),
        (["--baseline-revision", " "], "give a revision name"),
    ],
)
def test_contradictory_baseline_options_stop_with_exit_2(
    gate, tmp_path, extra, message
):
    result = gate("run", "--logs", _quiet_logs(tmp_path), *extra)

    assert result.code == 2
    assert message in result.stderr


def test_a_baseline_is_a_revision_or_a_worklog_not_both(gate, capsys):
    with pytest.raises(SystemExit) as stopped:
        gate("run", "--baseline", "w.json", "--baseline-revision", OLD)

    assert stopped.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_baseline_revision_cannot_come_from_standard_input(gate):
    result = gate(
        "run", "--logs", "-", "--revision", NEW, "--baseline-revision", OLD
    )

    assert result.code == 2
    assert "give a file, not -" in result.stderr


@pytest.mark.parametrize(
    "text", ["{not json", '{"clusters": []}', '{"tool": {"name": "x"}}']
)
def test_a_baseline_file_that_is_not_a_worklog_stops_with_exit_2(
    gate, tmp_path, text
):
    bad = tmp_path / "bad.json"
    bad.write_text(text)

    result = gate(
        "run", "--logs", _quiet_logs(tmp_path), "--baseline", str(bad)
    )

    assert result.code == 2
    assert "not a gardener-gate worklog.json" in result.stderr
    assert "Traceback" not in result.stderr


# -- concentration ------------------------------------------------------------


def test_a_cluster_from_one_instance_of_several_is_flagged(gate, tmp_path):
    entries = [
        _entry("Disk full on /tmp", NEW, n, instance="instance-sick")
        for n in range(4)
    ] + [
        _entry("Upstream timeout after 30 s", NEW, n, instance=name)
        for n, name in enumerate(["instance-a", "instance-b"] * 2)
    ]

    result = gate("run", "--logs", _logs(tmp_path, entries))

    disk = result.cluster(template="Disk full on <PATH>")
    timeout = result.cluster(template="Upstream timeout after <DURATION>")
    assert disk["concentration"] == {
        "instance": "nstance-sick",
        "instances_in_run": 3,
    }
    assert "concentration" not in timeout
    assert result.worklog["source"]["instances"] == 3
    assert "every event came from one instance (`nstance-sick`)" in (
        result.markdown
    )


def test_a_service_with_one_instance_flags_no_concentration(gate, tmp_path):
    entries = [_entry("Disk full on /tmp", NEW, n) for n in range(4)]

    result = gate("run", "--logs", _logs(tmp_path, entries))

    assert "concentration" not in result.cluster(
        template="Disk full on <PATH>"
    )
    assert "Concentration" not in result.markdown


# -- rules suggest ------------------------------------------------------------


def test_suggest_writes_the_new_clusters_into_one_rules_file(gate, tmp_path):
    logs = _logs(tmp_path, _revision(NEW, DRIFT_AFTER))
    rules = _rules(
        tmp_path,
        "version: 1\nsignatures:\n  - id: quota\n    match: {message: "
        "Quota}\n    accept: {reason: tenants hit quotas}\n",
    )
    first = gate("run", "--logs", logs, "--rules", rules)

    written = gate(
        "rules", "suggest", "--worklog", str(first.out), "--out", "s.yaml"
    )

    assert written.code == 0
    assert "wrote 2 signatures to s.yaml" in written.stdout
    suggested = yaml.safe_load(Path("s.yaml").read_text())
    titles = sorted(item["title"] for item in suggested["signatures"])
    assert titles == [
        "Payment failed for order <NUM> at gateway stripe after retry",
        "order=<NUM> user=<NUM> refund rejected by bank",
    ]
    Path(rules, "suggested.yaml").write_text(Path("s.yaml").read_text())
    again = gate("run", "--logs", logs, "--rules", rules)
    assert again.worklog["summary"]["by_status"] == {"accepted": 3}
    assert again.code == 0


def test_suggest_keeps_a_file_that_exists_unless_forced(gate, tmp_path):
    first = gate("run", "--logs", _logs(tmp_path, _revision(NEW, DRIFT_AFTER)))
    Path("s.yaml").write_text("# mine\n")
    args = ("rules", "suggest", "--worklog", str(first.out), "--out", "s.yaml")

    kept = gate(*args)
    forced = gate(*args, "--force")

    assert kept.code == 2
    assert "s.yaml exists" in kept.stderr
    assert forced.code == 0
    assert Path("s.yaml").read_text().startswith("version: 1\n")


def test_suggest_without_a_worklog_says_so(gate, tmp_path):
    result = gate("rules", "suggest", "--worklog", str(tmp_path / "none"))

    assert result.code == 3
    assert "no readable worklog" in result.stderr


# -- Cloud Logging ------------------------------------------------------------


def test_cloud_reads_the_revision_before_up_to_the_rollout(
    gate, httpserver, monkeypatch
):
    before = _revision(OLD, DRIFT_BEFORE)
    after = _revision(NEW, DRIFT_AFTER, 700)
    fake = LoggingFake(
        [], chosen=lambda text: before if OLD in text else after
    )
    url = fake.install(httpserver)
    RunFake(
        project="p",
        region="europe-west1",
        service="shop",
        traffic=[
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": NEW,
                "percent": 100,
            }
        ],
        revisions={
            "shop-00000-old": "2025-05-01T00:00:00Z",
            OLD: "2025-05-31T14:00:00Z",
            NEW: "2025-06-01T11:00:00Z",
        },
    ).install(httpserver)
    monkeypatch.setenv("GARDENER_GATE_LOGGING_ENDPOINT", url)
    monkeypatch.setenv("GARDENER_GATE_RUN_ENDPOINT", url)

    result = gate(
        "run",
        "--project",
        "p",
        "--service",
        "shop",
        "--region",
        "europe-west1",
        "--until",
        "2025-06-02T00:00:00Z",
        "--baseline-revision",
        "auto",
    )

    filters = [r["filter"] for r in fake.requests]
    assert len(filters) == 2
    assert f'resource.labels.revision_name="{NEW}"' in filters[0]
    assert f'resource.labels.revision_name="{OLD}"' in filters[1]
    # The revision before is read up to when the new one started.
    assert 'timestamp<"2025-06-01T11:00:00Z"' in filters[1]
    assert result.worklog["baseline"]["name"] == f"revision {OLD}"
    payment = result.cluster(
        template="Payment failed for order <NUM> at gateway stripe after retry"
    )
    assert payment["baseline"] == "known"
