"""Statements of the poller: claiming due orders under a lease, and putting them back.

A claim is a lease: ``lease_until`` in the future hides the order from every other claimer
(this process's next batch, or another instance). ``FOR UPDATE SKIP LOCKED`` makes two
instances that claim at the same instant take different rows instead of waiting on each
other; on SQLite (one writer) the clause is simply not rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gophermart.models.enums import OrderStatus
from gophermart.store import tables

_o = tables.order
_PENDING = (OrderStatus.NEW.value, OrderStatus.PROCESSING.value)


@dataclass(frozen=True, slots=True)
class Claim:
    number: str
    status: OrderStatus
    attempts: int


async def claim_due(
    conn: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[Claim]:
    """Lease up to ``limit`` pending orders that are due, earliest first."""
    due = (
        select(_o.c.id)
        .where(
            _o.c.status.in_(_PENDING),
            _o.c.next_poll_at <= now,
            or_(_o.c.lease_until.is_(None), _o.c.lease_until < now),
        )
        .order_by(_o.c.next_poll_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(_o)
        .where(_o.c.id.in_(due.scalar_subquery()))
        .values(lease_until=lease_until)
        .returning(_o.c.number, _o.c.status, _o.c.attempts)
    )
    rows = await conn.execute(statement)
    return [Claim(row.number, OrderStatus(row.status), row.attempts) for row in rows]


async def next_due_at(conn: AsyncConnection, *, now: datetime) -> datetime | None:
    """When the earliest pending order becomes claimable (its lease, if any, counted)."""
    pending = _o.c.status.in_(_PENDING)
    free = or_(_o.c.lease_until.is_(None), _o.c.lease_until < now)
    row = (
        await conn.execute(
            select(
                select(func.min(_o.c.next_poll_at)).where(pending, free).scalar_subquery(),
                select(func.min(_o.c.lease_until))
                .where(pending, _o.c.lease_until >= now)
                .scalar_subquery(),
            )
        )
    ).one()
    candidates: list[datetime] = [value for value in row if value is not None]
    return min(candidates) if candidates else None


async def postpone(
    conn: AsyncConnection, *, number: str, next_poll_at: datetime, attempts: int
) -> None:
    """No usable answer this time: release the lease and try again at ``next_poll_at``."""
    await conn.execute(
        update(_o)
        .where(_o.c.number == number, _o.c.status.in_(_PENDING))
        .values(next_poll_at=next_poll_at, lease_until=None, attempts=attempts)
    )


async def release(conn: AsyncConnection, *, numbers: Sequence[str]) -> None:
    """Give claims back untouched (on shutdown), so nobody waits for their leases to expire."""
    if numbers:
        await conn.execute(
            update(_o)
            .where(and_(_o.c.number.in_(list(numbers)), _o.c.status.in_(_PENDING)))
            .values(lease_until=None)
        )


async def count_by_status(conn: AsyncConnection) -> dict[OrderStatus, int]:
    rows = await conn.execute(select(_o.c.status, func.count()).group_by(_o.c.status))
    return {OrderStatus(row[0]): row[1] for row in rows}
