"""Shared fixtures: run the CLI in-process and read what it wrote."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gardener_gate.cli import main

DATA = Path(__file__).parent / "data"
CASES = DATA / "cases"
# A fixed "now" keeps acceptance expiry and generated dates reproducible.
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
REVISION_START = datetime(2025, 6, 1, tzinfo=UTC)


def rules_folder(
    tmp_path: Path, text: str, name: str = "team.yaml", folder: str = "rules"
) -> Path:
    """A rules folder under ``tmp_path`` holding ``text`` as ``name``."""
    path = tmp_path / folder
    path.mkdir(exist_ok=True)
    (path / name).write_text(text, encoding="utf-8")
    return path


def compare_revisions(
    gate: Any, logs: str, revision: str, baseline: str, *extra: str
) -> Any:
    """Run the gate on ``revision`` of ``logs``, with ``baseline`` (a
    revision, or auto) as the revision before."""
    return gate(
        "run",
        "--logs",
        logs,
        "--revision",
        revision,
        "--baseline-revision",
        baseline,
        *extra,
    )


def revision_entry(
    message: str,
    revision: str,
    minute: float,
    severity: str = "ERROR",
    instance: str = "instance-a",
    service: str = "svc",
) -> dict[str, Any]:
    """A Cloud Run entry of ``revision``, ``minute`` minutes into June."""
    moment = REVISION_START + timedelta(minutes=minute)
    return {
        "logName": "projects/p/logs/app",
        "insertId": f"{revision}-{minute}-{message}",
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "severity": severity,
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": service, "revision_name": revision},
        },
        "labels": {"instanceId": instance},
        "jsonPayload": {"message": message},
    }


@dataclass
class GateRun:
    """What one in-process run of the CLI produced."""

    code: int
    stdout: str
    stderr: str
    out: Path

    @property
    def worklog(self) -> dict[str, Any]:
        return json.loads((self.out / "worklog.json").read_text("utf-8"))

    @property
    def markdown(self) -> str:
        return (self.out / "worklog.md").read_text("utf-8")

    def cluster(self, **wanted: Any) -> dict[str, Any]:
        """The one cluster whose fields equal ``wanted``."""
        found = [
            c
            for c in self.worklog["clusters"]
            if all(c.get(k) == v for k, v in wanted.items())
        ]
        assert len(found) == 1, (wanted, [c["title"] for c in found])
        return found[0]


@pytest.fixture
def gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Call ``gate(*args)`` to run ``gardener-gate run`` with ``--out``."""
    counter = iter(range(1000))

    def run(*args: str, now: datetime = NOW) -> GateRun:
        out = tmp_path / f"out{next(counter)}"
        argv = list(args)
        if argv and argv[0] == "run" and "--out" not in argv:
            argv += ["--out", str(out)]
        elif "--out" in argv:
            out = Path(argv[argv.index("--out") + 1])
        code = main(argv, now=now)
        captured = capsys.readouterr()
        return GateRun(code, captured.out, captured.err, out)

    yield run


def run_and_publish(gate: Any, logs: Path, *extra: str) -> tuple[Any, Any]:
    """``run`` on ``logs``, then ``publish`` of its worklog, as the Action."""
    run = gate("run", "--logs", str(logs))
    published = gate(
        "publish",
        "--worklog",
        str(run.out),
        "--gate-exit-code",
        str(run.code),
        *extra,
    )
    return run, published


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a connection beyond the loopback address."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host
            not in (
                "127.0.0.1",
                "localhost",
                "::1",
            )
            and not host.startswith("/")
        ):
            raise AssertionError(f"test tried to reach {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _no_github_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's or CI's GitHub variables out of every run."""
    for name in (
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_API_URL",
        "GITHUB_SERVER_URL",
        "GITHUB_RUN_ID",
        "GITHUB_EVENT_PATH",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test from a temporary folder, so no run writes elsewhere."""
    monkeypatch.chdir(tmp_path)
