"""The accrual pipeline: uploads → the poller → PROCESSED, measured from the stored timestamps.

Latency of an order = the time its final answer was applied (``bonus_calculation.checked_at``)
minus its upload (``order.uploaded_at``): both stamped by the server itself. The run's time is
the first upload to the last PROCESSED, from the same timestamps. Completion is watched in the
database, not through the API, so that watching adds no load to the server.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import func, select

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
    server_peak_rss_mib: float = float("nan")

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.seconds


async def _settle_times(db: Database) -> list[tuple[datetime, datetime]]:
    """(uploaded_at, checked_at) of every PROCESSED order: both stamped by the server."""
    o, bc = tables.order, tables.bonus_calculation
    async with db.read() as conn:
        rows = await conn.execute(
            select(o.c.uploaded_at, bc.c.checked_at)
            .join(bc, bc.c.order_id == o.c.id)
            .where(o.c.status == "PROCESSED")
        )
        return [(row.uploaded_at, row.checked_at) for row in rows]


async def _count_processed(db: Database) -> int:
    """Asked of the database directly, so that watching costs the server nothing."""
    o = tables.order
    async with db.read() as conn:
        statement = select(func.count()).select_from(o).where(o.c.status == "PROCESSED")
        count: int = (await conn.execute(statement)).scalar_one()
        return count


async def run_pipeline(
    *,
    backend: str,
    orders: int,
    upload_concurrency: int = 16,
    paced_per_second: float | None = None,
    simulator_args: tuple[str, ...] = (),
    time_limit: float = 600,
    workers: int = 1,
) -> PipelineResult:
    """Upload ``orders`` numbers (as fast as possible, or ``paced_per_second``) and wait until
    every one is PROCESSED."""
    async with (
        database(backend) as uri,
        simulator(simulator_args) as accrual,
        server(uri, accrual.base_url, workers=workers) as service,
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

        uploads = asyncio.gather(*(uploader() for _ in range(upload_concurrency)))
        await asyncio.wait_for(uploads, timeout=time_limit)
        deadline = started + time_limit
        watcher = Database(parse_database_uri(uri), pool_size=1)
        try:
            while await _count_processed(watcher) < orders:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"orders still not PROCESSED after {time_limit:g} s")
                await asyncio.sleep(0.1)
            times = await _settle_times(watcher)
        finally:
            await watcher.dispose()
        stats = (await client.get(f"{accrual.base_url}/api/stats")).json()
        peak_rss = service.peak_rss_mib()
    latencies = sorted((checked - uploaded).total_seconds() for uploaded, checked in times)
    # First upload to last PROCESSED, by the server's own clock (not the watcher's polling).
    elapsed = (max(c for _, c in times) - min(u for u, _ in times)).total_seconds()
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
        server_peak_rss_mib=peak_rss,
    )
