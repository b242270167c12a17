"""Statements that record the accrual system's answers and settle orders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gophermart.models.enums import LoyaltyStatus, OrderStatus
from gophermart.models.types import uuid7
from gophermart.store import tables
from gophermart.store.dialect import insert
from gophermart.store.lean import LeanConnection, LeanStatement

_o = tables.order
_bc = tables.bonus_calculation
# Spelled as two comparisons, not NOT IN: the lean route runs no expanding IN lists.
_NOT_FINAL = (_o.c.status != OrderStatus.INVALID.value, _o.c.status != OrderStatus.PROCESSED.value)


@dataclass(frozen=True, slots=True)
class SettledOrder:
    order_id: uuid.UUID
    user_id: uuid.UUID
    account_id: uuid.UUID


def _record_answer(dialect_name: str) -> postgresql.Insert | sqlite.Insert:
    order_id = select(_o.c.id).where(_o.c.number == bindparam("number")).scalar_subquery()
    statement = insert(dialect_name, _bc)
    statement = statement.values(
        id=bindparam("id"),
        order_id=order_id,
        loyalty_status=bindparam("loyalty_status"),
        accrual=bindparam("accrual", type_=_o.c.accrual.type),
        checked_at=bindparam("now"),
    )
    return statement.on_conflict_do_update(
        index_elements=["order_id"],
        set_={
            "loyalty_status": statement.excluded.loyalty_status,
            "accrual": statement.excluded.accrual,
            "checked_at": statement.excluded.checked_at,
        },
    )


_RECORD_ANSWER = LeanStatement(_record_answer)
_SETTLE_ORDER = LeanStatement(
    update(_o)
    .where(_o.c.number == bindparam("number"), *_NOT_FINAL)
    .values(
        status=bindparam("status"),
        accrual=bindparam("accrual", type_=_o.c.accrual.type),
        lease_until=None,
    )
    .returning(
        _o.c.id,
        _o.c.user_id,
        select(tables.user.c.loyalty_account_id)
        .where(tables.user.c.id == _o.c.user_id)
        .scalar_subquery(),
    )
)
_RESCHEDULE_ORDER = LeanStatement(
    update(_o)
    .where(_o.c.number == bindparam("number"), *_NOT_FINAL)
    .values(
        status=bindparam("status"),
        next_poll_at=bindparam("next_poll_at"),
        lease_until=None,
        attempts=bindparam("attempts"),
    )
    .returning(_o.c.user_id)
)


async def record_answer(
    conn: LeanConnection,
    *,
    order_number: str,
    loyalty_status: LoyaltyStatus,
    accrual: int | None,
    now: datetime,
) -> None:
    """Keep the latest answer about the order in ``bonus_calculation`` (one row per order)."""
    await conn.execute(
        _RECORD_ANSWER,
        id=uuid7(),
        number=order_number,
        loyalty_status=loyalty_status.value,
        accrual=accrual,
        now=now,
    )


async def settle_order(
    conn: LeanConnection, *, order_number: str, status: OrderStatus, accrual: int | None
) -> SettledOrder | None:
    """Move a pending order to a final status; None if it was final already (nothing changed).

    The ``status NOT IN (final)`` condition is what makes crediting happen at most once:
    of any number of attempts, only one sees a row change.
    """
    row = await conn.fetchrow(
        _SETTLE_ORDER, number=order_number, status=status.value, accrual=accrual
    )
    if row is None:
        return None
    order_id, user_id, account_id = row
    return SettledOrder(order_id=order_id, user_id=user_id, account_id=account_id)


async def reschedule_order(
    conn: LeanConnection,
    *,
    order_number: str,
    status: OrderStatus,
    next_poll_at: datetime,
    attempts: int,
) -> uuid.UUID | None:
    """Keep a pending order pending, due again at ``next_poll_at``; releases its lease.

    Returns the owner, or None when the order is final already.
    """
    row = await conn.fetchrow(
        _RESCHEDULE_ORDER,
        number=order_number,
        status=status.value,
        next_poll_at=next_poll_at,
        attempts=attempts,
    )
    return None if row is None else row[0]
