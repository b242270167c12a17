"""/metrics: request latency is labelled by route template, for every method."""

from __future__ import annotations

import re

import httpx

from tests.factories import order_number, sign_up


def _latency_count(text: str, *, method: str, route: str, status: str) -> float:
    pattern = re.compile(
        r"^gophermart_http_request_duration_seconds_count\{(?P<labels>[^}]*)\} (?P<value>\S+)$",
        re.MULTILINE,
    )
    wanted = {f'method="{method}"', f'route="{route}"', f'status="{status}"'}
    for match in pattern.finditer(text):
        if wanted <= set(match["labels"].split(",")):
            return float(match["value"])
    return 0.0


async def test_latency_is_recorded_per_route_template(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    for _ in range(2):
        assert (await client.get("/api/user/balance", headers=headers)).status_code == 200
    upload = await client.post(
        "/api/user/orders",
        content=order_number(),
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert upload.status_code == 202
    assert (await client.get("/no/such/path")).status_code == 404

    text = (await client.get("/metrics")).text
    assert _latency_count(text, method="GET", route="/api/user/balance", status="200") == 2
    # A POST passes the body middleware, which hands the router the scope it was given.
    assert _latency_count(text, method="POST", route="/api/user/orders", status="202") == 1
    assert _latency_count(text, method="POST", route="/api/user/register", status="200") == 1
    assert _latency_count(text, method="GET", route="unmatched", status="404") == 1
