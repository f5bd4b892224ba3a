"""The GitHub Actions runner: its environment, outputs, summary, notes.

Workflow commands (``::error::`` and the like) are how a step talks to the
runner; a log line that printed one could open a fake annotation, set an
output or mask text. Everything printed here is escaped as the runner
expects, so that no text from the logs can act as a command.
"""

from __future__ import annotations

__all__ = [
    "INPUTS",
    "Runner",
    "artifact_name",
    "check_inputs",
    "main",
    "publish_arguments",
    "read_inputs",
    "run_arguments",
    "escape_data",
    "escape_property",
]

import json
import re
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gardener_gate.errors import UsageError
from gardener_gate.rules.load import is_rules_file

# GitHub rejects a job summary over 1 MiB; keep a margin for other steps.
SUMMARY_LIMIT = 1_000_000


def escape_data(text: str) -> str:
    """Escape the message of a workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property (``title=...``) of a workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass(frozen=True, slots=True)
class Runner:
    """What the runner tells a step through its environment."""

    env: Mapping[str, str]
    console: TextIO | None = None

    @property
    def event(self) -> dict[str, Any]:
        """The event payload, or an empty one when there is none."""
        path = self.env.get("GITHUB_EVENT_PATH")
        if not path:
            return {}
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.warning(f"could not read the event payload at {path}")
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Append step outputs, each safe for any text it holds."""
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            return
        lines = []
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        self._append(path, "".join(lines))

    def add_summary(self, markdown: str) -> None:
        """Append to the job summary, kept under GitHub's limit."""
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if path:
            self._append(path, markdown[:SUMMARY_LIMIT])

    def annotate(self, level: str, title: str, message: str) -> None:
        """An ``error``, ``warning`` or ``notice`` annotation."""
        title = escape_property(title)
        print(
            f"::{level} title={title}::{escape_data(message)}",
            file=self.console or sys.stdout,
        )

    def notice(self, message: str) -> None:
        """A notice line in the log and on the run's page."""
        print(
            f"::notice::{escape_data(message)}",
            file=self.console or sys.stdout,
        )

    def warning(self, message: str) -> None:
        """A warning line in the log and on the run's page."""
        print(
            f"::warning::{escape_data(message)}",
            file=self.console or sys.stdout,
        )

    def _append(self, path: str, text: str) -> None:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            self.warning(f"could not write {path}: {exc.strerror or exc}")


# The Action's inputs (kebab-case, as in action.yml) and their defaults.
INPUTS: dict[str, str] = {
    "logs": "",
    "project": "",
    "service": "",
    "region": "",
    "revision": "auto",
    "window": "3d",
    "bigquery-table": "",
    "max-bytes-billed": "",
    "rules": "rules",
    "rules-from": "head",
    "fail-on": "P2",
    "dry-run": "false",
    "comment": "true",
    "override-label": "gardener-gate/override",
    "override": "false",
    "artifact-name": "",
    "baseline-revision": "",
    "baseline": "",
    "link-issues-at": "P4",
    "open-issues": "off",
    "max-issues": "5",
    "issue-label": "gardener-gate",
}
_PRIORITY = re.compile(r"^[Pp]([0-9]|10)$")
_WINDOW = re.compile(r"^\d+(\.\d+)?[smhdw]$")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def read_inputs(env: Mapping[str, str]) -> dict[str, str]:
    """The inputs, from the ``INPUT_*`` variables the steps set."""
    return {
        name: env.get(
            f"INPUT_{name.upper().replace('-', '_')}", default
        ).strip()
        or default
        for name, default in INPUTS.items()
    }


def check_inputs(inputs: Mapping[str, str]) -> list[str]:
    """Every problem with the inputs, each as a sentence."""
    problems = []
    cloud = [inputs["project"], inputs["service"], inputs["region"]]
    if inputs["logs"] and any(cloud[:1] + cloud[2:]):
        problems.append("give either logs, or project and region, not both")
    if not inputs["logs"] and not all(cloud):
        problems.append(
            "give logs (a file of entries), or project, service and region"
        )
    if not _PRIORITY.match(inputs["fail-on"]):
        problems.append(f"fail-on {inputs['fail-on']!r}: use P0 to P10")
    problems += _issue_problems(inputs)
    if not _WINDOW.match(inputs["window"]):
        problems.append(
            f"window {inputs['window']!r}: use a duration, e.g. 3d"
        )
    if inputs["baseline-revision"] and inputs["baseline"]:
        problems.append(
            "give baseline-revision or baseline (a worklog), not both"
        )
    if inputs["bigquery-table"] and inputs["logs"]:
        problems.append("give either logs, or bigquery-table, not both")
    if inputs["max-bytes-billed"] and not (
        inputs["bigquery-table"] and inputs["max-bytes-billed"].isdigit()
    ):
        problems.append(
            f"max-bytes-billed {inputs['max-bytes-billed']!r}: use a number "
            "of bytes, with bigquery-table"
        )
    if inputs["rules-from"] not in ("head", "base"):
        problems.append(
            f"rules-from {inputs['rules-from']!r}: use head or base"
        )
    for name in ("dry-run", "comment", "override"):
        if inputs[name].lower() not in ("true", "false"):
            problems.append(f"{name} {inputs[name]!r}: use true or false")
    return problems


def _issue_problems(inputs: Mapping[str, str]) -> list[str]:
    problems = []
    for name in ("link-issues-at", "open-issues"):
        value = inputs[name]
        if value.lower() != "off" and not _PRIORITY.match(value):
            problems.append(f"{name} {value!r}: use P0 to P10, or off")
    if not inputs["max-issues"].isdigit():
        problems.append(
            f"max-issues {inputs['max-issues']!r}: use a count, such as 5"
        )
    if "," in inputs["issue-label"]:
        problems.append(
            f"issue-label {inputs['issue-label']!r}: one label, without commas"
        )
    return problems


def artifact_name(inputs: Mapping[str, str]) -> str:
    """The artifact's name: one per service, so that several can run."""
    if inputs["artifact-name"]:
        return inputs["artifact-name"]
    service = _NAME.sub("-", inputs["service"]).strip("-")
    return (
        f"gardener-gate-worklog-{service}"
        if service
        else ("gardener-gate-worklog")
    )


def _given(option: str, value: str) -> str:
    # One word, option=value: an input that starts with a dash stays the
    # option's value rather than passing for another option.
    return f"--{option}={value}"


def run_arguments(
    inputs: Mapping[str, str], out: Path, rules: Path
) -> list[str]:
    """The ``gardener-gate run`` command line for these inputs."""
    argv = ["run", _given("out", str(out))]
    if rules.exists():
        argv.append(_given("rules", str(rules)))
    argv.append(_given("fail-on", inputs["fail-on"].upper()))
    if inputs["logs"]:
        argv.append(_given("logs", inputs["logs"]))
        if inputs["revision"] != "auto":
            argv.append(_given("revision", inputs["revision"]))
    else:
        argv += [
            _given(name, inputs[name])
            for name in ("project", "service", "region", "revision", "window")
        ]
        if inputs["bigquery-table"]:
            argv += [
                "--source=bigquery",
                _given("table", inputs["bigquery-table"]),
            ]
        if inputs["max-bytes-billed"]:
            argv.append(_given("max-bytes-billed", inputs["max-bytes-billed"]))
    for name in ("baseline-revision", "baseline"):
        if inputs[name]:
            argv.append(_given(name, inputs[name]))
    if inputs["dry-run"].lower() == "true":
        argv.append("--dry-run")
    argv += [
        _given("link-issues-at", inputs["link-issues-at"].upper()),
        _given("issue-label", inputs["issue-label"]),
    ]
    return argv


def publish_arguments(
    inputs: Mapping[str, str], out: Path, code: str, rules: Path
) -> list[str]:
    """The ``gardener-gate publish`` command line for these inputs."""
    argv = [
        "publish",
        _given("worklog", str(out)),
        _given("gate-exit-code", code),
        _given("artifact-name", artifact_name(inputs)),
        _given("rules", str(rules)),
        _given("override-label", inputs["override-label"]),
    ]
    if inputs["service"]:
        argv.append(_given("service", inputs["service"]))
    if inputs["override"].lower() == "true":
        argv.append("--override")
    if inputs["comment"].lower() != "true":
        argv.append("--no-comment")
    # A bad value was reported by the run step, which stopped with code 2.
    wanted = inputs["open-issues"].lower() != "off"
    if wanted and not _issue_problems(inputs):
        argv += [
            _given("open-issues", inputs["open-issues"].upper()),
            _given("max-issues", inputs["max-issues"]),
            _given("issue-label", inputs["issue-label"]),
        ]
    return argv


def base_rules(inputs: Mapping[str, str], runner: Runner, into: Path) -> Path:
    """The rules folder as the pull request's base branch has it.

    Raises:
        UsageError: the base commit or its rules cannot be had.
    """
    pull = runner.event.get("pull_request") or {}
    sha = (pull.get("base") or {}).get("sha")
    if not sha:
        raise UsageError("rules-from: base needs a pull_request event")
    folder = inputs["rules"].strip("/")
    have = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True
    )
    if have.returncode != 0:
        fetched = subprocess.run(
            ["git", "fetch", "--no-tags", "--depth=1", "origin", sha],
            capture_output=True,
            text=True,
        )
        if fetched.returncode != 0:
            raise UsageError(
                f"rules-from: base: cannot fetch the base commit {sha} "
                f"({fetched.stderr.strip()[:200] or 'git fetch failed'}); "
                "check out with fetch-depth: 0, or keep the credentials"
            )
    into.mkdir(parents=True, exist_ok=True)
    listing = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{sha}:{folder}"],
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        runner.notice(f"gardener-gate: the base branch has no {folder}/")
        return into
    for name in listing.stdout.split():
        if not is_rules_file(name):
            continue
        shown = subprocess.run(
            ["git", "show", f"{sha}:{folder}/{name}"], capture_output=True
        )
        if shown.returncode != 0:
            raise UsageError(f"cannot read {folder}/{name} at {sha}")
        (into / name).write_bytes(shown.stdout)
    return into


def _run_step(runner: Runner) -> int:
    from gardener_gate.cli import main as cli_main

    inputs = read_inputs(runner.env)
    workdir = Path(runner.env.get("RUNNER_TEMP") or ".") / "gardener-gate"
    out = workdir / artifact_name(inputs)
    outputs = {"out": str(out), "artifact-name": artifact_name(inputs)}
    problems = check_inputs(inputs)
    if problems:
        for problem in problems:
            runner.annotate("error", "gardener-gate inputs", problem)
        runner.set_outputs({**outputs, "code": "2"})
        return 0
    rules = Path(inputs["rules"])
    if inputs["rules-from"] == "base":
        try:
            rules = base_rules(inputs, runner, workdir / "base-rules")
        except UsageError as fault:
            runner.annotate("error", "gardener-gate rules", str(fault))
            runner.set_outputs({**outputs, "code": "2"})
            return 0
    if not rules.exists():
        runner.notice(
            f"gardener-gate: no {inputs['rules']}/ folder; the shipped "
            "defaults alone decide"
        )
    code = cli_main(run_arguments(inputs, out, rules))
    runner.set_outputs({**outputs, "code": str(code), "rules": str(rules)})
    return 0


def _publish_step(runner: Runner) -> int:
    from gardener_gate.cli import main as cli_main

    inputs = read_inputs(runner.env)
    out = runner.env.get("GATE_OUT", "")
    code = runner.env.get("GATE_CODE", "") or "4"
    rules = runner.env.get("GATE_RULES") or inputs["rules"]
    cli_main(publish_arguments(inputs, Path(out), code, Path(rules)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m gardener_gate.action run|publish``: the Action's steps."""
    import os

    step = (argv if argv is not None else sys.argv[1:])[:1]
    runner = Runner(os.environ)
    if step == ["run"]:
        return _run_step(runner)
    if step == ["publish"]:
        return _publish_step(runner)
    sys.stderr.write("usage: python -m gardener_gate.action run|publish\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
