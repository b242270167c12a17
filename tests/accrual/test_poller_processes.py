"""The poller across real processes: a kill -9 mid-run, and two instances on one PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from gophermart.accrual.simulator import SimulatorConfig
from gophermart.store import tables
from gophermart.store.database import Backend, Database, DatabaseTarget
from tests.accrual.recording import RecordingApp
from tests.accrual.test_poller import (
    accrual_rows,
    all_processed,
    order_statuses,
    simulator,
    wait_for,
)
from tests.conftest import TEST_SECRET
from tests.factories import order_number, sign_up
from tests.servers import ServerProcess, database_uri, free_port

pytestmark = pytest.mark.slow
TEXT = {"Content-Type": "text/plain"}


@contextlib.asynccontextmanager
async def server_process(
    database: DatabaseTarget, accrual_url: str, log: Path
) -> AsyncIterator[ServerProcess]:
    port = free_port()
    process = ServerProcess(
        ["-a", f"127.0.0.1:{port}", "-d", database_uri(database), "-r", accrual_url],
        port=port,
        env={"SECRET_KEY": TEST_SECRET, "ACCRUAL_LEASE_SECONDS": "2", "LOG_LEVEL": "warning"},
        log_path=log,
    ).start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.kill()


async def assert_credited_once(db: Database, numbers: list[str]) -> None:
    credited = await accrual_rows(db)
    assert sorted(number for number, _ in credited) == sorted(numbers)
    o, acc = tables.order, tables.loyalty_account
    async with db.read() as conn:
        order_total = (await conn.execute(select(func.sum(o.c.accrual)))).scalar_one()
        balance_total = (await conn.execute(select(func.sum(acc.c.balance)))).scalar_one()
    assert sum(amount for _, amount in credited) == order_total == balance_total


async def test_kill_minus_nine_mid_run_credits_each_order_once(
    database: DatabaseTarget, db: Database, tmp_path: Path
) -> None:
    config = SimulatorConfig(latency_ms=40, registered_for=0, processing_for=0, auto_register=True)
    numbers = [order_number() for _ in range(60)]
    async with simulator(config) as (url, _):
        async with server_process(database, url, tmp_path / "a.log") as first:
            async with httpx.AsyncClient(base_url=first.base_url, timeout=30) as client:
                auth = await sign_up(client)
                for number in numbers:
                    response = await client.post(
                        "/api/user/orders", content=number, headers={**auth, **TEXT}
                    )
                    assert response.status_code == 202

            async def some_processed() -> bool:
                return "PROCESSED" in (await order_statuses(db)).values()

            await wait_for(some_processed, timeout=20, what="the first PROCESSED order")
            first.kill()
        statuses = await order_statuses(db)
        assert set(statuses.values()) != {"PROCESSED"}, "the kill came too late to test anything"
        async with server_process(database, url, tmp_path / "b.log"):
            await wait_for(
                lambda: all_processed(db, 60), timeout=60, what="all PROCESSED after restart"
            )
    await assert_credited_once(db, numbers)


async def _accrual_requests(server: ServerProcess) -> float:
    """How many requests this process sent to the accrual system, by its /metrics."""
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        text = (await client.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gophermart_accrual_requests_total{")
    )


async def upload_alternately(servers: tuple[ServerProcess, ...], numbers: list[str]) -> None:
    """One user uploads ``numbers`` to each server in turn, so that every poller wakes."""
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=30) as client:
        auth = await sign_up(client)
        for index, number in enumerate(numbers):
            base = servers[index % len(servers)].base_url
            response = await client.post(
                f"{base}/api/user/orders", content=number, headers={**auth, **TEXT}
            )
            assert response.status_code == 202


def _overlapping_asks(recorder: RecordingApp) -> list[str]:
    by_number = sorted(recorder.hits, key=lambda hit: (hit.number, hit.started))
    overlaps = []
    for number, hits in itertools.groupby(by_number, key=lambda hit: hit.number):
        ordered = list(hits)
        overlaps += [number for a, b in itertools.pairwise(ordered) if b.started < a.finished]
    return overlaps


@pytest.mark.parametrize("database_factory", [Backend.POSTGRESQL], indirect=True)
async def test_two_instances_share_the_work_without_asking_twice(
    database: DatabaseTarget, db: Database, tmp_path: Path
) -> None:
    config = SimulatorConfig(
        latency_ms=30, registered_for=0.2, processing_for=0.2, auto_register=True
    )
    numbers = [order_number() for _ in range(80)]
    async with (
        simulator(config) as (url, recorder),
        server_process(database, url, tmp_path / "a.log") as a,
        server_process(database, url, tmp_path / "b.log") as b,
    ):
        await upload_alternately((a, b), numbers)
        await wait_for(lambda: all_processed(db, 80), timeout=60, what="all PROCESSED")
        await asyncio.sleep(0.2)
        asked_by_each = [await _accrual_requests(server) for server in (a, b)]
    # Both really shared the work (one idle instance would make the rest of this moot).
    assert all(asked > 0 for asked in asked_by_each), asked_by_each
    assert _overlapping_asks(recorder) == []
    asked_by = {hit.number for hit in recorder.hits}
    assert asked_by == set(numbers)
    await assert_credited_once(db, numbers)


@pytest.mark.parametrize("database_factory", [Backend.POSTGRESQL], indirect=True)
async def test_two_instances_keep_one_pace_under_a_rate_limit(
    database: DatabaseTarget, db: Database, tmp_path: Path
) -> None:
    """The limit is the whole service's (SPEC §4.1): after the first 429, neither instance
    asks before Retry-After, and together they keep to N a minute instead of N each."""
    # 10 lookups a second, counted in one-second windows: 60 orders take 5 s at least.
    config = SimulatorConfig(
        rate_limit=600, rate_window=1, registered_for=0, processing_for=0, auto_register=True
    )
    numbers = [order_number() for _ in range(60)]
    async with (
        simulator(config) as (url, recorder),
        server_process(database, url, tmp_path / "a.log") as a,
        server_process(database, url, tmp_path / "b.log") as b,
    ):
        await upload_alternately((a, b), numbers)
        await wait_for(lambda: all_processed(db, 60), timeout=60, what="all PROCESSED")
        asked_by_each = [await _accrual_requests(server) for server in (a, b)]
    assert all(asked > 0 for asked in asked_by_each), asked_by_each
    limited = [hit for hit in recorder.hits if hit.status == 429]
    assert limited, "the limit was never reached: nothing was tested"
    first = limited[0]
    assert first.retry_after is not None
    quiet_until = first.finished + first.retry_after
    # Requests already on their way when the 429 came back may still arrive (0.25 s).
    during = [hit for hit in recorder.hits if first.finished + 0.25 < hit.started < quiet_until]
    assert during == [], f"{len(during)} lookups during the first pause"
    # Paced together, they provoke no more (one is tolerated: a loaded machine may delay a
    # send past the 2 % the pace keeps in hand). Paced each on its own, every window
    # overflowed.
    later = [hit for hit in limited if hit.started >= quiet_until]
    assert len(later) <= 1, f"{len(later)} more 429s after the pace was known"
    await assert_credited_once(db, numbers)
