"""Statements of the poller: claiming due orders under a lease, and putting them back.

A claim is a lease: ``lease_until`` in the future hides the order from every other claimer
(this process's next batch, or another instance). ``FOR UPDATE SKIP LOCKED`` makes two
instances that claim at the same instant take different rows instead of waiting on each
other; on SQLite (one writer) the clause is simply not rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gophermart.models.enums import OrderStatus
from gophermart.store import tables
from gophermart.store.lean import LeanConnection, LeanStatement

_o = tables.order
# Spelled with literals, as the partial index ix_order_pending is: a prepared statement's
# generic plan can only use that index if the planner sees the same constants.
_PENDING = _o.c.status.in_(
    [literal_column(f"'{status.value}'") for status in (OrderStatus.NEW, OrderStatus.PROCESSING)]
)
_FREE = or_(_o.c.lease_until.is_(None), _o.c.lease_until < bindparam("now"))


@dataclass(frozen=True, slots=True)
class Claim:
    number: str
    status: OrderStatus
    attempts: int


_CLAIM_DUE = LeanStatement(
    update(_o)
    .where(
        _o.c.id.in_(
            select(_o.c.id)
            .where(_PENDING, _o.c.next_poll_at <= bindparam("now"), _FREE)
            .order_by(_o.c.next_poll_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(lease_until=bindparam("lease_until"))
    .returning(_o.c.number, _o.c.status, _o.c.attempts)
)
_NEXT_DUE_AT = LeanStatement(
    select(
        select(func.min(_o.c.next_poll_at)).where(_PENDING, _FREE).scalar_subquery(),
        select(func.min(_o.c.lease_until))
        .where(_PENDING, _o.c.lease_until >= bindparam("now"))
        .scalar_subquery(),
    )
)
_POSTPONE = LeanStatement(
    update(_o)
    .where(_o.c.number == bindparam("number"), _PENDING)
    .values(
        next_poll_at=bindparam("next_poll_at"), lease_until=None, attempts=bindparam("attempts")
    )
)
_RELEASE = LeanStatement(
    update(_o).where(_o.c.number == bindparam("number"), _PENDING).values(lease_until=None)
)


async def claim_due(
    conn: LeanConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[Claim]:
    """Lease up to ``limit`` pending orders that are due, earliest first."""
    rows = await conn.fetch(_CLAIM_DUE, now=now, lease_until=lease_until, limit=limit)
    return [Claim(number, OrderStatus(status), attempts) for number, status, attempts in rows]


async def next_due_at(conn: LeanConnection, *, now: datetime) -> datetime | None:
    """When the earliest pending order becomes claimable (its lease, if any, counted)."""
    row = await conn.fetchrow(_NEXT_DUE_AT, now=now)
    candidates: list[datetime] = [value for value in row or () if value is not None]
    return min(candidates) if candidates else None


async def postpone(
    conn: LeanConnection, *, number: str, next_poll_at: datetime, attempts: int
) -> None:
    """No usable answer this time: release the lease and try again at ``next_poll_at``."""
    await conn.execute(_POSTPONE, number=number, next_poll_at=next_poll_at, attempts=attempts)


async def release(conn: LeanConnection, *, number: str) -> None:
    """Give a claim back untouched (on shutdown), so nobody waits for its lease to expire."""
    await conn.execute(_RELEASE, number=number)


async def count_by_status(conn: AsyncConnection) -> dict[OrderStatus, int]:
    rows = await conn.execute(select(_o.c.status, func.count()).group_by(_o.c.status))
    return {OrderStatus(row[0]): row[1] for row in rows}
