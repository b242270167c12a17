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

__all__ = ["Claim", "OrderChange", "apply_result", "claim_due_orders", "next_due_at"]


@dataclass(frozen=True, slots=True)
class OrderChange:
    """What one applied answer changed, for events and subscriptions."""

    order_number: str
    user_id: uuid.UUID
    account_id: uuid.UUID | None  # known when the order was settled
    status: OrderStatus
    credited: int  # kopecks added to the balance by this call (0 for none)


async def apply_result(
    *,
    db: Database,
    order_number: str,
    loyalty_status: LoyaltyStatus,
    accrual: int | None,
    next_poll_at: datetime | None = None,
    attempts: int = 0,
) -> OrderChange | None:
    """Record an answer about an order and act on it, in one transaction.

    A final answer (INVALID/PROCESSED) settles the order and, for points, appends the accrual
    ledger row and credits the balance — at most once per order: a repeat, a crash followed
    by a re-poll, or a second instance applying the same answer changes nothing (the order is
    no longer pending, and the ledger's unique (type, order_number) backs that up).
    A pending answer keeps the order pending, due again at ``next_poll_at``.
    The answer is recorded (``bonus_calculation``) only when it changed the order, so a late
    answer cannot overwrite the one that settled it.
    Returns None when the order was already final (or does not exist): nothing changes.
    """
    now = utcnow()
    status = loyalty_status.order_status()
    points = accrual if status is OrderStatus.PROCESSED and accrual else None

    async def record(conn: LeanConnection) -> None:
        await accrual_store.record_answer(
            conn,
            order_number=order_number,
            loyalty_status=loyalty_status,
            accrual=accrual,
            now=now,
        )

    # The order row first, then its answer: every caller takes the locks in the same order.
    async with db.lean_transaction() as conn:
        if status.is_final:
            settled = await accrual_store.settle_order(
                conn, order_number=order_number, status=status, accrual=points
            )
            if settled is None:
                return None
            await record(conn)
            if points:
                inserted = await ledger.insert_entry(
                    conn,
                    account_id=settled.account_id,
                    type=TransactionType.ACCRUAL,
                    amount=points,
                    order_number=order_number,
                    order_id=settled.order_id,
                    now=now,
                )
                if not inserted:  # pragma: no cover - guarded by the status condition above
                    raise RuntimeError(f"order {order_number} was credited already")
                await ledger.credit(conn, account_id=settled.account_id, amount=points)
            return OrderChange(
                order_number=order_number,
                user_id=settled.user_id,
                account_id=settled.account_id,
                status=status,
                credited=points or 0,
            )
        user_id = await accrual_store.reschedule_order(
            conn,
            order_number=order_number,
            status=status,
            next_poll_at=next_poll_at or now,
            attempts=attempts,
        )
        if user_id is not None:
            await record(conn)
    if user_id is None:
        return None
    return OrderChange(
        order_number=order_number, user_id=user_id, account_id=None, status=status, credited=0
    )


async def claim_due_orders(*, db: Database, lease: timedelta, limit: int) -> list[Claim]:
    """Lease up to ``limit`` due pending orders for this poller (none other asks for them)."""
    now = utcnow()
    async with db.transaction() as conn:
        return await poller_store.claim_due(conn, now=now, lease_until=now + lease, limit=limit)


async def next_due_at(*, db: Database) -> datetime | None:
    async with db.read() as conn:
        return await poller_store.next_due_at(conn, now=utcnow())


async def postpone(
    *, db: Database, order_number: str, next_poll_at: datetime, attempts: int
) -> None:
    """No usable answer about the order: release it until ``next_poll_at``."""
    async with db.transaction() as conn:
        await poller_store.postpone(
            conn, number=order_number, next_poll_at=next_poll_at, attempts=attempts
        )


async def release_claims(*, db: Database, order_numbers: Sequence[str]) -> None:
    async with db.transaction() as conn:
        await poller_store.release(conn, numbers=order_numbers)


async def count_orders_by_status(*, db: Database) -> dict[OrderStatus, int]:
    async with db.read() as conn:
        return await poller_store.count_by_status(conn)
