"""A deterministic NDJSON file of realistic Cloud Run entries.

    python -m bench.make_entries --count 1000000 --out /tmp/entries.ndjson

The mix follows a busy service: mostly successful requests, application
messages with ids and durations, some warnings and errors, request logs
with 4xx and 5xx, and multi-line tracebacks. A fixed seed makes the same
file every time.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2025, 5, 12, tzinfo=UTC)
SPAN = timedelta(days=3)
ROUTES = (
    "/api/v1/orders/{}",
    "/api/v1/cart",
    "/api/v1/me",
    "/healthz",
    "/api/v1/orders/{}/items/{}",
    "/api/v1/search?q=shoes&page={}",
)
MESSAGES = (
    ("INFO", "Order {} created for customer {} in {}ms"),
    ("INFO", "Cache miss for key user:{}:profile"),
    ("INFO", "Payment {} authorised after {}ms"),
    ("WARNING", "Retrying call to pricing (attempt {})"),
    ("WARNING", "Slow query on orders took {}ms"),
    ("ERROR", "Payment provider timeout after {}ms for order {}"),
)
TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/app/orders/api.py", line 88, in create_order\n'
    "    total = pricing.compute_total(cart)\n"
    '  File "/app/orders/pricing.py", line 41, in compute_total\n'
    "    rate = TAX_RATES[cart.region]\n"
    "KeyError: 'zone-{}'"
)


def _base(rng: random.Random, number: int) -> dict[str, Any]:
    moment = (
        START
        + SPAN * (number / 1_000_000 % 1)
        + timedelta(microseconds=rng.randrange(1_000_000))
    )
    return {
        "insertId": f"{number:012x}{rng.getrandbits(32):08x}",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "receiveTimestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "service_name": "orders-api",
                "revision_name": "orders-api-00042-kot",
                "location": "europe-west1",
                "project_id": "demo-staging-000000",
                "configuration_name": "orders-api",
            },
        },
        "labels": {"instanceId": f"00{rng.randrange(16):02x}" + "ab" * 40},
    }


def entry(rng: random.Random, number: int) -> dict[str, Any]:
    """The entry at ``number`` in the file."""
    record = _base(rng, number)
    roll = rng.random()
    if roll < 0.55:
        status = rng.choices(
            (200, 201, 404, 499, 500, 503), (80, 10, 6, 2, 1, 1)
        )[0]
        route = rng.choice(ROUTES).format(
            *(rng.randrange(99999) for _ in range(2))
        )
        record["logName"] = (
            "projects/demo-staging-000000/logs/run.googleapis.com%2Frequests"
        )
        record["severity"] = "ERROR" if status >= 500 else "INFO"
        record["httpRequest"] = {
            "requestMethod": rng.choice(("GET", "POST")),
            "requestUrl": f"https://orders-api-7x2kq4-ew.a.run.app{route}",
            "status": status,
            "latency": f"{rng.random() / 2:.6f}s",
            "userAgent": rng.choice(("okhttp/4.12.0", "python-httpx/0.27.2")),
            "responseSize": str(rng.randrange(10_000)),
        }
    elif roll < 0.995:
        severity, text = rng.choice(MESSAGES)
        record["logName"] = (
            "projects/demo-staging-000000/logs/run.googleapis.com%2Fstdout"
        )
        record["severity"] = severity
        record["jsonPayload"] = {
            "message": text.format(
                *(rng.randrange(100_000) for _ in range(3))
            ),
            "logger": "orders.app",
        }
    else:
        record["logName"] = (
            "projects/demo-staging-000000/logs/run.googleapis.com%2Fstderr"
        )
        record["severity"] = "ERROR"
        record["textPayload"] = TRACE.format(rng.randrange(100))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rng = random.Random(20251204)
    with args.out.open("w", encoding="utf-8") as handle:
        for number in range(args.count):
            handle.write(json.dumps(entry(rng, number)) + "\n")


if __name__ == "__main__":
    main()
