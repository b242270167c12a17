"""Statements of the order aggregate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, func, select

from gophermart.models.enums import OrderStatus
from gophermart.models.types import uuid7
from gophermart.services.records import OrderFilter, OrderRecord, PageEntry, PageKey
from gophermart.store import tables
from gophermart.store.dialect import insert
from gophermart.store.lean import (
    LeanConnection,
    LeanShapes,
    LeanStatement,
    after_key,
    in_list,
    in_list_of,
    one_of,
)

_o = tables.order
_ORDER_COLUMNS = (_o.c.number, _o.c.status, _o.c.accrual, _o.c.uploaded_at)


_STATUSES = {status.value: status for status in OrderStatus}  # cheaper than OrderStatus(…)


def _record(row: Sequence[Any]) -> OrderRecord:
    return OrderRecord(number=row[0], status=_STATUSES[row[1]], accrual=row[2], uploaded_at=row[3])


_INSERT_ORDER = LeanStatement(
    lambda dialect_name: (
        insert(dialect_name, _o)
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


@dataclass(frozen=True, slots=True)
class _Listing:
    """The shape of a listing statement: which of its optional conditions it has."""

    statuses: tuple[str, ...] | None  # in the statement itself: a handful of shapes
    since: bool
    until: bool
    cursor: bool = False


def _listing_conditions(listing: _Listing) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [_o.c.user_id == bindparam("user_id")]
    if listing.statuses is not None:
        conditions.append(one_of(_o.c.status, listing.statuses))
    if listing.since:
        conditions.append(_o.c.uploaded_at >= bindparam("since"))
    if listing.until:
        conditions.append(_o.c.uploaded_at < bindparam("until"))
    if listing.cursor:
        conditions.append(after_key(_o.c.uploaded_at, _o.c.id))
    return conditions


_PAGE_ORDERS = LeanShapes[_Listing](
    lambda listing: (
        select(_o.c.id, *_ORDER_COLUMNS)
        .where(*_listing_conditions(listing))
        .order_by(_o.c.uploaded_at.desc(), _o.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )
)
_COUNT_ORDERS = LeanShapes[_Listing](
    lambda listing: select(func.count()).select_from(_o).where(*_listing_conditions(listing))
)
_FIND_USER_ORDERS = LeanShapes[int](
    lambda size: select(*_ORDER_COLUMNS).where(
        _o.c.user_id == bindparam("user_id"), in_list_of(_o.c.number, "number_", size)
    )
)


def _listing(filter: OrderFilter, *, cursor: bool = False) -> _Listing:
    statuses = filter.statuses
    return _Listing(
        statuses=None if statuses is None else tuple(sorted(status.value for status in statuses)),
        since=filter.uploaded_after is not None,
        until=filter.uploaded_before is not None,
        cursor=cursor,
    )


async def page_orders(
    conn: LeanConnection,
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
    rows = await conn.fetch(
        _PAGE_ORDERS[_listing(filter, cursor=after is not None)],
        user_id=user_id,
        since=filter.uploaded_after,
        until=filter.uploaded_before,
        cursor_at=after.at if after is not None else None,
        cursor_id=after.id if after is not None else None,
        limit=limit,
    )
    return [PageEntry(key=PageKey(at=row[4], id=row[0]), record=_record(row[1:])) for row in rows]


async def count_orders(conn: LeanConnection, *, user_id: uuid.UUID, filter: OrderFilter) -> int:
    row = await conn.fetchrow(
        _COUNT_ORDERS[_listing(filter)],
        user_id=user_id,
        since=filter.uploaded_after,
        until=filter.uploaded_before,
    )
    assert row is not None
    count: int = row[0]
    return count


async def find_user_orders(
    conn: LeanConnection, *, user_id: uuid.UUID, numbers: Sequence[str]
) -> list[OrderRecord]:
    """Those of ``numbers`` that this user uploaded (others' orders are not found)."""
    numbers_in = in_list("number_", sorted(set(numbers)))
    rows = await conn.fetch(_FIND_USER_ORDERS[len(numbers_in)], user_id=user_id, **numbers_in)
    return [_record(row) for row in rows]
