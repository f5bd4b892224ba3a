"""Case oversized-non-utf8: huge, broken and hostile text stays safe."""

from __future__ import annotations

import io
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES

from gardener_gate.redact import Redactor
from gardener_gate.source import Record, read_records

CASE = CASES / "oversized-non-utf8"
INPUT = CASE / "input.json"
RAW_BYTES = CASE / "input-invalid-bytes.ndjson"
LABEL_SYNC = "Label sync ok: 注文 ✅ — שלום | col1 | ```code```"
FENCE = re.compile(r"^(`{3,})(\S*)\s*$")


@pytest.fixture
def result(gate: Any) -> Any:
    return gate("run", "--logs", str(INPUT))


def _long_message() -> str:
    entries = json.loads(INPUT.read_text("utf-8"))
    return str(entries[0]["jsonPayload"]["message"])


def _outputs(out: Path) -> dict[str, str]:
    return {
        name: (out / name).read_bytes().decode("utf-8")
        for name in ("worklog.json", "worklog.md")
    }


def _fenced_blocks(markdown: str) -> list[tuple[int, str, str]]:
    """Fence width, language and body of each block, closed per CommonMark."""
    blocks: list[tuple[int, str, str]] = []
    lines = markdown.split("\n")
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        width = len(opening.group(1))
        body: list[str] = []
        while index < len(lines):
            line = lines[index]
            index += 1
            if re.fullmatch(rf"`{{{width},}}\s*", line):
                break
            body.append(line)
        blocks.append((width, opening.group(2), "\n".join(body)))
    return blocks


def test_the_case_runs_to_a_verdict_without_crashing(result: Any) -> None:
    worklog = result.worklog

    assert result.code == 1
    assert worklog["verdict"] == "fail"
    assert worklog["entries"]["read"] == 5
    assert worklog["entries"]["skipped"] == 0
    assert worklog["entries"]["events"] == 5


def test_the_worklog_files_are_valid_utf8(result: Any) -> None:
    outputs = _outputs(result.out)

    surrogates = [
        name
        for name, text in outputs.items()
        if re.search("[\ud800-\udfff]", text) or "\\udc" in text
    ]

    assert surrogates == []


def test_lone_surrogates_become_replacement_characters(result: Any) -> None:
    cluster = result.cluster(
        template="Filename from upload: report-\ufffd\ufffd.csv"
    )

    sample = cluster["samples"][0]

    assert sample["message"] == "Filename from upload: report-\ufffd\ufffd.csv"
    assert sample["payload"] == {
        "message": "Filename from upload: report-\ufffd\ufffd.csv"
    }


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("report-\udcff\udcfe.csv", "report-\ufffd\ufffd.csv"),
        ("half \ud83d pair", "half \ufffd pair"),
        ("\x1b[31mERROR\x1b[0m worker crashed", "ERROR worker crashed"),
        ("nul\x00 and bell\x07 gone", "nul and bell gone"),
        ("keep\ttab\nand newline", "keep\ttab\nand newline"),
        ("注文 ✅ — שלום", "注文 ✅ — שלום"),
    ],
)
def test_redaction_cleans_text_into_valid_visible_utf8(
    text: str, cleaned: str
) -> None:
    assert Redactor().text(text) == cleaned


def test_existing_replacement_characters_are_kept(result: Any) -> None:
    cluster = result.cluster(
        template=(
            "Unexpected byte in CSV row <NUM>: 'M\ufffd\ufffdller' "
            "(coerced by pipeline)"
        )
    )

    message = cluster["samples"][0]["message"]

    assert message == (
        "Unexpected byte in CSV row 17: 'M\ufffd\ufffdller' "
        "(coerced by pipeline)"
    )


def test_a_long_message_is_templated_from_its_first_2000_chars(
    result: Any,
) -> None:
    expected = (
        "Response body dump: "
        + '{"sku":"SKU-<NUM>","qty":<NUM>},' * 73
        + '{"sku":"S'
    )

    cluster = result.cluster(severity="ERROR", count=1, template=expected)

    assert cluster["kind"] == "message"


def test_a_long_message_is_truncated_in_samples(result: Any) -> None:
    original = _long_message()
    marker = f"… (truncated, {len(original)} chars)"
    cluster = next(
        c
        for c in result.worklog["clusters"]
        if c["template"].startswith("Response body dump: ")
    )

    sample = cluster["samples"][0]

    assert sample["message"] == original[:2000] + marker
    assert sample["payload"] == {"message": original[:500] + marker}


def test_the_long_message_never_reaches_an_output_whole(result: Any) -> None:
    original = _long_message()
    marker = f"… (truncated, {len(original)} chars)"

    outputs = _outputs(result.out)

    assert len(outputs["worklog.json"]) < 40_000
    assert len(outputs["worklog.md"]) < 40_000
    assert outputs["worklog.md"].count(marker) == 2


def test_ansi_escapes_and_control_characters_are_stripped(
    result: Any,
) -> None:
    cluster = result.cluster(template="ERROR worker crashed (exit <NUM>)")

    message = cluster["samples"][0]["message"]

    assert message == "ERROR worker crashed (exit 137)"


def test_no_output_holds_a_control_character(result: Any) -> None:
    outputs = _outputs(result.out)

    found = {
        name: sorted(
            {
                hex(ord(c))
                for c in text
                if unicodedata.category(c) == "Cc" and c not in "\n\t"
            }
        )
        for name, text in outputs.items()
    }
    escaped = [
        name
        for name, text in outputs.items()
        if re.search(r"\\u00(?:0[0-8bcef]|1[0-9a-f]|7f)", text)
    ]

    assert found == {"worklog.json": [], "worklog.md": []}
    assert escaped == []


def test_non_ascii_text_is_preserved_unchanged(result: Any) -> None:
    cluster = result.cluster(template=LABEL_SYNC)

    sample = cluster["samples"][0]

    assert cluster["severity"] == "INFO"
    assert sample["message"] == LABEL_SYNC
    assert "Label sync ok: 注文 ✅ — שלום" in result.markdown


def test_pipes_and_backticks_are_escaped_in_table_cells(result: Any) -> None:
    row = (
        "| 5 | P10 | new | message | INFO | 1 | "
        "```` Label sync ok: 注文 ✅ — שלום \\| col1 \\| ```code``` ```` "
        "| — |"
    )

    lines = result.markdown.split("\n")

    assert row in lines


def test_no_fenced_block_is_closed_by_log_text(result: Any) -> None:
    blocks = _fenced_blocks(result.markdown)

    samples = [json.loads(body) for _, lang, body in blocks if lang == "json"]
    too_short = [
        body[:60]
        for width, _, body in blocks
        if max(map(len, re.findall("`+", body)), default=0) >= width
    ]

    assert len(samples) == 5
    assert LABEL_SYNC in [s.get("message") for s in samples]
    assert too_short == []


def test_raw_bytes_that_are_not_utf8_are_replaced() -> None:
    stream = io.BytesIO(RAW_BYTES.read_bytes())

    records = list(read_records(stream, "auto", "input"))

    values = [
        r.value
        for r in records
        if isinstance(r, Record) and isinstance(r.value, dict)
    ]
    assert len(values) == len(records) == 2
    assert [v["textPayload"] for v in values] == [
        "bad bytes here: \ufffd\ufffd end",
        "line after the bad one",
    ]


def test_a_run_over_raw_bytes_keeps_both_lines(gate: Any) -> None:
    result = gate("run", "--logs", str(RAW_BYTES))

    worklog = result.worklog
    messages = sorted(
        s["message"] for c in worklog["clusters"] for s in c["samples"]
    )

    assert result.code == 0
    assert worklog["entries"]["read"] == 2
    assert worklog["entries"]["skipped"] == 0
    assert messages == [
        "bad bytes here: \ufffd\ufffd end",
        "line after the bad one",
    ]


def test_publishing_this_worklog_does_not_crash(
    gate: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step-summary.md"
    outputs = tmp_path / "step-outputs.txt"
    for name in (
        "GITHUB_TOKEN",
        "GITHUB_EVENT_PATH",
        "GITHUB_EVENT_NAME",
        "GITHUB_REPOSITORY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    run = gate("run", "--logs", str(INPUT))

    published = gate("publish", "--worklog", str(run.out))

    assert published.code == 0
    assert "Traceback" not in published.stderr
    assert "注文 ✅ — שלום" in summary.read_bytes().decode("utf-8")
