"""Applying the accrual system's answers: statuses, and points credited exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gophermart.models.enums import LoyaltyStatus, OrderStatus, TransactionType
from gophermart.models.types import utcnow
from gophermart.store import accrual as accrual_store
from gophermart.store import ledger
from gophermart.store import poller as poller_store
from gophermart.store.database import Database
from gophermart.store.lean import LeanConnection
from gophermart.store.poller import Claim

__all__ = [
    "Answer",
    "Claim",
    "OrderChange",
    "apply_result",
    "apply_results",
    "claim_due_orders",
    "next_due_at",
]


@dataclass(frozen=True, slots=True)
class OrderChange:
    """What one applied answer changed, for events and subscriptions."""

    order_number: str
    user_id: uuid.UUID
    account_id: uuid.UUID | None  # known when the order was settled
    status: OrderStatus
    credited: int  # kopecks added to the balance by this call (0 for none)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the accrual system said about one order, and when to ask again if not final."""

    order_number: str
    loyalty_status: LoyaltyStatus
    accrual: int | None  # kopecks
    next_poll_at: datetime | None = None
    attempts: int = 0


async def apply_result(
    *,
    db: Database,
    order_number: str,
    loyalty_status: LoyaltyStatus,
    accrual: int | None,
    next_poll_at: datetime | None = None,
    attempts: int = 0,
) -> OrderChange | None:
    """Record an answer about an order and act on it, in one transaction (see apply_results)."""
    answer = Answer(order_number, loyalty_status, accrual, next_poll_at, attempts)
    [change] = await apply_results(db=db, answers=[answer])
    return change


async def apply_results(*, db: Database, answers: Sequence[Answer]) -> list[OrderChange | None]:
    """Record answers about orders and act on them, all in one transaction; the changes come
    back in the order of ``answers``.

    A final answer (INVALID/PROCESSED) settles the order and, for points, appends the accrual
    ledger row and credits the balance — at most once per order: a repeat, a crash followed
    by a re-poll, or a second instance applying the same answer changes nothing (the order is
    no longer pending, and the ledger's unique (type, order_number) backs that up).
    A pending answer keeps the order pending, due again at ``next_poll_at``.
    The answer is recorded (``bonus_calculation``) only when it changed the order, so a late
    answer cannot overwrite the one that settled it.
    An answer about an order that is final already (or does not exist) changes nothing: None.

    Applying many answers at once is what lets the poller commit a busy second's results in
    a few transactions: each account's balance moves once per call, by the sum of its credits.
    Locks are taken in one global order — order rows by number, then accounts by id — so
    that concurrent calls (other instances, withdrawals) cannot deadlock.
    """
    now = utcnow()
    changes: dict[str, OrderChange | None] = {}
    credits: dict[uuid.UUID, int] = {}
    async with db.lean_transaction() as conn:
        for answer in sorted(answers, key=lambda a: a.order_number):
            if answer.order_number in changes:  # the same order twice: the first answer wins
                continue
            changes[answer.order_number] = change = await _apply(conn, answer, now=now)
            if change is not None and change.credited:
                assert change.account_id is not None
                credits[change.account_id] = credits.get(change.account_id, 0) + change.credited
        for account_id in sorted(credits):
            await ledger.credit(conn, account_id=account_id, amount=credits[account_id])
    return [changes[answer.order_number] for answer in answers]


async def _apply(conn: LeanConnection, answer: Answer, *, now: datetime) -> OrderChange | None:
    """One answer's statements, but the balance (which apply_results moves per account)."""
    status = answer.loyalty_status.order_status()
    if status.is_final:
        points = answer.accrual if status is OrderStatus.PROCESSED and answer.accrual else None
        settled = await accrual_store.settle_order(
            conn, order_number=answer.order_number, status=status, accrual=points
        )
        if settled is None:
            return None
        await _record(conn, answer, now=now)
        if points:
            inserted = await ledger.insert_entry(
                conn,
                account_id=settled.account_id,
                type=TransactionType.ACCRUAL,
                amount=points,
                order_number=answer.order_number,
                order_id=settled.order_id,
                now=now,
            )
            if not inserted:  # pragma: no cover - guarded by the status condition above
                raise RuntimeError(f"order {answer.order_number} was credited already")
        return OrderChange(
            order_number=answer.order_number,
            user_id=settled.user_id,
            account_id=settled.account_id,
            status=status,
            credited=points or 0,
        )
    user_id = await accrual_store.reschedule_order(
        conn,
        order_number=answer.order_number,
        status=status,
        next_poll_at=answer.next_poll_at or now,
        attempts=answer.attempts,
    )
    if user_id is None:
        return None
    await _record(conn, answer, now=now)
    return OrderChange(
        order_number=answer.order_number,
        user_id=user_id,
        account_id=None,
        status=status,
        credited=0,
    )


async def _record(conn: LeanConnection, answer: Answer, *, now: datetime) -> None:
    await accrual_store.record_answer(
        conn,
        order_number=answer.order_number,
        loyalty_status=answer.loyalty_status,
        accrual=answer.accrual,
        now=now,
    )


async def claim_due_orders(*, db: Database, lease: timedelta, limit: int) -> list[Claim]:
    """Lease up to ``limit`` due pending orders for this poller (none other asks for them)."""
    now = utcnow()
    async with db.lean_autocommit() as conn:
        return await poller_store.claim_due(conn, now=now, lease_until=now + lease, limit=limit)


async def next_due_at(*, db: Database) -> datetime | None:
    async with db.lean_read() as conn:
        return await poller_store.next_due_at(conn, now=utcnow())


async def postpone(
    *, db: Database, order_number: str, next_poll_at: datetime, attempts: int
) -> None:
    """No usable answer about the order: release it until ``next_poll_at``."""
    async with db.lean_autocommit() as conn:
        await poller_store.postpone(
            conn, number=order_number, next_poll_at=next_poll_at, attempts=attempts
        )


async def release_claims(*, db: Database, order_numbers: Sequence[str]) -> None:
    async with db.lean_autocommit() as conn:
        for number in order_numbers:
            await poller_store.release(conn, number=number)


async def count_orders_by_status(*, db: Database) -> dict[OrderStatus, int]:
    async with db.read() as conn:
        return await poller_store.count_by_status(conn)
