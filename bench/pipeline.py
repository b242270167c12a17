"""The accrual pipeline: uploads → the poller → PROCESSED, measured from the stored timestamps.

Latency of an order = the time its final answer was applied (``bonus_calculation.checked_at``)
minus its upload (``order.uploaded_at``): both stamped by the server itself.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import select

from bench.processes import database, server, simulator
from gophermart.models.money import luhn_complete
from gophermart.server.settings import parse_database_uri
from gophermart.store import tables
from gophermart.store.database import Database


@dataclass
class PipelineResult:
    backend: str
    orders: int
    seconds: float
    median_latency_ms: float
    p99_latency_ms: float
    rate_limited: int
    gets: int

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.seconds


async def _latencies(database_uri: str) -> list[float]:
    db = Database(parse_database_uri(database_uri), pool_size=1)
    o, bc = tables.order, tables.bonus_calculation
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                select(o.c.uploaded_at, bc.c.checked_at)
                .join(bc, bc.c.order_id == o.c.id)
                .where(o.c.status == "PROCESSED")
            )
            return [(row.checked_at - row.uploaded_at).total_seconds() for row in rows]
    finally:
        await db.dispose()


async def _count_processed(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get("/api/user/orders", headers=headers)
    if response.status_code == 204:
        return 0
    return sum(item["status"] == "PROCESSED" for item in response.json())


async def run_pipeline(
    *,
    backend: str,
    orders: int,
    upload_concurrency: int = 16,
    paced_per_second: float | None = None,
    simulator_args: tuple[str, ...] = (),
    timeout: float = 600,
) -> PipelineResult:
    """Upload ``orders`` numbers (as fast as possible, or ``paced_per_second``) and wait until
    every one is PROCESSED."""
    async with (
        database(backend) as uri,
        simulator(simulator_args) as accrual,
        server(uri, accrual.base_url) as service,
        httpx.AsyncClient(base_url=service.base_url, timeout=60) as client,
    ):
        register = await client.post(
            "/api/user/register", json={"login": "bench", "password": "bench-password"}
        )
        headers = {"Authorization": register.headers["Authorization"], "Content-Type": "text/plain"}
        numbers = [luhn_complete(f"{7 * 10**12 + index:013d}") for index in range(orders)]
        started = time.monotonic()
        queue: asyncio.Queue[str] = asyncio.Queue()
        for number in numbers:
            queue.put_nowait(number)

        async def uploader() -> None:
            while not queue.empty():
                number = queue.get_nowait()
                response = await client.post("/api/user/orders", content=number, headers=headers)
                assert response.status_code == 202, response.text
                if paced_per_second:
                    await asyncio.sleep(upload_concurrency / paced_per_second)

        await asyncio.gather(*(uploader() for _ in range(upload_concurrency)))
        deadline = started + timeout
        while await _count_processed(client, headers) < orders:
            if time.monotonic() > deadline:
                raise TimeoutError("orders still not PROCESSED")
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        stats = (await client.get(f"{accrual.base_url}/api/stats")).json()
        latencies = sorted(await _latencies(uri))
    return PipelineResult(
        backend=backend,
        orders=orders,
        seconds=elapsed,
        median_latency_ms=statistics.median(latencies) * 1000 if latencies else float("nan"),
        p99_latency_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000
        if latencies
        else float("nan"),
        rate_limited=stats["rate_limited"],
        gets=stats["gets"],
    )
