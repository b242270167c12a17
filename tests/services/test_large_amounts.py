"""Money columns are BIGINT kopecks: amounts past 32 bits go through every statement intact
(a bind parameter typed narrower than its column fails on PostgreSQL, or, worse, wraps)."""

from __future__ import annotations

from sqlalchemy import select

from gophermart.models.enums import LoyaltyStatus, OrderStatus
from gophermart.services import accrual, balance, orders
from gophermart.services.records import BalanceRecord
from gophermart.store import tables
from gophermart.store.database import Database
from tests.factories import order_number
from tests.services.test_services import assert_ledger_invariant, new_user, upload

BIG = 10**12 + 37  # ten billion points and 37 kopecks: past 2**31 and 2**32 kopecks


async def test_amounts_beyond_32_bits_are_credited_and_spent_exactly(db: Database) -> None:
    principal = await new_user(db)
    number = await upload(db, principal)
    change = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=BIG
    )
    assert change is not None and change.credited == BIG

    spent = BIG - 2**33
    await balance.withdraw(db=db, principal=principal, order=order_number(), amount=spent)

    assert await balance.get_balance(db=db, principal=principal) == BalanceRecord(
        current=2**33, withdrawn=spent
    )
    assert await assert_ledger_invariant(db, principal.account_id) == BalanceRecord(
        current=2**33, withdrawn=spent
    )
    [listed] = await orders.list_orders(db=db, principal=principal)
    assert (listed.status, listed.accrual) == (OrderStatus.PROCESSED, BIG)
    bc = tables.bonus_calculation
    async with db.read() as conn:
        recorded = (await conn.execute(select(bc.c.accrual))).scalar_one()
    assert recorded == BIG
