"""Units of work of the store: how the lean route hands out PostgreSQL connections."""

from __future__ import annotations

import asyncio

from sqlalchemy import literal, select

from gophermart.store.database import Backend, Database, DatabaseTarget
from gophermart.store.lean import LeanStatement
from tests.pg import empty_pg_database, pg_dsn

PING = LeanStatement(select(literal(1)))


async def test_lean_connections_go_to_waiters_in_arrival_order() -> None:
    """Under load a request waits its turn, never behind ones that came later.

    asyncpg's own pool lets a newcomer take a connection that was just handed back while the
    waiter woken for it has not run yet; that waiter then queues again at the back. With a
    steady stream of arrivals, as a busy server sees, some requests waited many times the
    median (GET orders at 32 connections: p99 330 ms against a median of 10 ms).
    """
    async with empty_pg_database() as name:
        db = Database(DatabaseTarget(Backend.POSTGRESQL, pg_dsn(name)), pool_size=2)
        served: list[int] = []

        async def request(arrival: int) -> None:
            async with db.lean_read() as conn:
                served.append(arrival)
                assert await conn.fetchrow(PING) == (1,)

        try:
            # Both connections open first: opening one takes longer than a turn.
            await asyncio.gather(request(-1), request(-1))
            arrivals = []
            for arrival in range(200):
                arrivals.append(asyncio.create_task(request(arrival)))
                await asyncio.sleep(0)  # the next request comes a loop turn later
            await asyncio.gather(*arrivals)
        finally:
            await db.dispose()
    served = served[2:]
    assert served == sorted(served)
