"""Secrets and addresses, in every shape and place, reach no output.

Hypothesis makes variants of each shape and puts them where logs put
them: in a text line, a structured message, a nested field, a label, a
request URL. Every output channel is then searched for the secret.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

B64URL = string.ascii_letters + string.digits + "-_"
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def _chars(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def _shape(name: str, secret, render) -> st.SearchStrategy:
    """A shape: the secret itself, and the text it stands in."""
    return secret.map(lambda value: (name, value, render(value)))


SHAPES = st.one_of(
    _shape(
        "jwt",
        st.tuples(
            _chars(B64URL, 12, 40),
            _chars(B64URL, 12, 60),
            _chars(B64URL, 12, 40),
        ).map(lambda p: f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}"),
        lambda v: f"token check failed for {v}",
    ),
    _shape(
        "bearer", _chars(ALNUM, 20, 50), lambda v: f"Authorization: Bearer {v}"
    ),
    _shape(
        "aws access key",
        _chars(UPPER, 16, 16).map(lambda s: "AKIA" + s),
        lambda v: f"using key {v} from env",
    ),
    _shape(
        "google api key",
        _chars(B64URL, 35, 35).map(lambda s: "AIza" + s),
        lambda v: f"maps call with key={v}",
    ),
    _shape(
        "google oauth token",
        _chars(ALNUM, 30, 60).map(lambda s: "ya29." + s),
        lambda v: f"refreshing {v}",
    ),
    _shape(
        "github token",
        _chars(ALNUM, 36, 36).map(lambda s: "ghp_" + s),
        lambda v: f"clone with {v} failed",
    ),
    _shape(
        "stripe key",
        _chars(ALNUM, 24, 30).map(lambda s: "sk_live_" + s),
        lambda v: f"charge failed ({v})",
    ),
    _shape(
        "slack token",
        _chars(ALNUM, 24, 30).map(lambda s: "xoxb-" + s),
        lambda v: f"posting with {v}",
    ),
    _shape(
        "dsn password",
        # A marker, so that a word the worklog itself prints ("Revision")
        # is never taken for a leak.
        _chars(ALNUM, 8, 24).map(lambda s: "pw9" + s),
        lambda v: f"connect postgresql://orders:{v}@db.internal/o failed",
    ),
    _shape(
        "password assignment",
        _chars(ALNUM, 8, 24).map(lambda s: "pw9" + s),
        lambda v: f"login retried with password={v} for admin",
    ),
    _shape(
        "private key",
        _chars(ALNUM, 40, 80),
        lambda v: (
            f"-----BEGIN PRIVATE KEY-----\n{v}\n-----END PRIVATE KEY-----"
        ),
    ),
    _shape(
        "email",
        st.tuples(
            _chars(string.ascii_lowercase, 3, 12),
            _chars(string.ascii_lowercase, 3, 10),
        ).map(lambda p: f"{p[0]}.leak@{p[1]}.example.com"),
        lambda v: f"welcome mail sent to {v}",
    ),
)
PLACES = st.sampled_from(
    ["text", "message", "nested field", "label", "secret key", "url"]
)


def _entry(place: str, text: str, secret: str) -> dict:
    entry = {
        "timestamp": "2025-05-12T10:00:00Z",
        "insertId": "i1",
        "logName": "projects/p/logs/run.googleapis.com%2Fstdout",
        "severity": "ERROR",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": "orders-api"},
        },
    }
    if place == "text":
        entry["textPayload"] = text
    elif place == "message":
        entry["jsonPayload"] = {"message": text}
    elif place == "nested field":
        entry["jsonPayload"] = {
            "message": "request failed",
            "ctx": {"detail": [text]},
        }
    elif place == "label":
        entry["textPayload"] = "request failed"
        entry["labels"] = {"detail": text}
    elif place == "secret key":
        entry["jsonPayload"] = {
            "message": "request failed",
            "client": {"api_secret": secret},
        }
    else:
        entry["httpRequest"] = {
            "requestMethod": "GET",
            "status": 500,
            "requestUrl": "https://api.example.com/v1/x?q="
            + text.replace(" ", "+"),
        }
    return entry


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
    ],
)
@given(shape=SHAPES, place=PLACES)
def test_no_secret_reaches_any_channel(
    gate, tmp_path, monkeypatch, shape, place
):
    name, secret, text = shape
    logs = tmp_path / "logs.json"
    logs.write_text(json.dumps([_entry(place, text, secret)]))
    out = tmp_path / "out"
    summary = tmp_path / "summary.md"
    summary.write_text("")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs.txt"))
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)

    run = gate("-vv", "run", "--logs", str(logs), "--out", str(out))
    published = gate(
        "-vv",
        "publish",
        "--worklog",
        str(out),
        "--gate-exit-code",
        str(run.code),
    )

    channels = {
        "worklog.md": (out / "worklog.md").read_text("utf-8"),
        "worklog.json": (out / "worklog.json").read_text("utf-8"),
        "console": run.stdout + run.stderr,
        "summary": summary.read_text("utf-8"),
        "annotations and publish log": published.stdout + published.stderr,
    }
    for channel, content in channels.items():
        assert secret not in content, (name, place, channel)


def test_the_property_covers_every_shape():
    assert len(SHAPES.original_strategies) == 12


def test_secrets_in_the_comment_body(gate, tmp_path, monkeypatch, httpserver):
    """The PR comment, posted to a fake GitHub, holds none of them."""
    from fakes.github import GitHubFake, pull_request_runner

    fake = GitHubFake()
    pull_request_runner(monkeypatch, tmp_path, fake.install(httpserver))
    secrets = {
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdEFGH1234",
        "github": "ghp_" + "a1B2" * 9,
        "aws": "AKIA" + "ABCDEFGH12345678",
        "email": "mia.leak@corp.example.com",
        "dsn": "Sup3rS3cretPw",
    }
    entries = [
        _entry(place, text, secret)
        for secret, text in [
            (secrets["jwt"], f"token {secrets['jwt']}"),
            (secrets["github"], f"push with {secrets['github']}"),
            (secrets["aws"], f"key {secrets['aws']}"),
            (secrets["email"], f"mail to {secrets['email']}"),
            (
                secrets["dsn"],
                f"postgresql://u:{secrets['dsn']}@db.internal/x down",
            ),
        ]
        for place in ("text", "message", "label", "url")
    ]
    logs = tmp_path / "logs.json"
    logs.write_text(json.dumps(entries))

    run = gate("run", "--logs", str(logs))
    gate("publish", "--worklog", str(run.out))

    body = fake.comments[0].body
    for secret in secrets.values():
        assert secret not in body
    assert Path(run.out / "worklog.md").exists()
