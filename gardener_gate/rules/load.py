"""Reading rules files: YAML with line numbers, checked by JSON Schema.

Every problem is reported as ``FILE:LINE: KEY: what is wrong``, all of
them at once, before any log is read.
"""

from __future__ import annotations

__all__ = [
    "is_rules_file",
    "load_rules",
]

import json
import logging
import math
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import yaml

from gardener_gate.errors import RuleProblem, RulesError
from gardener_gate.rules.model import (
    Acceptance,
    Policy,
    RuleSet,
    Signature,
    Threshold,
    compile_pattern,
    glob_to_re2,
    parse_priority,
)
from gardener_gate.severity import Severity

logger = logging.getLogger(__name__)
_N = TypeVar("_N", int, float)

_MAX_NODES = 100_000
_MAX_DEPTH = 64
_MAX_REDACT = 200
_MAX_FILE_BYTES = 4 << 20
Path_ = tuple[str | int, ...]


class _Document:
    """A parsed YAML file: its data, and the line of every path in it."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.lines: dict[Path_, int] = {}
        self.problems: list[RuleProblem] = []
        self._nodes = 0
        self.data = None
        loader = None
        try:
            loader = yaml.SafeLoader(text)
            node = loader.get_single_node()
            if node is not None:
                self.data = self._build(node, (), loader, 0)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            self._problem(line, "(file)", f"not valid YAML: {exc.problem}")
        except yaml.YAMLError as exc:
            self._problem(1, "(file)", f"not valid YAML: {_one_line(exc)}")
        except RecursionError:
            self._problem(
                1, "(file)", "nested too deeply, or an alias that holds itself"
            )
        finally:
            if loader is not None:
                loader.dispose()

    def line_of(self, path: Path_) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def _problem(self, line: int, key: str, text: str) -> None:
        self.problems.append(RuleProblem(self.name, line, key, text))

    def _build(
        self, node: yaml.Node, path: Path_, loader: Any, depth: int
    ) -> Any:
        self._nodes += 1
        if self._nodes > _MAX_NODES:
            raise yaml.YAMLError("too many values (alias expansion?)")
        if depth > _MAX_DEPTH:
            raise RecursionError
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node)
                if not isinstance(key, str):
                    key = str(key)
                if key in result:
                    self._problem(
                        key_node.start_mark.line + 1,
                        _dotted(path + (key,)),
                        "duplicate key",
                    )
                child = path + (key,)
                self.lines[child] = key_node.start_mark.line + 1
                result[key] = self._build(value_node, child, loader, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [
                self._build(item, path + (index,), loader, depth + 1)
                for index, item in enumerate(node.value)
            ]
        if node.tag == "tag:yaml.org,2002:timestamp":
            # An unquoted date is fine under ``expires``; keep its text.
            return node.value
        value = loader.construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):
            # .nan passes every bound a schema can set; no rule needs it.
            self._problem(
                node.start_mark.line + 1,
                _dotted(path),
                "not a finite number",
            )
        return value


def _one_line(value: object) -> str:
    return " ".join(str(value).split())[:300]


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"


def _schema() -> dict[str, Any]:
    text = resources.files("gardener_gate.rules").joinpath("schema.json")
    schema: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return schema


def _shipped_text() -> str:
    path = resources.files("gardener_gate.rules").joinpath("defaults.yaml")
    return path.read_text(encoding="utf-8")


def load_rules(directory: Path | None) -> RuleSet:
    """Load the shipped defaults, then the ``*.yaml`` files of ``directory``.

    Raises:
        RulesError: any file is invalid; every problem found is listed.
    """
    validator = jsonschema.Draft202012Validator(_schema())
    shipped = _Document("(shipped defaults)", _shipped_text())
    documents = [_read(path) for path in _rule_files(directory)]
    problems: list[RuleProblem] = []
    for document in [shipped, *documents]:
        problems.extend(document.problems)
        if not document.problems:
            problems.extend(_validate(validator, document))
    problems.extend(_duplicate_ids(documents))
    built = _Builder()
    if not problems:
        for document in documents:
            built.add(document, source=document.name)
        built.add(shipped, source="shipped")
        problems.extend(built.problems)
    if problems:
        raise RulesError(problems)
    return built.rule_set(tuple(d.name for d in documents))


def is_rules_file(name: str) -> bool:
    """Whether a file of a rules folder is read: YAML, not hidden."""
    return name.endswith((".yaml", ".yml")) and not name.startswith(".")


def _rule_files(directory: Path | None) -> list[Path]:
    if directory is None:
        return []
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        raise RulesError(
            [
                RuleProblem(
                    str(directory),
                    0,
                    "--rules",
                    "no such directory (without --rules, ./rules is read "
                    "if it exists, and the shipped rules always)",
                )
            ]
        )
    found = sorted(p for p in directory.iterdir() if is_rules_file(p.name))
    broken = [p for p in found if not p.is_file()]
    if any(not p.exists() for p in broken):
        raise RulesError(
            [
                RuleProblem(str(p), 0, "(file)", "a link to nothing")
                for p in broken
                if not p.exists()
            ]
        )
    return [p for p in found if p.is_file()]


def _read(path: Path) -> _Document:
    try:
        raw = path.read_bytes()[: _MAX_FILE_BYTES + 1]
    except OSError as exc:
        document = _Document(str(path), "")
        document.problems.append(
            RuleProblem(str(path), 0, "(file)", f"cannot read: {exc.strerror}")
        )
        return document
    if len(raw) > _MAX_FILE_BYTES:
        document = _Document(str(path), "")
        document.problems.append(
            RuleProblem(str(path), 1, "(file)", "larger than 4 MiB")
        )
        return document
    text = raw.decode("utf-8", errors="replace")
    document = _Document(str(path), text)
    if document.data is None and not document.problems:
        document.problems.append(
            RuleProblem(str(path), 1, "(file)", "empty; expected version: 1")
        )
    return document


def _validate(
    validator: jsonschema.Draft202012Validator, document: _Document
) -> list[RuleProblem]:
    problems = []
    for error in validator.iter_errors(document.data):
        path = tuple(error.absolute_path)
        key, text = _describe(error, path)
        line = document.line_of(
            path + (key.rsplit(".", 1)[-1],)
            if error.validator == "additionalProperties"
            else path
        )
        problems.append(RuleProblem(document.name, line, key, text))
    return sorted(problems, key=lambda p: (p.line, p.key, p.problem))


def _describe(
    error: jsonschema.ValidationError, path: Path_
) -> tuple[str, str]:
    key = _dotted(path)
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = sorted(set(value if isinstance(value, dict) else ()) - known)
        allowed = ", ".join(sorted(known))
        name = extra[0] if extra else "?"
        return _dotted(path + (name,)), f"unknown key (allowed: {allowed})"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        hint = (
            " (start the file with version: 1)" if missing == "version" else ""
        )
        return key, f"missing required key {missing!r}{hint}"
    if error.validator in ("type", "oneOf") and isinstance(value, bool):
        return key, (
            f"got {str(value).lower()} (YAML reads yes/no/on/off as a "
            "boolean); quote the value"
        )
    if error.validator == "type":
        return key, f"expected {error.validator_value}, got {_kind(value)}"
    if error.validator == "enum":
        choices = ", ".join(str(c) for c in schema.get("enum", ()))
        return key, f"{value!r} is not one of: {choices}"
    if error.validator == "const":
        return key, f"must be {error.validator_value!r}"
    if error.validator == "pattern":
        form = _FORMS.get(str(error.validator_value), "the expected form")
        return key, f"{value!r} is not {form}"
    if error.validator == "not":
        return key, "give either message or glob, not both"
    if error.validator == "oneOf":
        return key, f"{value!r} is not a valid value here"
    return key, error.message


_FORMS = {
    "^P([0-9]|10)$": "a priority from P0 to P10 (capital P)",
    "^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$": (
        "an id: letters, digits, '.', '_' and '-', up to 80, no spaces"
    ),
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "a date as YYYY-MM-DD",
    "^([1-9]xx|[1-9][0-9]{2}|unknown)$": (
        "an HTTP status such as 404, a class such as 5xx, or unknown"
    ),
}


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _duplicate_ids(documents: list[_Document]) -> list[RuleProblem]:
    problems = []
    seen: dict[tuple[str, str], str] = {}
    for document in documents:
        data = document.data if isinstance(document.data, dict) else {}
        for section in ("signatures", "thresholds"):
            items = data.get(section)
            if not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                if not isinstance(item, dict) or "id" not in item:
                    continue
                ident = str(item["id"])
                path = (section, index, "id")
                earlier = seen.get((section, ident))
                if earlier is not None:
                    problems.append(
                        RuleProblem(
                            document.name,
                            document.line_of(path),
                            _dotted(path),
                            f"duplicate id {ident!r} (first in {earlier})",
                        )
                    )
                else:
                    seen[(section, ident)] = (
                        f"{document.name}:{document.line_of(path)}"
                    )
    return problems


class _Builder:
    """Turns validated documents into rule records, compiling patterns."""

    def __init__(self) -> None:
        self.problems: list[RuleProblem] = []
        self._thresholds: list[Threshold] = []
        self._signatures: list[Signature] = []
        self._redact: list[str] = []
        self._policy: dict[str, Any] = {}
        self._shipped_policy: dict[str, Any] = {}

    def add(self, document: _Document, source: str) -> None:
        data: dict[str, Any] = document.data or {}
        for index, item in enumerate(data.get("thresholds") or []):
            self._thresholds.append(
                self._threshold(document, ("thresholds", index), item, source)
            )
        for index, item in enumerate(data.get("signatures") or []):
            self._signatures.append(
                self._signature(document, ("signatures", index), item)
            )
        patterns = data.get("redact") or []
        if len(patterns) > _MAX_REDACT:
            self.problems.append(
                RuleProblem(
                    document.name,
                    document.line_of(("redact",)),
                    "redact",
                    f"{len(patterns)} patterns; at most {_MAX_REDACT}, "
                    "combine them with |",
                )
            )
            return
        for index, pattern in enumerate(patterns):
            compiled = self._compile(document, ("redact", index), pattern)
            if compiled is not None and compiled.search(""):
                self.problems.append(
                    RuleProblem(
                        document.name,
                        document.line_of(("redact", index)),
                        f"redact[{index}]",
                        f"{pattern!r} matches empty text, so it would "
                        "redact everywhere",
                    )
                )
            self._redact.append(pattern)
        policy = data.get("policy") or {}
        if source == "shipped":
            self._shipped_policy = policy
        else:
            self._policy.update(policy)

    def rule_set(self, files: tuple[str, ...]) -> RuleSet:
        merged = {**self._shipped_policy, **self._policy}
        return RuleSet(
            thresholds=tuple(self._thresholds),
            signatures=tuple(self._signatures),
            redact=tuple(self._redact),
            policy=Policy(
                fail_on=parse_priority(merged.get("fail_on", "P2")),
                no_data=merged.get("no_data", "warn"),
                redact_service_accounts=bool(
                    merged.get("redact_service_accounts", False)
                ),
                no_baseline=merged.get("no_baseline", "warn"),
                frequency_factor=float(merged.get("frequency_factor", 3)),
                known_in_baseline=merged.get("known_in_baseline", "pass"),
            ),
            files=files,
        )

    def _compile(self, document: _Document, path: Path_, pattern: str) -> Any:
        try:
            return compile_pattern(pattern)
        except ValueError as exc:
            rule = _rule_id(document, path)
            named = f"rule {rule!r}: " if rule else ""
            self.problems.append(
                RuleProblem(
                    document.name,
                    document.line_of(path),
                    _dotted(path),
                    f"{named}bad pattern {pattern!r} (RE2 syntax: no "
                    f"backreferences or lookaround): {exc}",
                )
            )
            return None

    def _threshold(
        self,
        document: _Document,
        path: Path_,
        item: dict[str, Any],
        source: str,
    ) -> Threshold:
        match = item.get("match")
        return Threshold(
            id=item["id"],
            priority=parse_priority(item["priority"]),
            source=source,
            kind=item.get("kind"),
            min_severity=_severity(item.get("min_severity")),
            status=_status(item.get("status")),
            min_count=item.get("min_count"),
            match=(
                None
                if match is None
                else self._compile(document, path + ("match",), match)
            ),
        )

    def _signature(
        self, document: _Document, path: Path_, item: dict[str, Any]
    ) -> Signature:
        match = item["match"]
        where = path + ("match",)

        def globs(key: str) -> tuple[Any, ...]:
            value = match.get(key)
            values = [value] if isinstance(value, str) else value or []
            return tuple(
                self._compile(document, where + (key,), glob_to_re2(v))
                for v in values
            )

        message = match.get("message")
        glob = match.get("glob")
        logger_glob = match.get("logger")
        accept = item.get("accept")
        return Signature(
            id=item["id"],
            file=document.name,
            line=document.line_of(path),
            title=item.get("title"),
            message=(
                None
                if message is None
                else self._compile(document, where + ("message",), message)
            ),
            glob=(
                None
                if glob is None
                else self._compile(
                    document, where + ("glob",), glob_to_re2(glob)
                )
            ),
            kind=match.get("kind"),
            severity=_severity(match.get("severity")),
            status=_status(match.get("status")),
            routes=globs("route"),
            user_agents=globs("user_agent"),
            logger=(
                None
                if logger_glob is None
                else self._compile(
                    document, where + ("logger",), glob_to_re2(logger_glob)
                )
            ),
            labels=tuple(
                (
                    key,
                    self._compile(
                        document, where + ("labels", key), glob_to_re2(value)
                    ),
                )
                for key, value in (match.get("labels") or {}).items()
            ),
            priority=(
                parse_priority(item["priority"])
                if "priority" in item
                else None
            ),
            accept=(
                None
                if accept is None
                else self._acceptance(document, path + ("accept",), accept)
            ),
            raw=item,
        )

    def _acceptance(
        self, document: _Document, path: Path_, accept: dict[str, Any]
    ) -> Acceptance:
        expires = accept.get("expires")
        day = None
        if expires is not None:
            try:
                day = date.fromisoformat(expires)
            except ValueError:
                self.problems.append(
                    RuleProblem(
                        document.name,
                        document.line_of(path + ("expires",)),
                        _dotted(path + ("expires",)),
                        f"{expires!r} is not a date (YYYY-MM-DD)",
                    )
                )
        return Acceptance(
            reason=accept["reason"],
            owner=accept.get("owner"),
            link=accept.get("link"),
            expires=day,
            until_count=_number(accept.get("until_count"), int),
            until_rate_factor=_number(accept.get("until_rate_factor"), float),
        )


def _rule_id(document: _Document, path: Path_) -> str | None:
    if len(path) < 2 or not isinstance(document.data, dict):
        return None
    items = document.data.get(path[0])
    if isinstance(items, list) and isinstance(path[1], int):
        item = items[path[1]] if path[1] < len(items) else None
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            return str(item["id"])
    return None


def _status(value: Any) -> int | str | None:
    # YAML reads 502.0 as a number that JSON Schema counts as an integer.
    return int(value) if isinstance(value, float) else value


def _number(value: Any, kind: type[_N]) -> _N | None:
    return None if value is None else kind(value)


def _severity(name: str | None) -> Severity | None:
    return None if name is None else Severity[name]
