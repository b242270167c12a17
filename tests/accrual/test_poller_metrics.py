"""/metrics tells what the poller did: answers by outcome, 429 pauses, points, orders by status."""

from __future__ import annotations

import re

from sqlalchemy import select

from gophermart.accrual.simulator import SimulatorConfig
from gophermart.server.settings import Settings
from gophermart.store import tables
from gophermart.store.database import Database
from tests.accrual.test_poller import TEXT, all_processed, gophermart, simulator, wait_for
from tests.factories import order_number, sign_up


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = "^" + re.escape(f"{name}{{{wanted}}}" if labels else name) + r" (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_metrics_count_outcomes_pauses_and_points(settings: Settings, db: Database) -> None:
    # One admitted request a second: the order's second ask (it is REGISTERED at first) is
    # refused with a 429, and the third, a pause later, finds it PROCESSED.
    config = SimulatorConfig(
        rate_limit=60, rate_window=1, registered_for=0.2, processing_for=0, auto_register=True
    )
    async with simulator(config) as (url, recorder), gophermart(settings, url) as client:
        auth = await sign_up(client)
        number = order_number()
        upload = await client.post("/api/user/orders", content=number, headers={**auth, **TEXT})
        assert upload.status_code == 202
        await wait_for(lambda: all_processed(db, 1), timeout=10, what="PROCESSED")
        text = (await client.get("/metrics")).text
    o = tables.order
    async with db.read() as conn:
        accrual = (await conn.execute(select(o.c.accrual))).scalar_one()
    assert accrual > 0  # the simulator's house mechanics reward its generated goods

    statuses = [hit.status for hit in recorder.hits]
    assert statuses.count(429) >= 1
    requests = "gophermart_accrual_requests_total"
    assert _sample(text, requests, outcome="rate_limited") == statuses.count(429)
    assert _sample(text, requests, outcome="registered") == 1
    assert _sample(text, requests, outcome="processed") == 1
    assert _sample(text, "gophermart_accrual_rate_limit_pauses_total") == statuses.count(429)
    assert _sample(text, "gophermart_points_credited_total") == accrual / 100
    assert _sample(text, "gophermart_orders", status="PROCESSED") == 1
    assert _sample(text, "gophermart_orders", status="NEW") == 0
    latency = "gophermart_http_request_duration_seconds_count"
    assert _sample(text, latency, method="POST", route="/api/user/orders", status="202") == 1
