"""Service-level money rules (DESIGN §4) on both databases: credits happen exactly once,
final statuses stay final, the ledger and the cached totals agree, and the database itself
refuses what would break them."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gophermart.models.enums import LoyaltyStatus, OrderStatus, TransactionType
from gophermart.models.types import utcnow, uuid7
from gophermart.services import accrual, balance, orders
from gophermart.services.errors import InsufficientFunds, WithdrawalConflict
from gophermart.services.records import BalanceRecord, Principal
from gophermart.store import tables
from gophermart.store import users as user_store
from gophermart.store.database import Database
from tests.factories import credit_points, new_login, order_number


async def new_user(db: Database) -> Principal:
    """A user with an empty loyalty account (no password hashing: not what is tested here)."""
    login = new_login()
    async with db.transaction() as conn:
        principal = await user_store.create_user(
            conn, login=login, login_key=login, password_hash="not-a-hash", now=utcnow()
        )
    assert principal is not None
    return principal


async def upload(db: Database, principal: Principal) -> str:
    number = order_number()
    result = await orders.upload_order(db=db, principal=principal, number=number)
    assert result.created
    return number


@dataclass(frozen=True)
class StoredOrder:
    status: str
    accrual: int | None
    loyalty_status: str | None
    answer_accrual: int | None


async def stored_order(db: Database, number: str) -> StoredOrder:
    o, bc = tables.order, tables.bonus_calculation
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(o.c.status, o.c.accrual, bc.c.loyalty_status, bc.c.accrual)
                .select_from(o.outerjoin(bc, bc.c.order_id == o.c.id))
                .where(o.c.number == number)
            )
        ).one()
    return StoredOrder(*row)


async def ledger_rows(db: Database, account_id: uuid.UUID) -> list[tuple[str, int, str]]:
    tx = tables.ledger
    async with db.read() as conn:
        rows = await conn.execute(
            select(tx.c.type, tx.c.amount, tx.c.order_number)
            .where(tx.c.loyalty_account_id == account_id)
            .order_by(tx.c.created_at, tx.c.id)
        )
        return [(row.type, row.amount, row.order_number) for row in rows]


async def assert_ledger_invariant(db: Database, account_id: uuid.UUID) -> BalanceRecord:
    """balance = Σ accrual - Σ withdrawal ≥ 0 and withdrawn = Σ withdrawal (SPEC §7)."""
    rows = await ledger_rows(db, account_id)
    accrued = sum(amount for kind, amount, _ in rows if kind == TransactionType.ACCRUAL)
    spent = sum(amount for kind, amount, _ in rows if kind == TransactionType.WITHDRAWAL)
    principal_balance = await _balance(db, account_id)
    assert principal_balance.current == accrued - spent
    assert principal_balance.withdrawn == spent
    assert principal_balance.current >= 0
    return principal_balance


async def _balance(db: Database, account_id: uuid.UUID) -> BalanceRecord:
    acc = tables.loyalty_account
    async with db.read() as conn:
        row = (
            await conn.execute(select(acc.c.balance, acc.c.withdrawn).where(acc.c.id == account_id))
        ).one()
    return BalanceRecord(current=row.balance, withdrawn=row.withdrawn)


# ---------------------------------------------------------------- crediting exactly once


async def test_processed_twice_credits_once(db: Database) -> None:
    alice = await new_user(db)
    number = await upload(db, alice)

    first = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=72998
    )
    assert first is not None
    assert (first.status, first.credited, first.user_id) == (
        OrderStatus.PROCESSED,
        72998,
        alice.user_id,
    )
    assert first.account_id == alice.account_id

    again = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=72998
    )
    assert again is None
    assert await ledger_rows(db, alice.account_id) == [("ACCRUAL", 72998, number)]
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(72998, 0)
    assert await stored_order(db, number) == StoredOrder("PROCESSED", 72998, "PROCESSED", 72998)


async def test_processed_ten_times_at_once_credits_once(db: Database) -> None:
    alice = await new_user(db)
    number = await upload(db, alice)

    results = await asyncio.gather(
        *(
            accrual.apply_result(
                db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=500
            )
            for _ in range(10)
        )
    )
    applied = [result for result in results if result is not None]
    assert len(applied) == 1
    assert applied[0].credited == 500
    assert await ledger_rows(db, alice.account_id) == [("ACCRUAL", 500, number)]
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(500, 0)


async def test_conflicting_final_answers_at_once_settle_one_way(db: Database) -> None:
    """Several instances racing with different final answers: exactly one wins, and what is
    stored (status, accrual, ledger, balance) is that one answer's."""
    alice = await new_user(db)
    number = await upload(db, alice)
    answers = [(LoyaltyStatus.PROCESSED, 100 * (i + 1)) for i in range(5)] + [
        (LoyaltyStatus.INVALID, None)
    ] * 5
    random.Random(7).shuffle(answers)

    results = await asyncio.gather(
        *(
            accrual.apply_result(db=db, order_number=number, loyalty_status=s, accrual=a)
            for s, a in answers
        )
    )
    [winner] = [result for result in results if result is not None]
    stored = await stored_order(db, number)
    current = await assert_ledger_invariant(db, alice.account_id)
    assert stored.status == winner.status
    if winner.status is OrderStatus.PROCESSED:
        assert stored == StoredOrder("PROCESSED", winner.credited, "PROCESSED", winner.credited)
        assert await ledger_rows(db, alice.account_id) == [("ACCRUAL", winner.credited, number)]
    else:
        assert stored == StoredOrder("INVALID", None, "INVALID", None)
        assert await ledger_rows(db, alice.account_id) == []
    assert current == BalanceRecord(winner.credited, 0)


async def test_invalid_then_processed_stays_invalid(db: Database) -> None:
    alice = await new_user(db)
    number = await upload(db, alice)

    invalid = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=LoyaltyStatus.INVALID, accrual=None
    )
    assert invalid is not None
    assert (invalid.status, invalid.credited) == (OrderStatus.INVALID, 0)

    late = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=500
    )
    assert late is None
    # The order, the recorded answer and the money all still say INVALID.
    assert await stored_order(db, number) == StoredOrder("INVALID", None, "INVALID", None)
    assert await ledger_rows(db, alice.account_id) == []
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(0, 0)


async def test_late_pending_answer_does_not_reopen_a_final_order(db: Database) -> None:
    alice = await new_user(db)
    number = await credit_points(db, alice, 1000)
    late = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=LoyaltyStatus.REGISTERED, accrual=None
    )
    assert late is None
    assert await stored_order(db, number) == StoredOrder("PROCESSED", 1000, "PROCESSED", 1000)
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(1000, 0)


async def test_processed_without_points_settles_without_a_ledger_row(db: Database) -> None:
    alice = await new_user(db)
    number = await upload(db, alice)
    for points in (None, 0):
        change = await accrual.apply_result(
            db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=points
        )
        if points is None:
            assert change is not None and change.credited == 0
        else:
            assert change is None
    stored = await stored_order(db, number)
    assert (stored.status, stored.accrual) == ("PROCESSED", None)
    assert await ledger_rows(db, alice.account_id) == []
    listed = await orders.list_orders(db=db, principal=alice)
    assert [(o.number, o.status, o.accrual) for o in listed] == [
        (number, OrderStatus.PROCESSED, None)
    ]


@pytest.mark.parametrize("answer", [LoyaltyStatus.REGISTERED, LoyaltyStatus.PROCESSING])
async def test_pending_answer_moves_to_processing_and_stays_pending(
    db: Database, answer: LoyaltyStatus
) -> None:
    alice = await new_user(db)
    number = await upload(db, alice)
    due = utcnow().replace(microsecond=0)

    change = await accrual.apply_result(
        db=db,
        order_number=number,
        loyalty_status=answer,
        accrual=None,
        next_poll_at=due,
        attempts=3,
    )
    assert change is not None
    assert (change.status, change.credited, change.user_id) == (
        OrderStatus.PROCESSING,
        0,
        alice.user_id,
    )
    stored = await stored_order(db, number)
    assert stored == StoredOrder("PROCESSING", None, answer.value, None)
    o = tables.order
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(o.c.next_poll_at, o.c.lease_until, o.c.attempts).where(o.c.number == number)
            )
        ).one()
    assert row.next_poll_at == due
    assert row.lease_until is None
    assert row.attempts == 3

    # Still pending: a later final answer settles it and credits.
    done = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=250
    )
    assert done is not None and done.credited == 250
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(250, 0)


async def test_answer_about_an_unknown_order_changes_nothing(db: Database) -> None:
    for status in (LoyaltyStatus.PROCESSED, LoyaltyStatus.REGISTERED):
        assert (
            await accrual.apply_result(
                db=db, order_number=order_number(), loyalty_status=status, accrual=100
            )
            is None
        )
    async with db.read() as conn:
        for table in (tables.bonus_calculation, tables.ledger, tables.order):
            assert (await conn.execute(select(func.count()).select_from(table))).scalar_one() == 0


# ---------------------------------------------------------------- withdrawals


async def test_concurrent_withdrawals_never_overdraw(db: Database) -> None:
    alice = await new_user(db)
    await credit_points(db, alice, 1000)

    async def attempt() -> bool:
        try:
            await balance.withdraw(db=db, principal=alice, order=order_number(), amount=300)
        except InsufficientFunds:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt() for _ in range(10)))
    assert outcomes.count(True) == 3
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(100, 900)


async def test_the_same_withdrawal_at_once_charges_once(db: Database) -> None:
    alice = await new_user(db)
    await credit_points(db, alice, 1000)
    number = order_number()
    records = await asyncio.gather(
        *(balance.withdraw(db=db, principal=alice, order=number, amount=400) for _ in range(8))
    )
    assert {(r.order, r.sum) for r in records} == {(number, 400)}
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(600, 400)


@dataclass
class Model:
    """What the balances must be, computed in Python alongside the service calls."""

    balance: Counter[uuid.UUID] = field(default_factory=Counter)
    withdrawn: Counter[uuid.UUID] = field(default_factory=Counter)
    withdrawals: dict[str, tuple[uuid.UUID, int]] = field(default_factory=dict)


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_mixed_sequence_keeps_the_ledger_invariant(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    people = [await new_user(db) for _ in range(3)]
    model = Model()
    pending: list[tuple[Principal, str]] = []

    async def step() -> None:
        who = rng.choice(people)
        roll = rng.random()
        if roll < 0.25:
            pending.append((who, await upload(db, who)))
        elif roll < 0.5 and pending:
            owner, number = pending.pop(rng.randrange(len(pending)))
            points = rng.choice([None, rng.randrange(1, 100_000)])
            status = rng.choice(
                [LoyaltyStatus.PROCESSED, LoyaltyStatus.PROCESSED, LoyaltyStatus.INVALID]
            )
            change = await accrual.apply_result(
                db=db, order_number=number, loyalty_status=status, accrual=points
            )
            assert change is not None
            credited = points if status is LoyaltyStatus.PROCESSED and points else 0
            assert change.credited == credited
            model.balance[owner.account_id] += credited
            # A repeat of the answer (another instance, a re-poll) changes nothing.
            repeat = await accrual.apply_result(
                db=db, order_number=number, loyalty_status=status, accrual=points
            )
            assert repeat is None
        elif roll < 0.85:
            amount = rng.randrange(1, 60_000)
            number = order_number()
            try:
                await balance.withdraw(db=db, principal=who, order=number, amount=amount)
            except InsufficientFunds:
                assert model.balance[who.account_id] < amount
            else:
                assert model.balance[who.account_id] >= amount
                model.balance[who.account_id] -= amount
                model.withdrawn[who.account_id] += amount
                model.withdrawals[number] = (who.account_id, amount)
        elif model.withdrawals:
            number, (account_id, amount) = rng.choice(sorted(model.withdrawals.items()))
            owner = next(p for p in people if p.account_id == account_id)
            if rng.random() < 0.5:  # the very same request again: 200, charged once
                record = await balance.withdraw(db=db, principal=owner, order=number, amount=amount)
                assert (record.order, record.sum) == (number, amount)
            else:  # another sum or another user for that number: a conflict
                other = rng.choice([p for p in people if p is not owner])
                with pytest.raises(WithdrawalConflict):
                    await balance.withdraw(
                        db=db, principal=rng.choice([owner, other]), order=number, amount=amount + 1
                    )

    for _ in range(40):
        await step()
    for person in people:
        stored = await assert_ledger_invariant(db, person.account_id)
        assert stored == BalanceRecord(
            model.balance[person.account_id], model.withdrawn[person.account_id]
        )
        assert (await balance.get_balance(db=db, principal=person)) == stored


async def test_random_concurrent_credits_and_withdrawals_keep_the_invariant(db: Database) -> None:
    """Everything at once: the totals must still be exactly what the ledger says."""
    rng = random.Random(3)
    people = [await new_user(db) for _ in range(2)]
    numbers = [(who, await upload(db, who)) for who in people for _ in range(6)]

    async def credit(who: Principal, number: str) -> None:
        await accrual.apply_result(
            db=db,
            order_number=number,
            loyalty_status=LoyaltyStatus.PROCESSED,
            accrual=rng.randrange(1, 5_000),
        )

    async def spend(who: Principal) -> None:
        with contextlib.suppress(InsufficientFunds):
            await balance.withdraw(
                db=db, principal=who, order=order_number(), amount=rng.randrange(1, 5_000)
            )

    work = [credit(who, number) for who, number in numbers]
    work += [spend(rng.choice(people)) for _ in range(24)]
    rng.shuffle(work)
    await asyncio.gather(*work)
    for person in people:
        await assert_ledger_invariant(db, person.account_id)
        assert len([r for r in await ledger_rows(db, person.account_id) if r[0] == "ACCRUAL"]) == 6


# ---------------------------------------------------------------- what the database refuses


async def test_database_refuses_a_negative_balance(db: Database) -> None:
    alice = await new_user(db)
    await credit_points(db, alice, 100)
    acc = tables.loyalty_account
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(
                update(acc).where(acc.c.id == alice.account_id).values(balance=acc.c.balance - 101)
            )
    assert await assert_ledger_invariant(db, alice.account_id) == BalanceRecord(100, 0)


async def test_database_refuses_a_negative_withdrawn_total(db: Database) -> None:
    alice = await new_user(db)
    acc = tables.loyalty_account
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(update(acc).where(acc.c.id == alice.account_id).values(withdrawn=-1))


@pytest.mark.parametrize("kind", [TransactionType.ACCRUAL, TransactionType.WITHDRAWAL])
async def test_database_refuses_a_second_ledger_row_of_a_kind_per_order(
    db: Database, kind: TransactionType
) -> None:
    alice = await new_user(db)
    bob = await new_user(db)
    number = order_number()
    tx = tables.ledger

    def row(account_id: uuid.UUID, amount: int) -> dict[str, object]:
        return {
            "id": uuid7(),
            "loyalty_account_id": account_id,
            "type": kind.value,
            "amount": amount,
            "order_number": number,
            "order_id": None,
            "created_at": utcnow(),
        }

    async with db.transaction() as conn:
        await conn.execute(insert(tx).values(row(alice.account_id, 100)))
    # Not even for another account or another amount.
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(insert(tx).values(row(bob.account_id, 200)))
    # The other kind for the same number is a different row and allowed.
    other = (
        TransactionType.WITHDRAWAL if kind is TransactionType.ACCRUAL else TransactionType.ACCRUAL
    )
    async with db.transaction() as conn:
        await conn.execute(insert(tx).values({**row(alice.account_id, 100), "type": other.value}))


@pytest.mark.parametrize("amount", [0, -1])
async def test_database_refuses_a_non_positive_ledger_amount(db: Database, amount: int) -> None:
    alice = await new_user(db)
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(
                insert(tables.ledger).values(
                    id=uuid7(),
                    loyalty_account_id=alice.account_id,
                    type=TransactionType.ACCRUAL.value,
                    amount=amount,
                    order_number=order_number(),
                    order_id=None,
                    created_at=utcnow(),
                )
            )


async def test_database_refuses_a_duplicate_order_number(db: Database) -> None:
    alice = await new_user(db)
    number = await upload(db, alice)
    o = tables.order
    now = utcnow()
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(
                insert(o).values(
                    id=uuid7(),
                    number=number,
                    user_id=alice.user_id,
                    status="NEW",
                    uploaded_at=now,
                    next_poll_at=now,
                    attempts=0,
                )
            )
