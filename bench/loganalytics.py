"""A local stand-in for a Log Analytics view: DuckDB runs the gate's SQL.

Entries as Cloud Logging writes them go into a DuckDB table shaped like
the ``_AllLogs`` view (payloads and labels as JSON, ``http_request`` and
``resource`` as structs, timestamps in UTC). The gate's BigQuery SQL is
transpiled with sqlglot; the few things DuckDB does not take from
BigQuery are adapted here, never in the gate: the table path, ``@name``
parameters (typed literals) and ``ARRAY_AGG(... LIMIT n)`` (a slice).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from gardener_gate.bigquery import read_rows
from gardener_gate.group import EntryGroup
from gardener_gate.source import Record, Skip

TABLE = "all_logs"
_COLUMNS = {
    "timestamp": "TIMESTAMPTZ",
    "receive_timestamp": "TIMESTAMPTZ",
    "log_name": "VARCHAR",
    "insert_id": "VARCHAR",
    "severity": "VARCHAR",
    "text_payload": "VARCHAR",
    "json_payload": "JSON",
    "proto_payload": "JSON",
    "labels": "JSON",
    "resource": "STRUCT(type VARCHAR, labels JSON)",
    "http_request": (
        "STRUCT(request_method VARCHAR, request_url VARCHAR, status BIGINT, "
        "user_agent VARCHAR, latency STRUCT(seconds BIGINT, nanos BIGINT))"
    ),
    "trace": "VARCHAR",
    "source_location": "STRUCT(file VARCHAR, line BIGINT, function VARCHAR)",
}


def _latency(text: object) -> dict[str, int] | None:
    if not isinstance(text, str) or not text.endswith("s"):
        return None
    try:
        seconds = Decimal(text[:-1])
    except InvalidOperation:
        return None
    whole = int(seconds)
    return {"seconds": whole, "nanos": int((seconds - whole) * 10**9)}


def _status(value: object) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


_NO_REQUEST = {
    "request_method": None,
    "request_url": None,
    "status": None,
    "user_agent": None,
    "latency": None,
}


def view_row(
    entry: Mapping[str, Any], null_records: bool = False
) -> dict[str, Any]:
    """One Cloud Logging entry as a row of the ``_AllLogs`` view.

    ``null_records`` fills the request record of an entry without one
    with nulls, instead of leaving the record null.
    """
    request = entry.get("httpRequest")
    http = dict(_NO_REQUEST) if null_records else None
    if isinstance(request, dict):
        http = {
            "request_method": request.get("requestMethod"),
            "request_url": request.get("requestUrl"),
            "status": _status(request.get("status")),
            "user_agent": request.get("userAgent"),
            "latency": _latency(request.get("latency")),
        }
    where = entry.get("sourceLocation")
    return {
        "timestamp": entry.get("timestamp"),
        "receive_timestamp": entry.get("receiveTimestamp"),
        "log_name": entry.get("logName"),
        "insert_id": entry.get("insertId"),
        "severity": entry.get("severity"),
        "text_payload": entry.get("textPayload"),
        "json_payload": entry.get("jsonPayload"),
        "proto_payload": entry.get("protoPayload"),
        "labels": entry.get("labels"),
        "resource": entry.get("resource"),
        "http_request": http,
        "trace": entry.get("trace"),
        "source_location": (
            {
                "file": where.get("file"),
                "line": _status(where.get("line")),
                "function": where.get("function"),
            }
            if isinstance(where, dict)
            else None
        ),
    }


def load(
    entries: Iterable[Mapping[str, Any]], null_records: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB database in memory holding ``entries`` as the view."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    with tempfile.TemporaryDirectory() as folder:
        rows = Path(folder) / "rows.ndjson"
        with rows.open("w", encoding="utf-8") as handle:
            for entry in entries:
                row = view_row(entry, null_records)
                handle.write(json.dumps(row) + "\n")
        columns = ", ".join(f"{k}: '{v}'" for k, v in _COLUMNS.items())
        connection.execute(
            f"CREATE TABLE {TABLE} AS SELECT * FROM read_json("
            f"'{rows}', format = 'newline_delimited', "
            f"columns = {{{columns}}})"
        )
    return connection


def to_duckdb(sql: str, parameters: Mapping[str, object]) -> str:
    """The gate's BigQuery SQL, with its parameters, as DuckDB SQL."""

    def adapt(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name.endswith("_AllLogs"):
            return exp.to_table(TABLE)
        if isinstance(node, exp.Parameter):
            value = parameters[node.name]
            if isinstance(value, datetime):
                literal = exp.Literal.string(value.isoformat())
                return exp.cast(literal, "TIMESTAMPTZ")
            return exp.Literal.string(str(value))
        if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Limit):
            limit = node.this
            return exp.Bracket(
                this=exp.ArrayAgg(this=limit.this),
                expressions=[
                    exp.Slice(
                        this=exp.Literal.number(1),
                        expression=limit.expression,
                    )
                ],
            )
        return node

    tree = sqlglot.parse_one(sql, read="bigquery").transform(adapt)
    return tree.sql(dialect="duckdb")


def run_query(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    parameters: Mapping[str, object],
) -> list[dict[str, Any]]:
    """The rows the query returns, as the BigQuery client would give them."""
    cursor = connection.execute(to_duckdb(sql, parameters))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class RowSource:
    """A log source over query rows, read as the BigQuery source reads them."""

    kind = "bigquery"
    partial = None

    def __init__(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.name = name
        self._rows = rows

    def records(self) -> Iterator[Record | Skip | EntryGroup]:
        """Each row as a group, or as a single line of a split trace."""
        return read_rows(self._rows)
