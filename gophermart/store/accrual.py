"""Statements that record the accrual system's answers and settle orders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gophermart.models.enums import LoyaltyStatus, OrderStatus
from gophermart.models.types import uuid7
from gophermart.store import tables
from gophermart.store.dialect import insert

_o = tables.order
_bc = tables.bonus_calculation
_FINAL = (OrderStatus.INVALID.value, OrderStatus.PROCESSED.value)


@dataclass(frozen=True, slots=True)
class SettledOrder:
    order_id: uuid.UUID
    user_id: uuid.UUID
    account_id: uuid.UUID


async def record_answer(
    conn: AsyncConnection,
    *,
    order_number: str,
    loyalty_status: LoyaltyStatus,
    accrual: int | None,
    now: datetime,
) -> None:
    """Keep the latest answer about the order in ``bonus_calculation`` (one row per order)."""
    order_id = select(_o.c.id).where(_o.c.number == order_number).scalar_subquery()
    statement = insert(conn, _bc).values(
        id=uuid7(),
        order_id=order_id,
        loyalty_status=loyalty_status.value,
        accrual=accrual,
        checked_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["order_id"],
        set_={
            "loyalty_status": statement.excluded.loyalty_status,
            "accrual": statement.excluded.accrual,
            "checked_at": statement.excluded.checked_at,
        },
    )
    await conn.execute(statement)


async def settle_order(
    conn: AsyncConnection, *, order_number: str, status: OrderStatus, accrual: int | None
) -> SettledOrder | None:
    """Move a pending order to a final status; None if it was final already (nothing changed).

    The ``status NOT IN (final)`` condition is what makes crediting happen at most once:
    of any number of attempts, only one sees a row change.
    """
    u = tables.user
    statement = (
        update(_o)
        .where(_o.c.number == order_number, _o.c.status.not_in(_FINAL))
        .values(status=status.value, accrual=accrual, lease_until=None)
        .returning(_o.c.id, _o.c.user_id)
    )
    row = (await conn.execute(statement)).first()
    if row is None:
        return None
    account_id = (
        await conn.execute(select(u.c.loyalty_account_id).where(u.c.id == row.user_id))
    ).scalar_one()
    return SettledOrder(order_id=row.id, user_id=row.user_id, account_id=account_id)


async def reschedule_order(
    conn: AsyncConnection,
    *,
    order_number: str,
    status: OrderStatus,
    next_poll_at: datetime,
    attempts: int,
) -> uuid.UUID | None:
    """Keep a pending order pending, due again at ``next_poll_at``; releases its lease.

    Returns the owner, or None when the order is final already.
    """
    statement = (
        update(_o)
        .where(_o.c.number == order_number, _o.c.status.not_in(_FINAL))
        .values(status=status.value, next_poll_at=next_poll_at, lease_until=None, attempts=attempts)
        .returning(_o.c.user_id)
    )
    user_id: uuid.UUID | None = (await conn.execute(statement)).scalar_one_or_none()
    return user_id
