"""Entry-by-entry reading against grouping in Log Analytics, for N entries.

    python -m bench.bigquery --count 1000000 [--compare]

Cloud Logging's read API gives 1000 entries a page and about 60 pages a
minute, so the entry-by-entry read of N entries takes N / 60,000 minutes
however fast the gate is. The aggregated read sends one query and fetches
only its groups. Here DuckDB stands in for BigQuery: the entries of
``bench.make_entries`` go into a local table shaped like ``_AllLogs`` and
the gate's SQL runs on it; its time is DuckDB's on this machine, not
BigQuery's. ``--compare`` also runs the gate over the same entries read
one by one and says whether both give the same clusters and counts.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import make_entries
from bench.loganalytics import RowSource, load, run_query
from gardener_gate.bigquery import PAGE_SIZE
from gardener_gate.pipeline import RunOptions, run_gate
from gardener_gate.report import render_json
from gardener_gate.rules import load_rules
from gardener_gate.source import FileSource
from gardener_gate.sql import build_sql

LOGGING_PAGE = 1000
LOGGING_PAGES_A_MINUTE = 60
TABLE = "demo-staging-000000.logs._AllLogs"
END = make_entries.START + make_entries.SPAN
PARAMETERS = {
    "start": make_entries.START,
    "end": END,
    "service": "orders-api",
    "revision": "orders-api-00042-kot",
    "location": "europe-west1",
}


def _entries(count: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(20251204)
    for number in range(count):
        yield make_entries.entry(rng, number)


def _worklog(source: Any) -> dict[str, Any]:
    options = RunOptions(
        revision=PARAMETERS["revision"],
        window=END - make_entries.START,
        until=END,
        now=END,
    )
    return render_json(run_gate(options, load_rules(None), source), END)


def _clusters(worklog: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(c["id"], c["title"], c["count"]) for c in worklog["clusters"]]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:,.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    connection = load(_entries(args.count))
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    rows = run_query(connection, build_sql(TABLE), PARAMETERS)
    queried = time.perf_counter() - started
    started = time.perf_counter()
    grouped = _worklog(RowSource(TABLE, rows))
    gated = time.perf_counter() - started
    transferred = len(json.dumps(rows, default=str))

    pages = math.ceil(args.count / LOGGING_PAGE)
    read_time = pages / LOGGING_PAGES_A_MINUTE * 60
    group_pages = math.ceil(len(rows) / PAGE_SIZE)
    fragments = sum(1 for row in rows if row["fragment"])
    print(f"entries: {args.count:,} (loaded into DuckDB in {loaded:.1f} s)")
    print(f"{'read':<22} {'rows fetched':>13} {'pages':>7} {'est. time':>14}")
    print(
        f"{'entry by entry':<22} {args.count:>13,} {pages:>7,} "
        f"{_minutes(read_time):>14}"
    )
    print(
        f"{'aggregated (DuckDB)':<22} {len(rows):>13,} {group_pages:>7,} "
        f"{queried + gated:>12.1f} s"
    )
    print(
        f"aggregated rows: {len(rows) - fragments:,} groups, {fragments:,} "
        f"single trace lines, {transferred / 1e6:.1f} MB as JSON; query "
        f"{queried:.1f} s, gate over the rows {gated:.1f} s"
    )
    print(
        f"clusters: {len(grouped['clusters'])}, events: "
        f"{grouped['entries']['events']:,}, traffic: "
        f"{grouped['traffic']['count']:,}"
    )
    if args.compare:
        _compare(args.count, grouped)


def _compare(count: int, grouped: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "entries.ndjson"
        with path.open("w", encoding="utf-8") as handle:
            for entry in _entries(count):
                handle.write(json.dumps(entry) + "\n")
        started = time.perf_counter()
        from_file = _worklog(FileSource(str(path), "ndjson"))
        took = time.perf_counter() - started
    same = _clusters(from_file) == _clusters(grouped)
    traffic = from_file["traffic"] == grouped["traffic"]
    print(
        f"entry-by-entry gate over a local file: {took:.1f} s; same "
        f"clusters and counts: {'yes' if same else 'NO'}; same traffic "
        f"baseline: {'yes' if traffic else 'NO'}"
    )
    if not same:
        only = set(_clusters(from_file)) ^ set(_clusters(grouped))
        for cluster in sorted(only)[:10]:
            print(f"  differs: {cluster}")


if __name__ == "__main__":
    main()
