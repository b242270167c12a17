"""Statements of the order aggregate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gophermart.models.enums import OrderStatus
from gophermart.models.types import uuid7
from gophermart.services.records import OrderRecord
from gophermart.store import tables
from gophermart.store.dialect import insert

_o = tables.order
_ORDER_COLUMNS = (_o.c.number, _o.c.status, _o.c.accrual, _o.c.uploaded_at)


def _record(row: Sequence[Any]) -> OrderRecord:
    return OrderRecord(
        number=row[0], status=OrderStatus(row[1]), accrual=row[2], uploaded_at=row[3]
    )


async def insert_order(
    conn: AsyncConnection, *, number: str, user_id: uuid.UUID, now: datetime
) -> OrderRecord | None:
    """Insert a NEW order due for polling now; None when the number exists (any owner)."""
    statement = (
        insert(conn, _o)
        .values(
            id=uuid7(),
            number=number,
            user_id=user_id,
            status=OrderStatus.NEW.value,
            uploaded_at=now,
            next_poll_at=now,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["number"])
        .returning(*_ORDER_COLUMNS)
    )
    row = (await conn.execute(statement)).first()
    return _record(row) if row is not None else None


async def find_order(conn: AsyncConnection, *, number: str) -> tuple[uuid.UUID, OrderRecord] | None:
    """The owner and state of an order, by number."""
    statement = select(_o.c.user_id, *_ORDER_COLUMNS).where(_o.c.number == number)
    row = (await conn.execute(statement)).first()
    return (row[0], _record(row[1:])) if row is not None else None


async def list_orders(conn: AsyncConnection, *, user_id: uuid.UUID) -> list[OrderRecord]:
    """All of a user's orders, newest upload first (id breaks ties: UUIDv7 is time-ordered)."""
    statement = (
        select(*_ORDER_COLUMNS)
        .where(_o.c.user_id == user_id)
        .order_by(_o.c.uploaded_at.desc(), _o.c.id.desc())
    )
    return [_record(row) for row in await conn.execute(statement)]
