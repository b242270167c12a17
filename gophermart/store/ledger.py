"""Statements of the loyalty account and its ledger.

The cached totals on ``loyalty_account`` only ever move by conditional UPDATEs in the same
transaction as the ledger row that justifies them; nothing reads a balance to write it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, bindparam, func, select, update

from gophermart.models.enums import TransactionType
from gophermart.models.types import uuid7
from gophermart.services.records import (
    BalanceRecord,
    PageEntry,
    PageKey,
    TransactionRecord,
    WithdrawalRecord,
)
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

_acc = tables.loyalty_account
_tx = tables.ledger
_TYPES = {type.value: type for type in TransactionType}


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    account_id: uuid.UUID
    amount: int
    created_at: datetime


_GET_BALANCE = LeanStatement(
    select(_acc.c.balance, _acc.c.withdrawn).where(_acc.c.id == bindparam("account_id"))
)
_DEBIT = LeanStatement(
    update(_acc)
    .where(_acc.c.id == bindparam("account_id"), _acc.c.balance >= bindparam("amount"))
    .values(
        balance=_acc.c.balance - bindparam("amount"),
        withdrawn=_acc.c.withdrawn + bindparam("amount"),
    )
)
_CREDIT = LeanStatement(
    update(_acc)
    .where(_acc.c.id == bindparam("account_id"))
    .values(balance=_acc.c.balance + bindparam("amount"))
)
_INSERT_ENTRY = LeanStatement(
    lambda dialect_name: (
        insert(dialect_name, _tx)
        .values(
            id=bindparam("id"),
            loyalty_account_id=bindparam("account_id"),
            type=bindparam("type"),
            amount=bindparam("amount"),
            order_number=bindparam("order_number"),
            order_id=bindparam("order_id"),
            created_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["type", "order_number"])
        .returning(_tx.c.id)
    )
)
_FIND_ENTRY = LeanStatement(
    select(_tx.c.loyalty_account_id, _tx.c.amount, _tx.c.created_at).where(
        _tx.c.type == bindparam("type"), _tx.c.order_number == bindparam("order_number")
    )
)
_LIST_WITHDRAWALS = LeanStatement(
    select(_tx.c.order_number, _tx.c.amount, _tx.c.created_at)
    .where(
        _tx.c.loyalty_account_id == bindparam("account_id"),
        _tx.c.type == TransactionType.WITHDRAWAL.value,
    )
    .order_by(_tx.c.created_at.desc(), _tx.c.id.desc())
)


async def get_balance(conn: LeanConnection, *, account_id: uuid.UUID) -> BalanceRecord | None:
    row = await conn.fetchrow(_GET_BALANCE, account_id=account_id)
    return BalanceRecord(current=row[0], withdrawn=row[1]) if row is not None else None


async def debit(conn: LeanConnection, *, account_id: uuid.UUID, amount: int) -> bool:
    """Take ``amount`` off the balance if it covers it; False (nothing changed) otherwise."""
    return await conn.execute(_DEBIT, account_id=account_id, amount=amount) == 1


async def credit(conn: LeanConnection, *, account_id: uuid.UUID, amount: int) -> None:
    await conn.execute(_CREDIT, account_id=account_id, amount=amount)


async def insert_entry(
    conn: LeanConnection,
    *,
    account_id: uuid.UUID,
    type: TransactionType,
    amount: int,
    order_number: str,
    order_id: uuid.UUID | None,
    now: datetime,
) -> bool:
    """Append a ledger row; False when one of this type for this order number exists."""
    row = await conn.fetchrow(
        _INSERT_ENTRY,
        id=uuid7(),
        account_id=account_id,
        type=type.value,
        amount=amount,
        order_number=order_number,
        order_id=order_id,
        now=now,
    )
    return row is not None


async def find_entry(
    conn: LeanConnection, *, type: TransactionType, order_number: str
) -> LedgerEntry | None:
    row = await conn.fetchrow(_FIND_ENTRY, type=type.value, order_number=order_number)
    return LedgerEntry(account_id=row[0], amount=row[1], created_at=row[2]) if row else None


async def list_withdrawals(
    conn: LeanConnection, *, account_id: uuid.UUID
) -> list[WithdrawalRecord]:
    return [
        WithdrawalRecord(order=row[0], sum=row[1], processed_at=row[2])
        for row in await conn.fetch(_LIST_WITHDRAWALS, account_id=account_id)
    ]


_GET_BALANCES = LeanShapes[int](
    lambda size: select(_acc.c.id, _acc.c.balance, _acc.c.withdrawn).where(
        in_list_of(_acc.c.id, "id_", size)
    )
)


async def get_balances(
    conn: LeanConnection, *, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, BalanceRecord]:
    """The balances of several accounts in one statement (accounts not found are absent)."""
    ids = in_list("id_", sorted(set(account_ids)))
    rows = await conn.fetch(_GET_BALANCES[len(ids)], **ids)
    return {row[0]: BalanceRecord(current=row[1], withdrawn=row[2]) for row in rows}


@dataclass(frozen=True, slots=True)
class _Listing:
    """The shape of a ledger listing: which types it keeps (a handful of shapes), and
    whether it continues after a cursor."""

    types: tuple[str, ...] | None
    cursor: bool = False


def _listing_conditions(listing: _Listing) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [_tx.c.loyalty_account_id == bindparam("account_id")]
    if listing.types is not None:
        conditions.append(one_of(_tx.c.type, listing.types))
    if listing.cursor:
        conditions.append(after_key(_tx.c.created_at, _tx.c.id))
    return conditions


_PAGE_ENTRIES = LeanShapes[_Listing](
    lambda listing: (
        select(_tx.c.id, _tx.c.type, _tx.c.amount, _tx.c.order_number, _tx.c.created_at)
        .where(*_listing_conditions(listing))
        .order_by(_tx.c.created_at.desc(), _tx.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )
)
_COUNT_ENTRIES = LeanShapes[_Listing](
    lambda listing: select(func.count()).select_from(_tx).where(*_listing_conditions(listing))
)


def _listing(types: frozenset[TransactionType] | None, *, cursor: bool = False) -> _Listing:
    return _Listing(
        types=None if types is None else tuple(sorted(type.value for type in types)),
        cursor=cursor,
    )


async def page_entries(
    conn: LeanConnection,
    *,
    account_id: uuid.UUID,
    types: frozenset[TransactionType] | None,
    after: PageKey | None,
    limit: int,
) -> list[PageEntry[TransactionRecord]]:
    """Up to ``limit`` ledger rows of an account older than ``after``, newest first.

    Keyset paging on (created_at, id), served by the (account, created_at DESC) indexes.
    """
    rows = await conn.fetch(
        _PAGE_ENTRIES[_listing(types, cursor=after is not None)],
        account_id=account_id,
        cursor_at=after.at if after is not None else None,
        cursor_id=after.id if after is not None else None,
        limit=limit,
    )
    return [
        PageEntry(
            key=PageKey(at=row[4], id=row[0]),
            record=TransactionRecord(
                type=_TYPES[row[1]], amount=row[2], order_number=row[3], created_at=row[4]
            ),
        )
        for row in rows
    ]


async def count_entries(
    conn: LeanConnection, *, account_id: uuid.UUID, types: frozenset[TransactionType] | None
) -> int:
    row = await conn.fetchrow(_COUNT_ENTRIES[_listing(types)], account_id=account_id)
    assert row is not None
    count: int = row[0]
    return count
