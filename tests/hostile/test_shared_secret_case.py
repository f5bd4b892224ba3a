"""The secrets-redaction case, through every channel the gate writes."""

from __future__ import annotations

from conftest import CASES

CASE = CASES / "secrets-redaction"


def test_nothing_of_must_not_appear_reaches_any_channel(
    gate, tmp_path, monkeypatch
):
    secrets = (CASE / "must-not-appear.txt").read_text().split()
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs.txt"))
    out = tmp_path / "out"

    run = gate(
        "-vv", "run", "--logs", str(CASE / "input.json"), "--out", str(out)
    )
    published = gate("-vv", "publish", "--worklog", str(out))

    channels = [
        (out / "worklog.md").read_text("utf-8"),
        (out / "worklog.json").read_text("utf-8"),
        run.stdout + run.stderr,
        published.stdout + published.stderr,
        summary.read_text("utf-8"),
    ]
    assert len(secrets) == 12
    for secret in secrets:
        for channel in channels:
            assert secret not in channel
