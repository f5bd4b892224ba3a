"""Case audit-protopayload: audit entries cluster apart, people redacted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES

from gardener_gate.entry import normalize

INPUT = CASES / "audit-protopayload" / "input.json"
STAMP = "2025-05-12T15:00:00Z"
DENIED = "run.googleapis.com GetService denied (code 7)"
REPLACE = "run.googleapis.com ReplaceService"
SET_IAM = "run.googleapis.com SetIamPolicy (ADD roles/run.invoker to allUsers)"
OTHER = "other audit events (example.custom.UnknownPayload)"
APP_MESSAGE = "Inventory sync failed for warehouse north"
HEADING = re.compile(r"^(#{1,6}) (.*)$")
CODE_SPAN = re.compile(r"(`+).*?\1")


@pytest.fixture
def result(gate: Any) -> Any:
    return gate("run", "--logs", str(INPUT))


def _mixed_input(tmp_path: Path) -> Path:
    """The case's audit entries plus one application message."""
    entries = json.loads(INPUT.read_text("utf-8"))
    entries.append(
        {
            "insertId": "app-1",
            "logName": "projects/demo/logs/run.googleapis.com%2Fstdout",
            "timestamp": "2025-05-12T15:20:00Z",
            "severity": "ERROR",
            "jsonPayload": {"message": APP_MESSAGE},
            "resource": entries[0]["resource"],
        }
    )
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(entries), "utf-8")
    return path


def _heading_lines(markdown: str, wanted: str) -> list[int]:
    """Numbers of the heading lines whose text contains ``wanted``."""
    return [
        number
        for number, line in enumerate(markdown.split("\n"))
        if (found := HEADING.match(line)) and wanted in found.group(2)
    ]


def _audit_headings(markdown: str) -> list[int]:
    """Heading lines that name audit events in words, not in quoted text."""
    return [
        number
        for number, line in enumerate(markdown.split("\n"))
        if (found := HEADING.match(line))
        and re.search(r"(?i)\baudit\b", CODE_SPAN.sub("", found.group(2)))
    ]


@pytest.mark.parametrize(
    ("proto", "summary"),
    [
        (
            {
                "serviceName": "run.googleapis.com",
                "methodName": "google.cloud.run.v2.Services.GetService",
                "status": {"code": 7, "message": "denied"},
            },
            DENIED,
        ),
        (
            {
                "serviceName": "run.googleapis.com",
                "methodName": "google.cloud.run.v1.Services.ReplaceService",
                "status": {},
            },
            REPLACE,
        ),
        (
            {
                "@type": "type.googleapis.com/example.custom.UnknownPayload",
                "opaque": "AAECAwQ=",
            },
            OTHER,
        ),
    ],
)
def test_an_audit_entry_is_summarised_by_service_and_method(
    proto: dict[str, Any], summary: str
) -> None:
    raw = {"timestamp": STAMP, "insertId": "a1", "protoPayload": proto}

    entry = normalize(0, raw)

    assert not isinstance(entry, str)
    assert entry.kind == "audit"
    assert entry.message == summary


@pytest.mark.parametrize(
    "proto",
    [
        {},
        {"methodName": 5, "serviceName": ["x"]},
        {"methodName": "", "@type": None},
        {"methodName": "a.B", "status": "PERMISSION_DENIED"},
        {"methodName": "a.B", "status": {"code": "7"}},
        {"methodName": "a.B", "serviceData": [1, {"x": None}]},
    ],
)
def test_a_strange_proto_payload_never_raises(proto: dict[str, Any]) -> None:
    raw = {"timestamp": STAMP, "insertId": "a2", "protoPayload": proto}

    entry = normalize(0, raw)

    assert not isinstance(entry, str)
    assert entry.kind == "audit"
    assert entry.message.strip() != ""


def test_every_audit_entry_is_read_and_none_skipped(result: Any) -> None:
    entries = result.worklog["entries"]

    assert entries["read"] == 5
    assert entries["skipped"] == 0
    assert entries["events"] == 5


@pytest.mark.parametrize(
    ("title", "severity", "count", "priority"),
    [
        (DENIED, "ERROR", 2, "P1"),
        (REPLACE, "NOTICE", 1, "P10"),
        (SET_IAM, "NOTICE", 1, "P10"),
        (OTHER, "INFO", 1, "P10"),
    ],
)
def test_audit_entries_form_audit_clusters(
    result: Any, title: str, severity: str, count: int, priority: str
) -> None:
    cluster = result.cluster(title=title)

    assert cluster["kind"] == "audit"
    assert cluster["severity"] == severity
    assert cluster["count"] == count
    assert cluster["priority"] == priority


def test_the_case_makes_only_the_four_audit_clusters(result: Any) -> None:
    clusters = result.worklog["clusters"]

    found = sorted((c["kind"], c["title"]) for c in clusters)

    assert found == sorted(
        ("audit", title) for title in (DENIED, REPLACE, SET_IAM, OTHER)
    )


def test_a_persons_principal_email_is_redacted(result: Any) -> None:
    cluster = result.cluster(title=SET_IAM)

    payload = cluster["samples"][0]["payload"]

    assert payload["authenticationInfo"] == {"principalEmail": "<EMAIL>"}


@pytest.mark.parametrize(
    ("title", "principal"),
    [
        (DENIED, "ci-bot@example-ci.iam.gserviceaccount.com"),
        (REPLACE, "deployer@demo-staging-000000.iam.gserviceaccount.com"),
    ],
)
def test_a_service_account_principal_is_kept(
    result: Any, title: str, principal: str
) -> None:
    cluster = result.cluster(title=title)

    found = {
        s["payload"]["authenticationInfo"]["principalEmail"]
        for s in cluster["samples"]
    }

    assert found == {principal}


def test_every_caller_ip_is_redacted(result: Any) -> None:
    samples = [
        s
        for c in result.worklog["clusters"]
        for s in c["samples"]
        if "requestMetadata" in s["payload"]
    ]

    ips = [s["payload"]["requestMetadata"]["callerIp"] for s in samples]

    assert ips == ["<IP>"] * 4


@pytest.mark.parametrize("secret", ["alex.admin@example.com", "198.51.100.44"])
def test_no_person_or_caller_address_reaches_any_output(
    result: Any, secret: str
) -> None:
    outputs = {
        "worklog.json": (result.out / "worklog.json").read_text("utf-8"),
        "worklog.md": result.markdown,
        "stdout": result.stdout,
        "stderr": result.stderr,
    }

    leaks = [name for name, text in outputs.items() if secret in text]

    assert leaks == []


def test_audit_clusters_have_a_markdown_section_of_their_own(
    gate: Any, tmp_path: Path
) -> None:
    logs = _mixed_input(tmp_path)

    result = gate("run", "--logs", str(logs))
    markdown = result.markdown
    sections = _audit_headings(markdown)
    audit = [
        _heading_lines(markdown, t)[0]
        for t in (DENIED, REPLACE, SET_IAM, OTHER)
    ]
    app = _heading_lines(markdown, APP_MESSAGE)

    assert result.cluster(kind="message")["title"] == APP_MESSAGE
    assert sections != []
    assert min(audit) > sections[0]
    assert len(app) == 1
    assert not sections[0] < app[0] < max(audit)
