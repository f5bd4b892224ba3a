"""A small stand-in for the GitHub Actions runner, for action.yml.

It runs a composite action's steps in order as the runner would: each
``run`` step in bash with the step's ``env``, fresh ``GITHUB_OUTPUT``
files read back into ``steps.<id>.outputs``, ``if`` conditions checked,
and ``${{ }}`` expressions filled in for the few forms action.yml uses.
``uses`` steps are played by stand-ins: setup-python does nothing (Python
is there), upload-artifact copies the folder it is given.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionRun:
    """What one run of the action left behind."""

    code: int
    outputs: dict[str, str]
    steps: dict[str, dict[str, str]]
    log: str
    artifacts: dict[str, Path]


@dataclass
class SimulatedRunner:
    action_path: Path
    workspace: Path
    env: dict[str, str]
    token: str = "ghs_faketoken000000000000000000000000"
    artifacts: Path = field(default_factory=lambda: Path("artifacts"))

    def run(self, inputs: dict[str, str]) -> ActionRun:
        action = yaml.safe_load((self.action_path / "action.yml").read_text())
        values = {
            name: spec.get("default", "")
            for name, spec in action.get("inputs", {}).items()
        }
        values.update(inputs)
        steps: dict[str, dict[str, str]] = {}
        log: list[str] = []
        code = 0
        for number, step in enumerate(action["runs"]["steps"]):
            context = {"inputs": values, "steps": steps, "token": self.token}
            condition = step.get("if", "success()")
            if not _condition(condition, context, failed=code != 0):
                continue
            if "uses" in step:
                self._uses(step, context)
                continue
            outputs_file = self.workspace / f".output-{number}"
            outputs_file.write_text("")
            env = {
                **self.env,
                "GITHUB_OUTPUT": str(outputs_file),
                "GITHUB_ACTION_PATH": str(self.action_path),
            }
            for name, value in (step.get("env") or {}).items():
                env[name] = _fill(str(value), context)
            done = subprocess.run(
                [
                    "bash",
                    "--noprofile",
                    "--norc",
                    "-eo",
                    "pipefail",
                    "-c",
                    step["run"],
                ],
                cwd=self.workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            log.append(done.stdout + done.stderr)
            if "id" in step:
                steps[step["id"]] = {"outputs": _read_outputs(outputs_file)}
            if done.returncode != 0:
                code = done.returncode
        context = {"inputs": values, "steps": steps, "token": self.token}
        outputs = {
            name: _fill(spec["value"], context)
            for name, spec in action.get("outputs", {}).items()
        }
        uploaded = (
            {p.name: p for p in self.artifacts.iterdir()}
            if (self.artifacts.exists())
            else {}
        )
        return ActionRun(code, outputs, steps, "".join(log), uploaded)

    def _uses(self, step: dict[str, Any], context: dict[str, Any]) -> None:
        with_ = {
            k: _fill(str(v), context)
            for k, v in (step.get("with") or {}).items()
        }
        if step["uses"].startswith("actions/upload-artifact@"):
            target = self.artifacts / with_["name"]
            if not Path(with_["path"]).exists():
                # if-no-files-found: warn
                return
            if target.exists():
                raise AssertionError(
                    f"artifact {with_['name']} uploaded twice"
                )
            shutil.copytree(with_["path"], target)


def _lookup(path: str, context: dict[str, Any]) -> str:
    parts = path.split(".")
    if parts[0] == "inputs":
        return str(context["inputs"].get(parts[1], ""))
    if parts[0] == "steps":
        step = context["steps"].get(parts[1], {})
        return str(step.get("outputs", {}).get(parts[3], ""))
    if path == "github.token":
        return str(context["token"])
    raise AssertionError(f"expression not understood: {path}")


def _fill(text: str, context: dict[str, Any]) -> str:
    return _EXPRESSION.sub(lambda m: _lookup(m.group(1), context), text)


def _condition(text: str, context: dict[str, Any], failed: bool) -> bool:
    text = _EXPRESSION.sub(lambda m: m.group(1), text)
    result = True
    for part in text.split("&&"):
        part = part.strip()
        if part == "always()":
            continue
        if part == "success()":
            result = result and not failed
            continue
        found = re.fullmatch(r"(\S+)\s*(!=|==)\s*'(.*)'", part)
        if found is None:
            raise AssertionError(f"condition not understood: {part}")
        value = _lookup(found.group(1), context)
        equal = value == found.group(3)
        result = result and (equal if found.group(2) == "==" else not equal)
    return result


def _read_outputs(path: Path) -> dict[str, str]:
    text = path.read_text()
    outputs = {
        name: value
        for name, delimiter, value in re.findall(
            r"^(\S+)<<(\S+)\n(.*?)\n\2$", text, re.M | re.S
        )
    }
    for line in text.splitlines():
        if "=" in line and "<<" not in line:
            name, value = line.split("=", 1)
            outputs.setdefault(name, value)
    return outputs
