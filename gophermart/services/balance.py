"""Balance, withdrawals and their history."""

from __future__ import annotations

from gophermart.models.enums import TransactionType
from gophermart.models.money import order_number_problem
from gophermart.models.types import utcnow
from gophermart.services.errors import (
    InsufficientFunds,
    InvalidOrderNumber,
    Unauthenticated,
    WithdrawalConflict,
)
from gophermart.services.records import BalanceRecord, Principal, WithdrawalRecord
from gophermart.store import ledger
from gophermart.store.database import Database


async def get_balance(*, db: Database, principal: Principal) -> BalanceRecord:
    async with db.read() as conn:
        balance = await ledger.get_balance(conn, account_id=principal.account_id)
    if balance is None:
        raise Unauthenticated("the account named by the token does not exist")
    return balance


class _LostRace(Exception):
    """A concurrent request inserted the same withdrawal first; roll back and look again."""


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
    try:
        async with db.transaction() as conn:
            existing = await ledger.find_entry(
                conn, type=TransactionType.WITHDRAWAL, order_number=order
            )
            if existing is None:
                if not await ledger.debit(conn, account_id=principal.account_id, amount=amount):
                    raise InsufficientFunds("not enough points on the balance")
                now = utcnow()
                if not await ledger.insert_entry(
                    conn,
                    account_id=principal.account_id,
                    type=TransactionType.WITHDRAWAL,
                    amount=amount,
                    order_number=order,
                    order_id=None,
                    now=now,
                ):
                    raise _LostRace
                return WithdrawalRecord(order=order, sum=amount, processed_at=now)
    except _LostRace:
        async with db.read() as conn:
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
    async with db.read() as conn:
        return await ledger.list_withdrawals(conn, account_id=principal.account_id)
