"""Case variable-tokens-grouping: masked variables keep clusters whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import CASES

from gardener_gate.masking import mask
from gardener_gate.redact import Redactor

INPUT = CASES / "variable-tokens-grouping" / "input.json"
JWT_HEAD = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
EMAILS = ("lena.k@example.org", "m.ortiz@example.net", "qa+signup@example.com")
UPSTREAM = (
    "Upstream call to https://inventory.internal.example/v2/items/{id} "
    "took <DURATION>"
)


@pytest.fixture
def result(gate: Any) -> Any:
    return gate("run", "--logs", str(INPUT))


def _messages() -> list[str]:
    entries = json.loads(INPUT.read_text("utf-8"))
    return [e["jsonPayload"]["message"] for e in entries]


@pytest.mark.parametrize(
    ("message", "template"),
    [
        (
            "Payment 89574754-2690-4d40-a842-8ed48b7fdbda failed for order "
            "10490 after 3583ms",
            "Payment <UUID> failed for order <NUM> after <DURATION>",
        ),
        (
            "Upstream call to https://inventory.internal.example/v2/items/"
            "88210?expand=stock took 5.4s",
            UPSTREAM,
        ),
        (
            "Rejected login from 198.51.100.23 for user lena.k@example.org",
            "Rejected login from <IP> for user <EMAIL>",
        ),
        (
            "Rejected login from 2001:db8::17 for user qa+signup@example.com",
            "Rejected login from <IP> for user <EMAIL>",
        ),
        (
            "Webhook signature mismatch: sha256=79d6bd1ace221096efca19d441"
            "3b5699c91b43bfed1b941a540742fb2b86177e",
            "Webhook signature mismatch: sha256=<HEX>",
        ),
        (
            "Cache miss for key user:7731:profile (ttl=300s) "
            "trace=0x4a96d9062342",
            "Cache miss for key user:<NUM>:profile (ttl=<DURATION>) "
            "trace=<HEX>",
        ),
        ("Order 5521 shipped", "Order <NUM> shipped"),
        ("Order 7004 cancelled", "Order <NUM> cancelled"),
    ],
)
def test_a_redacted_message_masks_to_its_template(
    message: str, template: str
) -> None:
    redacted = Redactor().text(message)

    assert mask(redacted) == template


def test_a_bearer_jwt_masks_to_a_jwt_placeholder() -> None:
    message = next(m for m in _messages() if m.startswith("Token expired"))

    template = mask(Redactor().text(message))

    assert template == "Token expired for session; bearer=<JWT>"


def test_every_message_of_the_case_is_analysed(result: Any) -> None:
    entries = result.worklog["entries"]

    assert entries["read"] == 23
    assert entries["skipped"] == 0
    assert entries["events"] == 23


@pytest.mark.parametrize(
    ("template", "severity", "count"),
    [
        (
            "Payment <UUID> failed for order <NUM> after <DURATION>",
            "ERROR",
            4,
        ),
        (UPSTREAM, "WARNING", 3),
        ("Rejected login from <IP> for user <EMAIL>", "WARNING", 3),
        ("Webhook signature mismatch: sha256=<HEX>", "WARNING", 3),
        ("Token expired for session; bearer=<JWT>", "INFO", 2),
        (
            "Cache miss for key user:<NUM>:profile (ttl=<DURATION>) "
            "trace=<HEX>",
            "INFO",
            2,
        ),
        ("Order <NUM> shipped", "INFO", 2),
        ("Order <NUM> cancelled", "INFO", 2),
    ],
)
def test_variable_tokens_group_into_one_cluster(
    result: Any, template: str, severity: str, count: int
) -> None:
    cluster = result.cluster(template=template)

    assert cluster["kind"] == "message"
    assert cluster["severity"] == severity
    assert cluster["count"] == count
    assert cluster["title"] == template


def test_shipped_and_cancelled_stay_separate_clusters(result: Any) -> None:
    orders = [
        (c["template"], c["count"])
        for c in result.worklog["clusters"]
        if c["template"].startswith("Order ")
    ]

    assert sorted(orders) == [
        ("Order <NUM> cancelled", 2),
        ("Order <NUM> shipped", 2),
    ]


def test_invalid_user_lines_form_at_most_two_clusters(result: Any) -> None:
    invalid = [
        c
        for c in result.worklog["clusters"]
        if c["template"].startswith("Invalid user ")
    ]

    assert len(invalid) in (1, 2)
    assert sum(c["count"] for c in invalid) == 2
    assert {c["severity"] for c in invalid} == {"WARNING"}
    assert all(c["template"].endswith(" from <IP>") for c in invalid)


def test_the_case_makes_nine_or_ten_clusters(result: Any) -> None:
    clusters = result.worklog["clusters"]

    assert len(clusters) in (9, 10)
    assert sum(c["count"] for c in clusters) == 23


def test_samples_of_the_login_cluster_show_no_email(result: Any) -> None:
    cluster = result.cluster(
        template="Rejected login from <IP> for user <EMAIL>"
    )

    messages = [s["message"] for s in cluster["samples"]]

    assert messages == [
        "Rejected login from 198.51.100.23 for user <EMAIL>",
        "Rejected login from 203.0.113.9 for user <EMAIL>",
        "Rejected login from 2001:db8::17 for user <EMAIL>",
    ]


def test_samples_of_the_token_cluster_show_no_jwt(result: Any) -> None:
    cluster = result.cluster(
        template="Token expired for session; bearer=<JWT>"
    )

    messages = [s["message"] for s in cluster["samples"]]
    payloads = [s["payload"] for s in cluster["samples"]]

    assert messages == ["Token expired for session; bearer=<JWT>"] * 2
    assert (
        payloads
        == [{"message": "Token expired for session; bearer=<JWT>"}] * 2
    )


@pytest.mark.parametrize("secret", [*EMAILS, JWT_HEAD])
def test_no_email_or_jwt_reaches_any_output(result: Any, secret: str) -> None:
    outputs = {
        "worklog.json": (result.out / "worklog.json").read_text("utf-8"),
        "worklog.md": result.markdown,
        "stdout": result.stdout,
        "stderr": result.stderr,
    }

    leaks = [name for name, text in outputs.items() if secret in text]

    assert leaks == []
