"""The simulator's state in a database (``gophermart accrual -d``), apart from the service's.

The simulator stands in for an external system, so its tables are its own: their own
``MetaData``, created with ``create_all`` at start-up, no part of the service's models or
Alembic migrations. The two may share one database (as in a demo) and never touch each
other's tables.

Semantics are `MemoryStore`'s exactly: a match or an order number is registered once
(``False`` the second time: a ``409``), mechanics come back in registration order, amounts
are exact decimals (stored as text: SQLite has no exact numeric type).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

from sqlalchemy import Column, Double, Integer, LargeBinary, MetaData, String, Table, Text, select

from gophermart.accrual.simulator import (
    Clock,
    Mechanic,
    RegisteredOrder,
    RewardType,
    StoreOpener,
)
from gophermart.store.database import Database, DatabaseTarget
from gophermart.store.dialect import insert

metadata = MetaData()

# Keys are SHA-256 digests of the natural key: a match or an order number may be as long as
# a 1 MiB body allows, and PostgreSQL's btree refuses an entry over about 2.7 kB.
mechanic_table = Table(
    "accrual_sim_mechanic",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("match_key", String(64), nullable=False, unique=True),
    # The match as UTF-8 bytes: a JSON string may hold NUL or a lone surrogate, which a
    # PostgreSQL text column refuses and MemoryStore takes.
    Column("match", LargeBinary, nullable=False),
    Column("reward", Text, nullable=False),
    Column("reward_type", String(2), nullable=False),
)
order_table = Table(
    "accrual_sim_order",
    metadata,
    Column("number_key", String(64), primary_key=True),
    Column("number", Text, nullable=False),
    Column("accrual", Text, nullable=False),
    # When, as two numbers whose sum is wall-clock seconds since the epoch: the registering
    # simulator's own clock, exact, and that simulator's wall-clock offset. A single
    # wall-clock column would round each time to 2**-22 s (a double near 1.7e9).
    Column("registered_at", Double, nullable=False),
    Column("clock_offset", Double, nullable=False),
)


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _key(value: str) -> str:
    return hashlib.sha256(_utf8(value)).hexdigest()


def _reward_type(value: str) -> RewardType:
    if value == "%":
        return "%"
    if value == "pt":
        return "pt"
    raise ValueError(f"unknown reward_type {value!r} in {mechanic_table.name}")


class SqlStore:
    """`SimulatorStore` on a `Database`, SQLite or PostgreSQL.

    ``registered_at`` is on the simulator's clock (monotonic: only differences matter) and
    is stored with the offset from that clock to the wall clock, so that a restarted
    simulator, whose monotonic clock starts anew, goes on from where each order really is.
    The offset is read once, here: within one store statuses progress exactly as with
    `MemoryStore` (an order comes back with the very ``registered_at`` it was added with),
    untouched by any step of the wall clock.
    """

    def __init__(
        self, database: Database, *, clock: Clock = time.monotonic, wall_clock: Clock = time.time
    ) -> None:
        self._db = database
        self._wall_offset = wall_clock() - clock()

    async def create_tables(self) -> None:
        """Create the simulator's tables unless they exist."""
        async with self._db.transaction() as conn:
            await conn.run_sync(metadata.create_all)

    async def add_mechanic(self, mechanic: Mechanic) -> bool:
        async with self._db.transaction() as conn:
            added = await conn.execute(
                insert(conn, mechanic_table)
                .values(
                    match_key=_key(mechanic.match),
                    match=_utf8(mechanic.match),
                    reward=str(mechanic.reward),
                    reward_type=mechanic.reward_type,
                )
                .on_conflict_do_nothing(index_elements=["match_key"])
                .returning(mechanic_table.c.position)
            )
            return added.first() is not None

    async def list_mechanics(self) -> Sequence[Mechanic]:
        t = mechanic_table
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(t.c.match, t.c.reward, t.c.reward_type).order_by(t.c.position)
            )
            return tuple(
                Mechanic(
                    match=bytes(match).decode("utf-8", "surrogatepass"),
                    reward=Decimal(reward),
                    reward_type=_reward_type(reward_type),
                )
                for match, reward, reward_type in rows
            )

    async def add_order(self, order: RegisteredOrder) -> bool:
        async with self._db.transaction() as conn:
            added = await conn.execute(
                insert(conn, order_table)
                .values(
                    number_key=_key(order.number),
                    number=order.number,
                    accrual=str(order.accrual),
                    registered_at=order.registered_at,
                    clock_offset=self._wall_offset,
                )
                .on_conflict_do_nothing(index_elements=["number_key"])
                .returning(order_table.c.number_key)
            )
            return added.first() is not None

    async def get_order(self, number: str) -> RegisteredOrder | None:
        t = order_table
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(t.c.accrual, t.c.registered_at, t.c.clock_offset).where(
                        t.c.number_key == _key(number)
                    )
                )
            ).first()
        if row is None:
            return None
        # The offsets are close, so their difference is exact: 0.0 for this store's own
        # orders, one rounding at the clock's magnitude for an earlier simulator's.
        return RegisteredOrder(
            number=number,
            registered_at=row.registered_at + (row.clock_offset - self._wall_offset),
            accrual=Decimal(row.accrual),
        )


def sql_store(
    target: DatabaseTarget, *, pool_size: int = 10, wall_clock: Clock = time.time
) -> StoreOpener:
    """What `create_app`'s ``open_store`` takes: at start-up, connect to ``target`` and create
    the simulator's tables unless they exist; at shutdown, close the connections."""

    @contextlib.asynccontextmanager
    async def open_store(clock: Clock) -> AsyncIterator[SqlStore]:
        database = Database(target, pool_size=pool_size)
        try:
            store = SqlStore(database, clock=clock, wall_clock=wall_clock)
            await store.create_tables()
            yield store
        finally:
            await database.dispose()

    return open_store
