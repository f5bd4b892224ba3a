"""Case secrets-redaction: no credential or address leaves the run."""

from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES, revision_entry, rules_folder

from gardener_gate import redact
from gardener_gate.entry import normalize
from gardener_gate.redact import Redactor

CASE = CASES / "secrets-redaction"
INPUT = CASE / "input.json"
SECRETS = [
    line
    for line in (CASE / "must-not-appear.txt").read_text("utf-8").splitlines()
    if line.strip()
]
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZXN0LXVzZXItMDAwMSIs"
    "ImlzcyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlLnRlc3QiLCJleHAiOjE3NDcwMDAwMDB9."
    "c2lnbmF0dXJlLW5vdC1yZWFsLWZha2UtZmFrZS1mYWtl"
)
DSN_MESSAGE = (
    "DB connect postgresql://orders:<REDACTED>@10.20.0.5:5432/orders "
    "failed: timeout"
)


@pytest.fixture
def result(gate: Any) -> Any:
    return gate("run", "--logs", str(INPUT))


def _texts(out: Path, stdout: str, stderr: str) -> dict[str, str]:
    return {
        "worklog.json": (out / "worklog.json").read_text("utf-8"),
        "worklog.md": (out / "worklog.md").read_text("utf-8"),
        "stdout": stdout,
        "stderr": stderr,
    }


def _leaks(texts: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (secret, name)
        for secret in SECRETS
        for name, text in texts.items()
        if secret in text
    ]


def test_the_case_lists_the_secrets_to_look_for() -> None:
    assert len(SECRETS) == 12


def test_no_secret_appears_in_any_output(result: Any) -> None:
    texts = _texts(result.out, result.stdout, result.stderr)

    assert _leaks(texts) == []


@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
def test_no_secret_appears_with_debug_logging(
    gate: Any, tmp_path: Path, verbosity: str
) -> None:
    out = tmp_path / f"verbose{verbosity}"

    run = gate(verbosity, "run", "--logs", str(INPUT), "--out", str(out))
    texts = _texts(out, run.stdout, run.stderr)

    assert run.code == 1
    assert _leaks(texts) == []


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (f"Bearer {JWT}", "Bearer <JWT>"),
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer <JWT>"),
        (
            "Authorization: Bearer abcdefghijklmnop",
            "Authorization: Bearer <REDACTED>",
        ),
        (f"jwt={JWT} seen", "jwt=<JWT> seen"),
        ("key AKIAFAKEFAKEFAKE1234 used", "key <REDACTED> used"),
        ("google AIzaFAKEFAKEFAKEFAKEFAKE00", "google <REDACTED>"),
        ("oauth ya29.FAKE-access-token-0000000000", "oauth <REDACTED>"),
        (
            "pem -----BEGIN PRIVATE KEY-----\nMIIEvFAKE\n"
            "-----END PRIVATE KEY----- done",
            "pem <REDACTED> done",
        ),
        (
            "postgresql://orders:S3cr3tFakePw@10.20.0.5:5432/orders",
            "postgresql://orders:<REDACTED>@10.20.0.5:5432/orders",
        ),
        ("/cb?code=4%2F0Afake&state=st-91", "/cb?code=<REDACTED>&state=st-91"),
        ("/x?token=abc&b=2", "/x?token=<REDACTED>&b=2"),
        ("/x?key=abc", "/x?key=<REDACTED>"),
        ("/x?api_key=abc", "/x?api_key=<REDACTED>"),
        ("/x?sig=abc", "/x?sig=<REDACTED>"),
        ("/x?signature=abc", "/x?signature=<REDACTED>"),
        ("user priya.n@example.com joined", "user <EMAIL> joined"),
    ],
)
def test_a_secret_pattern_is_redacted_in_place(
    text: str, redacted: str
) -> None:
    assert Redactor().text(text) == redacted


@pytest.mark.parametrize(
    "key",
    [
        "pass",
        "password",
        "db_password",
        "client_secret",
        "access_token",
        "refresh_token",
        "api_key",
        "api-key",
        "apiKey",
        "Authorization",
        "Cookie",
        "session_id",
    ],
)
def test_a_value_under_a_secret_key_is_redacted(key: str) -> None:
    value = {"outer": [{key: "value-1234", "plain": "kept"}]}

    redacted = Redactor().value(value)

    assert redacted == {"outer": [{key: "<REDACTED>", "plain": "kept"}]}


def test_labels_under_secret_keys_or_with_emails_are_redacted() -> None:
    raw = {
        "timestamp": "2025-05-12T19:00:00Z",
        "insertId": "s1",
        "textPayload": "hello",
        "labels": {
            "session": "sess-0001",
            "user_email": "sam.fake@example.org",
            "team": "orders",
        },
    }
    entry = normalize(0, raw)
    assert not isinstance(entry, str)

    redacted = Redactor().entry(entry)

    assert dict(redacted.labels) == {
        "session": "<REDACTED>",
        "user_email": "<EMAIL>",
        "team": "orders",
    }


def test_secrets_in_a_request_url_are_redacted_in_the_entry() -> None:
    raw = {
        "timestamp": "2025-05-12T19:00:00Z",
        "insertId": "s2",
        "httpRequest": {
            "requestMethod": "GET",
            "requestUrl": "/oauth/callback?code=c0de&api_key=AIzaX",
            "status": 400,
        },
    }
    entry = normalize(0, raw)
    assert not isinstance(entry, str)

    redacted = Redactor().entry(entry)

    assert redacted.http is not None
    assert redacted.http.url == (
        "/oauth/callback?code=<REDACTED>&api_key=<REDACTED>"
    )


def test_a_bearer_header_dump_keeps_its_scheme(result: Any) -> None:
    cluster = next(
        c
        for c in result.worklog["clusters"]
        if c["template"].startswith("Incoming request headers")
    )

    message = cluster["samples"][0]["message"]

    assert message == (
        "Incoming request headers: {'authorization': 'Bearer <JWT>', "
        "'x-request-id': 'req-5c1d'}"
    )


def test_secret_keys_in_the_payload_are_redacted(result: Any) -> None:
    cluster = result.cluster(template="token refresh ok")

    payload = cluster["samples"][0]["payload"]

    assert payload == {
        "message": "token refresh ok",
        "access_token": "<REDACTED>",
        "refresh_token": "<REDACTED>",
        "user": "<EMAIL>",
    }


def test_a_private_key_and_password_are_redacted(result: Any) -> None:
    cluster = result.cluster(template="Failed to load signing key")

    payload = cluster["samples"][0]["payload"]

    assert cluster["severity"] == "ERROR"
    assert cluster["count"] == 1
    assert payload == {
        "message": "Failed to load signing key",
        "detail": "<REDACTED>",
        "password": "<REDACTED>",
    }


def test_a_dsn_keeps_its_user_and_host(result: Any) -> None:
    cluster = next(
        c
        for c in result.worklog["clusters"]
        if c["template"].startswith("DB connect ")
    )

    sample = cluster["samples"][0]

    assert sample["message"] == DSN_MESSAGE
    assert cluster["severity"] == "ERROR"
    assert cluster["count"] == 1


def test_an_access_key_id_is_redacted_in_place(result: Any) -> None:
    cluster = result.cluster(
        template="Using static credentials <REDACTED> from env; rotate soon"
    )

    message = cluster["samples"][0]["message"]

    assert message == (
        "Using static credentials <REDACTED> from env; rotate soon"
    )


def test_clusters_form_on_the_redacted_email(result: Any) -> None:
    cluster = result.cluster(
        template="Auto-created user account for <EMAIL> (tenant=acme)"
    )

    assert cluster["severity"] == "INFO"
    assert cluster["count"] == 1
    assert cluster["samples"][0]["message"] == (
        "Auto-created user account for <EMAIL> (tenant=acme)"
    )


def test_the_oauth_callback_forms_a_400_cluster(result: Any) -> None:
    cluster = result.cluster(kind="http", http_status=400)

    url = cluster["samples"][0]["httpRequest"]["requestUrl"]

    assert cluster["count"] == 1
    assert cluster["breakdown"]["routes"] == [
        {"value": "GET /oauth/callback", "count": 1}
    ]
    assert url == (
        "https://orders-api-7x2kq4-ew.a.run.app/oauth/callback"
        "?code=<REDACTED>&state=st-91&api_key=<REDACTED>"
    )


def test_redaction_happens_before_clustering(
    gate: Any, tmp_path: Path
) -> None:
    entries = [
        {
            "insertId": f"k{number}",
            "timestamp": f"2025-05-12T19:0{number}:00Z",
            "severity": "WARNING",
            "textPayload": f"Using static credentials {key} from env",
        }
        for number, key in enumerate(
            ["AKIAFAKEFAKEFAKE1234", "AKIAOTHEROTHEROTH999"]
        )
    ]
    logs = tmp_path / "keys.json"
    logs.write_text(json.dumps(entries), "utf-8")

    result = gate("run", "--logs", str(logs))

    assert [
        (c["template"], c["count"]) for c in result.worklog["clusters"]
    ] == [("Using static credentials <REDACTED> from env", 2)]


def test_rules_can_add_their_own_redaction_patterns(
    gate: Any, tmp_path: Path
) -> None:
    rules = rules_folder(
        tmp_path,
        "version: 1\nredact:\n  - '(?i)x-internal-key=[^&\\s]+'\n",
        name="redact.yaml",
    )
    logs = tmp_path / "partner.json"
    logs.write_text(
        json.dumps(
            [
                {
                    "insertId": "p1",
                    "timestamp": "2025-05-12T19:00:00Z",
                    "severity": "WARNING",
                    "textPayload": "partner rejected x-internal-key=Pk-77",
                }
            ]
        ),
        "utf-8",
    )

    result = gate("run", "--logs", str(logs), "--rules", str(rules))
    texts = _texts(result.out, result.stdout, result.stderr)

    assert result.cluster(template="partner rejected <REDACTED>")["count"] == 1
    assert [name for name, text in texts.items() if "Pk-77" in text] == []


def _digit_literals(source: str) -> set[str]:
    # Digits a pattern asks for by value: not in {m,n}, not in 0-9, not
    # in escapes such as \d.
    source = re.sub(r"\{\d+(,\d*)?\}", "", source).replace("0-9", "")
    source = re.sub(r"\\[A-Za-z]", " ", source).replace("\\.", ".")
    return set(re.findall(r"[^|()\[\]?*+ ]*\d[^|()\[\]?*+ ]*", source))


def test_patterns_ask_for_no_digit_the_clean_cache_does_not_know():
    # Texts found clean are remembered with their digits blanked; that
    # holds only while no pattern asks for a digit by its value, except
    # where the cache is told to look (redact._DIGIT_MARKERS).
    sources = [pattern.pattern for pattern, _, _ in redact._PATTERNS]
    sources += [redact._EMAIL.pattern, redact._ASSIGNED.pattern]
    sources += [redact._SECRET_WORDS, *redact._LITERALS]

    found = set().union(*(_digit_literals(s) for s in sources))

    assert found == {"ya29.", "1//0", "%40", "%20"}
    for literal in found:
        zeroed = re.sub(r"\d", "0", literal).encode()
        assert zeroed in redact._DIGIT_MARKERS or any(
            marker in zeroed for marker in redact._DIGIT_MARKERS
        ), literal


PGP_KEYS = [
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBGZ5xk8BCAC\n"
    "-----END PGP PRIVATE KEY BLOCK-----",
    "-----BEGIN+PGP+PRIVATE+KEY+BLOCK-----lQOYBGZ5xk8BCAC"
    "-----END+PGP+PRIVATE+KEY+BLOCK-----",
    "-----BEGIN%20PGP%20PRIVATE%20KEY%20BLOCK-----lQOYBGZ5xk8BCAC",
]


@pytest.mark.parametrize("key", PGP_KEYS)
def test_a_pgp_key_block_is_redacted_whole(key):
    redacted = Redactor().text(f"loaded {key} ok")

    assert redacted.startswith("loaded <REDACTED>")
    assert "lQOYBGZ5xk8BCAC" not in redacted


def _key_lines(seed: int, width: int) -> list[str]:
    rng = random.Random(seed)
    body = base64.b64encode(rng.randbytes(width * 12)).decode()
    return [body[at : at + width] for at in range(0, len(body), width)]


@pytest.mark.parametrize("width", [64, 70, 76])
def test_lines_of_a_key_met_apart_from_it_are_redacted(width):
    # Cut from their PEM lines (interleaved, prefixed, read apart), the
    # lines of a key are still long base64 that changes kind as random
    # text does.
    redactor = Redactor()
    lines = _key_lines(width, width)

    shown = [redactor.text(f"10:00:01 app[7]: k={line}") for line in lines]

    assert shown == ["10:00:01 app[7]: k=<REDACTED>"] * len(lines)


@pytest.mark.parametrize(
    "text",
    [
        "GLOBALROOT/Device/HarddiskVolumeShadowCopy2/Windows/System32/config",
        "/bgl/apps/scaletest/stability/MDCASK/WORK/65576/inferno",
        "digest " + "4a96d9062342e1f0" * 4,
        "AbstractSingletonProxyFactoryBean2ConfigurationLoader failed",
        "GET https://svc-x7k2m3n4pq-ew.a.run.app/v1/documents/9382dffx1kVZQ2",
        "see https://github.com/PyGithub/PyGithub/issues/769",
        "GET /api/v1/Tenants/7/Users/31/Roles/2",
        "GET https://api.example.com/v1/Users/12345/Orders/67890/Items",
        "GET https://o-7x2kq4-ew.a.run.app/api/v1/user/pLIix6MEOLeMa61EqJom",
        "Upstream 503 for GET /api/user/Xb03rEMU64yTY6BzUZKC97i4xgci , retry",
        "GET /organizations/Fnq9RBXO2tAG1yKwILALo5vR67b2xQ/members",
    ],
)
def test_long_words_paths_and_digests_are_not_taken_for_keys(text):
    assert Redactor().text(text) == text


def test_a_route_with_random_ids_keeps_its_signature(gate, tmp_path):
    # Ids of mixed case and digits (Firestore, Firebase) in request URLs
    # are not key material: the route and a signature on it hold.
    rng = random.Random(8)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    entries = []
    for n in range(30):
        uid = "".join(rng.choice(alphabet) for _ in range(28))
        entry = revision_entry("", "svc-00001-abc", n)
        entry["httpRequest"] = {
            "requestMethod": "GET",
            "status": 500,
            "requestUrl": f"https://svc-7x2kq4-ew.a.run.app/api/v1/user/{uid}",
        }
        entries.append(entry)
    logs = tmp_path / "logs.json"
    logs.write_text(json.dumps(entries))
    rules = rules_folder(
        tmp_path,
        "version: 1\nsignatures:\n  - id: users\n    title: t\n"
        "    match: {status: 500, route: '/api/v1/user/*'}\n"
        "    accept: {reason: known, owner: '@t', expires: 2030-01-01}\n",
    )

    result = gate("run", "--logs", str(logs), "--rules", str(rules))

    cluster = result.cluster(kind="http")
    assert cluster["breakdown"]["routes"] == [
        {"value": "GET /api/v1/user/{id}", "count": 30}
    ]
    assert (result.code, cluster["status"]) == (0, "accepted")


def test_keys_in_other_dress_are_redacted():
    # A long run holds words by chance: 2 in 100 JWK numbers of 342
    # characters have one.
    rng = random.Random(5)
    jwk = [
        base64.urlsafe_b64encode(rng.randbytes(256)).decode().rstrip("=")
        for _ in range(100)
    ]
    one_line = base64.b64encode(rng.randbytes(3300)).decode()
    removed = "-" + _key_lines(6, 64)[0]
    redactor = Redactor()

    assert {redactor.text(f'{{"d": "{d}"}}') for d in jwk} == {
        '{"d": "<REDACTED>"}'
    }
    assert redactor.text(f"TLS_KEY_B64={one_line}") == "TLS_KEY_B64=<REDACTED>"
    assert redactor.text(removed) == "<REDACTED>"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_texts_found_clean_change_no_redaction_of_their_digit_twins():
    # Every text of the case, and copies with each digit changed: a
    # redactor that saw the copies first redacts each text as a fresh one.
    texts = _strings(json.loads(INPUT.read_text("utf-8")))
    texts += [f"{word}={secret}" for secret in SECRETS for word in ("a", "")]
    texts += PGP_KEYS
    # The key keeps the zero of a 0x apart: a marker ending in a zero
    # (%40, 1//0) must be seen before an x too.
    texts += [t.replace("0", f"0{x}") for t in texts if "0" in t for x in "xX"]
    warm = Redactor()
    for text in texts:
        for position in (i for i, c in enumerate(text) if c.isdigit()):
            for digit in "0123456789":
                warm.text(text[:position] + digit + text[position + 1 :])

    changed = [
        text for text in texts if warm.text(text) != Redactor().text(text)
    ]

    assert changed == []
    assert len(texts) > 20
