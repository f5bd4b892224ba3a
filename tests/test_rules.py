"""Rules files: validation with exact locations, and what rules decide."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import DATA

from gardener_gate.errors import RulesError
from gardener_gate.rules import load_rules
from gardener_gate.rules.model import glob_to_re2


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _problems(folder: Path) -> list[str]:
    with pytest.raises(RulesError) as caught:
        load_rules(folder)
    return [str(p) for p in caught.value.problems]


def test_the_shipped_defaults_load_alone():
    rules = load_rules(None)

    assert len(rules.thresholds) == 10
    assert rules.signatures == ()
    assert rules.policy.fail_on == 2
    assert rules.policy.no_data == "warn"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """
            version: 1
            signatures:
              - id: probes
                mtach: {status: 404}
            """,
            "{f}:4: signatures[0].mtach: unknown key",
        ),
        (
            """
            version: 1
            signatures:
              - id: probes
                match:
                  message: NO
            """,
            "{f}:5: signatures[0].match.message: got false",
        ),
        (
            """
            version: 1
            signatures:
              - id: probes
                match: {status: 404}
                accept:
                  owner: '@me'
            """,
            "{f}:5: signatures[0].accept: missing required key 'reason'",
        ),
        (
            """
            version: 1
            thresholds:
              - id: slow
                priority: P11
            """,
            "{f}:4: thresholds[0].priority: 'P11' is not a priority from "
            "P0 to P10",
        ),
        (
            """
            version: 1
            policy:
              no_data: maybe
            """,
            "{f}:3: policy.no_data: 'maybe' is not one of: pass, warn, fail",
        ),
        (
            """
            version: 1
            signatures:
              - id: a
                match: {status: 404}
                match: {status: 500}
            """,
            "{f}:5: signatures[0].match: duplicate key",
        ),
        (
            """
            version: 1
            signatures:
              - id: a
                match:
                  message: '(a+)+\\1'
            """,
            "{f}:5: signatures[0].match.message: rule 'a': bad pattern",
        ),
        (
            """
            version: 1
            signatures:
              - id: a
                match:
                  message: '(?=lookahead)'
            """,
            "{f}:5: signatures[0].match.message: rule 'a': bad pattern",
        ),
        (
            """
            version: 1
            signatures:
              - id: a
                match: {status: 404}
                accept: {reason: ok, expires: 2026-02-30}
            """,
            "{f}:5: signatures[0].accept.expires: '2026-02-30' is not a date",
        ),
        (
            """
            version: 1
            signatures: [
            """,
            "{f}:3: (file): not valid YAML",
        ),
        (
            "signatures: []\n",
            "{f}:1: (file): missing required key 'version'",
        ),
    ],
)
def test_each_problem_names_file_line_key_and_what_is_wrong(
    tmp_path, text, expected
):
    path = _write(tmp_path / "rules", "team.yaml", text)

    problems = _problems(tmp_path / "rules")

    assert any(p.startswith(expected.format(f=path)) for p in problems), (
        problems
    )


def test_a_signature_id_used_twice_across_files_is_an_error(tmp_path):
    folder = tmp_path / "rules"
    _write(
        folder,
        "a.yaml",
        """
        version: 1
        signatures:
          - id: probes
            match: {status: 404}
    """,
    )
    second = _write(
        folder,
        "b.yaml",
        """
        version: 1
        signatures:
          - id: probes
            match: {status: 499}
    """,
    )

    problems = _problems(folder)

    assert problems == [
        f"{second}:3: signatures[0].id: duplicate id 'probes' "
        f"(first in {folder / 'a.yaml'}:3)"
    ]


def test_an_unquoted_date_under_expires_is_fine(tmp_path):
    folder = tmp_path / "rules"
    _write(
        folder,
        "a.yaml",
        """
        version: 1
        signatures:
          - id: probes
            match: {status: 404}
            accept: {reason: monitoring, expires: 2026-12-31}
    """,
    )

    rules = load_rules(folder)

    assert str(rules.signatures[0].accept.expires) == "2026-12-31"


def test_files_are_read_in_name_order_and_before_the_defaults(tmp_path):
    folder = tmp_path / "rules"
    _write(
        folder,
        "b.yaml",
        """
        version: 1
        thresholds:
          - {id: second, priority: P3}
    """,
    )
    _write(
        folder,
        "a.yaml",
        """
        version: 1
        thresholds:
          - {id: first, priority: P3}
        policy: {fail_on: P4}
    """,
    )

    rules = load_rules(folder)

    ids = [t.id for t in rules.thresholds]
    assert ids[:2] == ["first", "second"]
    assert ids[2] == "default-critical"
    assert rules.policy.fail_on == 4


@pytest.mark.parametrize(
    ("glob", "text", "matches"),
    [
        ("python-httpx/*", "python-httpx/0.27.2", True),
        ("python-httpx/*", "curl/8.0", False),
        ("/api/v?/cart", "/api/v1/cart", True),
        ("/metrics", "/metrics/extra", False),
        ("[!a]bc", "xbc", True),
        ("a.b", "axb", False),
    ],
)
def test_globs_match_the_whole_text(glob, text, matches):
    import re2

    assert bool(re2.search(glob_to_re2(glob), text)) is matches


def test_a_missing_rules_folder_is_named_without_a_line(gate, tmp_path):
    missing = tmp_path / "rules"

    run = gate(
        "run",
        "--logs",
        str(DATA / "cases/staging-3day/input.json"),
        "--rules",
        str(missing),
    )

    assert run.code == 2
    assert f"{missing}: --rules: no such directory (without" in run.stderr
    assert f"{missing}:0" not in run.stderr
