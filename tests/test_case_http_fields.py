"""Case httprequest-field-types: loosely typed httpRequest fields."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CASES

from gardener_gate.entry import normalize
from gardener_gate.masking import template_route

INPUT = CASES / "httprequest-field-types" / "input.json"
STAMP = "2025-05-12T14:00:00Z"


def _request_entry(**fields: Any) -> dict[str, Any]:
    request = {"requestMethod": "GET", "requestUrl": "/api/v1/orders/1"}
    request.update(fields)
    return {"timestamp": STAMP, "insertId": "x1", "httpRequest": request}


@pytest.fixture
def result(gate: Any) -> Any:
    return gate("run", "--logs", str(INPUT))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, 404),
        ("500", 500),
        ("abc", None),
    ],
)
def test_http_status_is_read_as_an_integer(
    status: object, expected: int | None
) -> None:
    raw = _request_entry(status=status)

    entry = normalize(0, raw)

    assert not isinstance(entry, str)
    assert entry.http is not None
    assert entry.http.status == expected


def test_a_request_without_status_has_no_status() -> None:
    raw = _request_entry()

    entry = normalize(0, raw)

    assert not isinstance(entry, str)
    assert entry.kind == "http"
    assert entry.http is not None
    assert entry.http.status is None


@pytest.mark.parametrize(
    ("latency", "seconds", "notes"),
    [
        ("0.012345s", 0.012345, ()),
        ("0s", 0.0, ()),
        ("2.731004s", 2.731004, ()),
        ({"seconds": 2, "nanos": 500000000}, 2.5, ()),
        ("0.005", 0.005, ("latency without unit, read as seconds",)),
        (None, None, ()),
        (" 0.5s", 0.5, ()),
        ("nans", None, ("unreadable latency (out of range)",)),
        ("-1s", None, ("unreadable latency (out of range)",)),
        ("1e8s", None, ("unreadable latency (out of range)",)),
        ("1_0s", 10.0, ()),
        # Only a latency's first 40 characters are read.
        (
            "0." + "0" * 39 + "1s",
            0.0,
            ("latency without unit, read as seconds",),
        ),
    ],
)
def test_latency_is_read_in_seconds_whatever_its_shape(
    latency: object, seconds: float | None, notes: tuple[str, ...]
) -> None:
    raw = _request_entry(status=200, latency=latency)

    entry = normalize(0, raw)

    assert not isinstance(entry, str)
    assert entry.http is not None
    assert entry.http.latency == seconds
    assert entry.http.notes == notes


def test_an_unreadable_latency_is_none_and_never_raises() -> None:
    raw = _request_entry(status=200, latency="fast")

    entry = normalize(0, raw)

    assert not isinstance(entry, str)
    assert entry.http is not None
    assert entry.http.latency is None


def test_a_request_nested_in_json_payload_is_a_request_record() -> None:
    raw = {
        "timestamp": STAMP,
        "insertId": "x2",
        "jsonPayload": {
            "message": "request finished",
            "httpRequest": {
                "requestMethod": "POST",
                "requestUrl": "/api/v1/carts/x/checkout",
                "status": 502,
                "latency": {"seconds": 2, "nanos": 500000000},
            },
        },
    }

    entry = normalize(0, raw)

    assert not isinstance(entry, str)
    assert entry.kind == "http"
    assert entry.http is not None
    assert entry.http.method == "POST"
    assert entry.http.status == 502
    assert entry.http.latency == 2.5


@pytest.mark.parametrize(
    ("url", "route"),
    [
        (
            "https://orders-api-7x2kq4-ew.a.run.app/api/v1/orders/8812"
            "/items/3?include=tax",
            "/api/v1/orders/{id}/items/{id}",
        ),
        (
            "https://orders-api-7x2kq4-ew.a.run.app/api/v1/orders/77/items/2",
            "/api/v1/orders/{id}/items/{id}",
        ),
        ("/api/v1/orders/9001", "/api/v1/orders/{id}"),
        (
            "/api/v1/carts/6f1c2e4a-9b7d-4c21-8f3e-2a5b6c7d8e9f/checkout",
            "/api/v1/carts/{uuid}/checkout",
        ),
        (
            "https://orders-api-7x2kq4-ew.a.run.app/api/v1/carts/"
            "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d/checkout",
            "/api/v1/carts/{uuid}/checkout",
        ),
        (
            "https://orders-api-7x2kq4-ew.a.run.app/api/v1/orders",
            "/api/v1/orders",
        ),
        ("/v1/docs/LllvBChfmMoFZEYjyhgL", "/v1/docs/{id}"),
        ("/v1/GetUserProfileSettings", "/v1/GetUserProfileSettings"),
        ("/v1/ProcessIncomingWebhooks/x", "/v1/ProcessIncomingWebhooks/x"),
        ("/v1/GetHTTPServerSettings", "/v1/GetHTTPServerSettings"),
        ("/v1/listAllCustomerInvoices", "/v1/listAllCustomerInvoices"),
        ("/v1/NOTIFICATIONSETTINGS", "/v1/NOTIFICATIONSETTINGS"),
    ],
)
def test_a_url_becomes_a_templated_route_without_host_or_query(
    url: str, route: str
) -> None:
    assert template_route(url) == route


def test_the_case_reads_every_entry_and_skips_none(result: Any) -> None:
    entries = result.worklog["entries"]

    assert entries["read"] == 8
    assert entries["skipped"] == 0
    assert entries["analysed"] == 8
    assert entries["events"] == 8


def test_request_clusters_are_keyed_on_the_status_code(result: Any) -> None:
    clusters = result.worklog["clusters"]

    found = [(c["kind"], c.get("http_status"), c["count"]) for c in clusters]

    assert sorted(found, key=repr) == [
        ("http", 404, 3),
        ("http", 500, 1),
        ("http", 502, 2),
        ("http", None, 1),
    ]


@pytest.mark.parametrize(
    ("status", "title", "priority", "routes"),
    [
        (
            404,
            "HTTP 404 Not Found",
            "P4",
            [
                {"value": "GET /api/v1/orders/{id}/items/{id}", "count": 2},
                {"value": "GET /api/v1/orders/{id}", "count": 1},
            ],
        ),
        (
            500,
            "HTTP 500 Internal Server Error",
            "P1",
            [{"value": "GET /api/v1/orders/{id}/items/{id}", "count": 1}],
        ),
        (
            502,
            "HTTP 502 Bad Gateway",
            "P1",
            [{"value": "POST /api/v1/carts/{uuid}/checkout", "count": 2}],
        ),
    ],
)
def test_each_status_cluster_breaks_down_by_method_and_route(
    result: Any,
    status: int,
    title: str,
    priority: str,
    routes: list[dict[str, Any]],
) -> None:
    cluster = result.cluster(kind="http", http_status=status)

    assert cluster["title"] == title
    assert cluster["priority"] == priority
    assert cluster["status"] == "new"
    assert cluster["breakdown"]["routes"] == routes


def test_a_string_status_is_coerced_in_the_sample(result: Any) -> None:
    cluster = result.cluster(kind="http", http_status=500)

    request = cluster["samples"][0]["httpRequest"]

    assert request["status"] == 500
    assert request["latency_s"] == 0.005
    assert cluster["samples"][0]["notes"] == [
        "latency without unit, read as seconds"
    ]


def test_latencies_of_every_shape_reach_the_samples(result: Any) -> None:
    clusters = result.worklog["clusters"]

    latencies = sorted(
        (s["insertId"], s["httpRequest"]["latency_s"])
        for c in clusters
        for s in c["samples"]
    )

    assert latencies == sorted(
        [
            ("b8f205836871fffa7b64583a", 0.003001),
            ("ed319e428626c8fc062d11b7", 0.0),
            ("fa16b084056d6825341acbd5", 0.01),
            ("e95ce5c7d5b53457f7496285", 0.005),
            ("f87d7cb1fa926bebb8944ffe", 2.5),
            ("c53b097412ba7ce91dc60968", 2.731004),
            ("1fc51d3b1662647775a0a778", None),
        ]
    )


def test_the_502_cluster_reports_the_median_latency(result: Any) -> None:
    cluster = result.cluster(kind="http", http_status=502)

    p50 = cluster["latency_p50_s"]

    # The median of 2.5 s and 2.731004 s, within the 2.5 % resolution
    # that a bounded-memory histogram may have.
    assert p50 == pytest.approx(2.615502, rel=0.025)


def test_the_nested_request_counts_in_the_502_cluster(result: Any) -> None:
    cluster = result.cluster(kind="http", http_status=502)

    ids = [s["insertId"] for s in cluster["samples"]]

    assert ids == ["f87d7cb1fa926bebb8944ffe", "c53b097412ba7ce91dc60968"]
    assert cluster["breakdown"]["platform messages"] == [
        {"value": "request finished", "count": 1}
    ]


def test_a_missing_status_goes_to_a_low_priority_unknown_bucket(
    result: Any,
) -> None:
    cluster = result.cluster(kind="http", title="HTTP status unknown")

    assert cluster["count"] == 1
    assert cluster["priority"] == "P8"
    assert cluster.get("http_status") is None
    assert cluster["breakdown"]["routes"] == [
        {"value": "POST /api/v1/orders", "count": 1}
    ]


def test_no_cluster_is_titled_none(result: Any) -> None:
    titles = [c["title"] for c in result.worklog["clusters"]]

    assert [t for t in titles if "None" in t] == []
    assert "None" not in result.markdown


def test_successful_requests_are_traffic_not_clusters(result: Any) -> None:
    worklog = result.worklog

    statuses = [c.get("http_status") for c in worklog["clusters"]]

    assert 200 not in statuses
    assert worklog["traffic"]["count"] == 1
    assert worklog["traffic"]["by_status"] == {"200": 1}
    assert worklog["traffic"]["latency_p50_s"] == pytest.approx(
        0.012345, rel=0.025
    )


def test_the_gate_fails_on_the_two_5xx_clusters(result: Any) -> None:
    worklog = result.worklog

    assert result.code == 1
    assert worklog["verdict"] == "fail"
    assert worklog["summary"]["new_by_priority"] == {
        "P1": 2,
        "P4": 1,
        "P8": 1,
    }
