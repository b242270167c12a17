"""Balance, withdrawals and their history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from gophermart.models.enums import TransactionType
from gophermart.models.money import order_number_problem
from gophermart.models.types import utcnow
from gophermart.services.errors import (
    InsufficientFunds,
    InvalidOrderNumber,
    Unauthenticated,
    WithdrawalConflict,
)
from gophermart.services.pages import check_page_size, cut_page
from gophermart.services.records import (
    BalanceRecord,
    Page,
    PageEntry,
    PageKey,
    Principal,
    TransactionRecord,
    WithdrawalRecord,
)
from gophermart.store import ledger
from gophermart.store.database import Database

_WITHDRAWALS = frozenset({TransactionType.WITHDRAWAL})


async def get_balance(*, db: Database, principal: Principal) -> BalanceRecord:
    async with db.lean_read() as conn:
        balance = await ledger.get_balance(conn, account_id=principal.account_id)
    if balance is None:
        raise Unauthenticated("the account named by the token does not exist")
    return balance


async def withdraw(
    *, db: Database, principal: Principal, order: str, amount: int
) -> WithdrawalRecord:
    """Spend ``amount`` kopecks on a new order; charges at most once per order number.

    The very same request again (same user, order and sum) answers as the first did without
    charging twice; another sum or another user for that number is a WithdrawalConflict.
    The balance moves only by a conditional UPDATE, so concurrent withdrawals cannot
    overdraw it.
    """
    problem = order_number_problem(order)
    if problem is not None:
        raise InvalidOrderNumber(problem)
    now = utcnow()
    async with db.lean_transaction() as conn:
        # The ledger row first: its unique (type, order_number) decides between a new
        # withdrawal and a retry, and a concurrent twin waits here until the first commits
        # or rolls back. Without the points, the exception rolls the row back.
        if await ledger.insert_entry(
            conn,
            account_id=principal.account_id,
            type=TransactionType.WITHDRAWAL,
            amount=amount,
            order_number=order,
            order_id=None,
            now=now,
        ):
            if not await ledger.debit(conn, account_id=principal.account_id, amount=amount):
                raise InsufficientFunds("not enough points on the balance")
            return WithdrawalRecord(order=order, sum=amount, processed_at=now)
        # A new statement, a new snapshot: the row that conflicted is committed and visible.
        existing = await ledger.find_entry(
            conn, type=TransactionType.WITHDRAWAL, order_number=order
        )
    if existing is None:  # pragma: no cover - ledger rows are never deleted
        raise RuntimeError(f"withdrawal {order} conflicted but cannot be found")
    if existing.account_id != principal.account_id or existing.amount != amount:
        raise WithdrawalConflict(
            "a withdrawal for this order number already exists with a different sum or user"
        )
    return WithdrawalRecord(order=order, sum=amount, processed_at=existing.created_at)


async def list_withdrawals(*, db: Database, principal: Principal) -> list[WithdrawalRecord]:
    async with db.lean_read() as conn:
        return await ledger.list_withdrawals(conn, account_id=principal.account_id)


async def get_balances(
    *, db: Database, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, BalanceRecord]:
    """Several accounts' balances in one read (for batched loading); unknown ids are absent."""
    if not account_ids:
        return {}
    async with db.lean_read() as conn:
        return await ledger.get_balances(conn, account_ids=account_ids)


async def page_transactions(
    *,
    db: Database,
    principal: Principal,
    first: int,
    after: PageKey | None = None,
    types: frozenset[TransactionType] | None = None,
) -> Page[TransactionRecord]:
    """The user's ledger, newest first, ``first`` rows at a time after the key ``after``."""
    check_page_size(first)
    async with db.lean_read() as conn:
        entries = await ledger.page_entries(
            conn, account_id=principal.account_id, types=types, after=after, limit=first + 1
        )
    return cut_page(entries, first)


async def count_transactions(
    *, db: Database, principal: Principal, types: frozenset[TransactionType] | None = None
) -> int:
    async with db.lean_read() as conn:
        return await ledger.count_entries(conn, account_id=principal.account_id, types=types)


async def page_withdrawals(
    *, db: Database, principal: Principal, first: int, after: PageKey | None = None
) -> Page[WithdrawalRecord]:
    """The user's withdrawals, newest first: the WITHDRAWAL rows of the ledger."""
    page = await page_transactions(
        db=db, principal=principal, first=first, after=after, types=_WITHDRAWALS
    )
    return Page(
        entries=[
            PageEntry(
                key=entry.key,
                record=WithdrawalRecord(
                    order=entry.record.order_number,
                    sum=entry.record.amount,
                    processed_at=entry.record.created_at,
                ),
            )
            for entry in page.entries
        ],
        has_next=page.has_next,
    )


async def count_withdrawals(*, db: Database, principal: Principal) -> int:
    return await count_transactions(db=db, principal=principal, types=_WITHDRAWALS)
