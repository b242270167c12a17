"""Statements of the order aggregate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gophermart.models.enums import OrderStatus
from gophermart.models.types import uuid7
from gophermart.services.records import OrderFilter, OrderRecord, PageEntry, PageKey
from gophermart.store import tables
from gophermart.store.lean import LeanConnection, LeanStatement

_o = tables.order
_ORDER_COLUMNS = (_o.c.number, _o.c.status, _o.c.accrual, _o.c.uploaded_at)


_STATUSES = {status.value: status for status in OrderStatus}  # cheaper than OrderStatus(…)


def _record(row: Sequence[Any]) -> OrderRecord:
    return OrderRecord(number=row[0], status=_STATUSES[row[1]], accrual=row[2], uploaded_at=row[3])


_INSERT_ORDER = LeanStatement(
    lambda dialect_name: (
        (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(_o)
        .values(
            id=bindparam("id"),
            number=bindparam("number"),
            user_id=bindparam("user_id"),
            status=OrderStatus.NEW.value,
            uploaded_at=bindparam("now"),
            next_poll_at=bindparam("now"),
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["number"])
        .returning(*_ORDER_COLUMNS)
    )
)
_FIND_ORDER = LeanStatement(
    select(_o.c.user_id, *_ORDER_COLUMNS).where(_o.c.number == bindparam("number"))
)
_LIST_ORDERS = LeanStatement(
    select(*_ORDER_COLUMNS)
    .where(_o.c.user_id == bindparam("user_id"))
    .order_by(_o.c.uploaded_at.desc(), _o.c.id.desc())
)


async def insert_order(
    conn: LeanConnection, *, number: str, user_id: uuid.UUID, now: datetime
) -> OrderRecord | None:
    """Insert a NEW order due for polling now; None when the number exists (any owner)."""
    row = await conn.fetchrow(_INSERT_ORDER, id=uuid7(), number=number, user_id=user_id, now=now)
    return _record(row) if row is not None else None


async def find_order(conn: LeanConnection, *, number: str) -> tuple[uuid.UUID, OrderRecord] | None:
    """The owner and state of an order, by number."""
    row = await conn.fetchrow(_FIND_ORDER, number=number)
    return (row[0], _record(row[1:])) if row is not None else None


async def list_orders(conn: LeanConnection, *, user_id: uuid.UUID) -> list[OrderRecord]:
    """All of a user's orders, newest upload first (id breaks ties: UUIDv7 is time-ordered)."""
    return [_record(row) for row in await conn.fetch(_LIST_ORDERS, user_id=user_id)]


def _filter_conditions(*, user_id: uuid.UUID, filter: OrderFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [_o.c.user_id == user_id]
    if filter.statuses is not None:
        conditions.append(_o.c.status.in_(sorted(status.value for status in filter.statuses)))
    if filter.uploaded_after is not None:
        conditions.append(_o.c.uploaded_at >= filter.uploaded_after)
    if filter.uploaded_before is not None:
        conditions.append(_o.c.uploaded_at < filter.uploaded_before)
    return conditions


async def page_orders(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    filter: OrderFilter,
    after: PageKey | None,
    limit: int,
) -> list[PageEntry[OrderRecord]]:
    """Up to ``limit`` of a user's orders older than ``after``, newest first (keyset paging).

    Served by the (user_id, uploaded_at DESC) index: the cost of a page does not grow with
    how deep into the list it is.
    """
    conditions = _filter_conditions(user_id=user_id, filter=filter)
    if after is not None:
        conditions.append(
            or_(
                _o.c.uploaded_at < after.at,
                and_(_o.c.uploaded_at == after.at, _o.c.id < after.id),
            )
        )
    statement = (
        select(_o.c.id, *_ORDER_COLUMNS)
        .where(*conditions)
        .order_by(_o.c.uploaded_at.desc(), _o.c.id.desc())
        .limit(limit)
    )
    return [
        PageEntry(key=PageKey(at=row[4], id=row[0]), record=_record(row[1:]))
        for row in await conn.execute(statement)
    ]


async def count_orders(conn: AsyncConnection, *, user_id: uuid.UUID, filter: OrderFilter) -> int:
    statement = (
        select(func.count())
        .select_from(_o)
        .where(*_filter_conditions(user_id=user_id, filter=filter))
    )
    count: int = (await conn.execute(statement)).scalar_one()
    return count


async def find_user_orders(
    conn: AsyncConnection, *, user_id: uuid.UUID, numbers: Sequence[str]
) -> list[OrderRecord]:
    """Those of ``numbers`` that this user uploaded (others' orders are not found)."""
    statement = select(*_ORDER_COLUMNS).where(
        _o.c.user_id == user_id, _o.c.number.in_(sorted(set(numbers)))
    )
    return [_record(row) for row in await conn.execute(statement)]
