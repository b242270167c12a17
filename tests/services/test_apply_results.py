"""Many accrual answers applied in one transaction (what the poller's group commit does):
each answer has exactly the effect it has alone, and each account moves by the sum."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3

import asyncpg
import pytest
from sqlalchemy.exc import IntegrityError

from gophermart.models.enums import LoyaltyStatus, OrderStatus
from gophermart.services import accrual, balance
from gophermart.services.accrual import Answer
from gophermart.services.errors import InsufficientFunds
from gophermart.services.records import BalanceRecord
from gophermart.store.database import Database
from tests.factories import order_number
from tests.services.test_services import (
    StoredOrder,
    assert_ledger_invariant,
    ledger_rows,
    new_user,
    stored_order,
    upload,
)

# The lean route lets the driver's own exception through.
INTEGRITY_ERRORS = (
    IntegrityError,
    asyncpg.IntegrityConstraintViolationError,
    sqlite3.IntegrityError,
)
PROCESSED, PROCESSING, INVALID = (
    LoyaltyStatus.PROCESSED,
    LoyaltyStatus.PROCESSING,
    LoyaltyStatus.INVALID,
)


async def test_a_mixed_batch_has_the_effect_of_each_answer_alone(db: Database) -> None:
    alice, bob = await new_user(db), await new_user(db)
    a1, a2, a3, a4 = [await upload(db, alice) for _ in range(4)]
    b1 = await upload(db, bob)
    await accrual.apply_result(db=db, order_number=a4, loyalty_status=INVALID, accrual=None)
    unknown = order_number()

    answers = [
        Answer(a1, PROCESSED, 10_050),
        Answer(b1, PROCESSED, 700),
        Answer(a2, PROCESSING, None),
        Answer(a3, PROCESSED, 25),
        Answer(a4, PROCESSED, 99_999),  # final already: nothing changes
        Answer(unknown, PROCESSED, 1_000),  # no such order: nothing changes
        Answer(a1, PROCESSED, 5),  # the same order again in the batch: the first one counts
    ]
    changes = await accrual.apply_results(db=db, answers=answers)

    summary = [None if c is None else (c.order_number, c.status, c.credited) for c in changes]
    assert summary == [
        (a1, OrderStatus.PROCESSED, 10_050),
        (b1, OrderStatus.PROCESSED, 700),
        (a2, OrderStatus.PROCESSING, 0),
        (a3, OrderStatus.PROCESSED, 25),
        None,
        None,
        (a1, OrderStatus.PROCESSED, 10_050),
    ]
    assert sorted(await ledger_rows(db, alice.account_id)) == sorted(
        [("ACCRUAL", 10_050, a1), ("ACCRUAL", 25, a3)]
    )
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(10_075, 0)
    assert await assert_ledger_invariant(db, bob.account_id) == BalanceRecord(700, 0)
    assert await stored_order(db, a2) == StoredOrder("PROCESSING", None, "PROCESSING", None)
    assert await stored_order(db, a4) == StoredOrder("INVALID", None, "INVALID", None)


async def test_a_failing_answer_rolls_its_whole_batch_back(db: Database) -> None:
    """All or nothing: a batch is one transaction (the poller then retries one by one)."""
    alice = await new_user(db)
    good, bad = await upload(db, alice), await upload(db, alice)
    with pytest.raises(INTEGRITY_ERRORS):
        # A negative accrual breaks the order's CHECK (accrual > 0) in the database.
        await accrual.apply_results(
            db=db, answers=[Answer(good, PROCESSED, 500), Answer(bad, PROCESSED, -1)]
        )
    assert await stored_order(db, good) == StoredOrder("NEW", None, None, None)
    assert await ledger_rows(db, alice.account_id) == []
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(0, 0)


async def test_overlapping_batches_and_withdrawals_at_once_keep_the_ledger(db: Database) -> None:
    """Several pollers' batches share orders and accounts, in different orders, while the
    users spend: every order is credited once, nobody deadlocks, the invariant holds."""
    users = [await new_user(db) for _ in range(3)]
    owned = [(user, await upload(db, user)) for user in users for _ in range(8)]
    rng = random.Random(11)
    batches = []
    for _ in range(6):
        chosen = rng.sample(owned, 12)
        batches.append([Answer(number, PROCESSED, 1_000) for _, number in chosen])

    async def spend(index: int) -> None:
        user = users[index % len(users)]
        with contextlib.suppress(InsufficientFunds):  # early ones may find nothing yet
            await balance.withdraw(db=db, principal=user, order=order_number(), amount=1_500)

    results = await asyncio.gather(
        *(accrual.apply_results(db=db, answers=batch) for batch in batches),
        *(spend(index) for index in range(9)),
    )
    credited = [
        change.order_number
        for result in results[: len(batches)]
        for change in result or ()
        if change is not None and change.credited
    ]
    applied = {number for batch in batches for number in (a.order_number for a in batch)}
    assert sorted(credited) == sorted(applied)  # each chosen order credited exactly once
    for user in users:
        rows = await ledger_rows(db, user.account_id)
        accruals = [number for kind, _, number in rows if kind == "ACCRUAL"]
        assert len(accruals) == len(set(accruals))
        await assert_ledger_invariant(db, user.account_id)
