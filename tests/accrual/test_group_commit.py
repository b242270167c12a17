"""The poller's group commit: answers that arrive together are applied in few transactions,
with the same effect as one by one; a bad answer fails alone."""

from __future__ import annotations

import asyncio

from gophermart.accrual.poller import GroupCommit
from gophermart.models.enums import LoyaltyStatus, OrderStatus
from gophermart.services.accrual import Answer
from gophermart.services.records import BalanceRecord
from gophermart.store.database import Database
from tests.services.test_services import assert_ledger_invariant, new_user, upload


async def test_answers_that_arrive_together_share_transactions(db: Database) -> None:
    alice = await new_user(db)
    numbers = [await upload(db, alice) for _ in range(50)]
    commits = GroupCommit(db)

    changes = await asyncio.gather(
        *(commits.apply(Answer(number, LoyaltyStatus.PROCESSED, 100)) for number in numbers)
    )

    assert [(c.order_number, c.status, c.credited) for c in changes if c] == [
        (number, OrderStatus.PROCESSED, 100) for number in numbers
    ]
    # All 50 were waiting before the group commit's first turn: one transaction.
    assert commits.transactions == 1
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(5_000, 0)


async def test_a_bad_answer_fails_alone(db: Database) -> None:
    alice = await new_user(db)
    numbers = [await upload(db, alice) for _ in range(5)]
    commits = GroupCommit(db)
    answers = [Answer(number, LoyaltyStatus.PROCESSED, 100) for number in numbers]
    # A negative accrual breaks the order's CHECK constraint: that batch fails in the database.
    answers[2] = Answer(numbers[2], LoyaltyStatus.PROCESSED, -100)

    results = await asyncio.gather(
        *(commits.apply(answer) for answer in answers), return_exceptions=True
    )

    assert isinstance(results[2], Exception)
    credited = [getattr(result, "credited", None) for result in results]
    assert credited[:2] + credited[3:] == [100, 100, 100, 100]
    assert commits.transactions == 1 + 5  # the failed batch, then each answer alone
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(400, 0)
