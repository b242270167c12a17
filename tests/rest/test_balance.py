"""GET /api/user/balance, POST /api/user/balance/withdraw, GET /api/user/withdrawals."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import func, select

from gophermart.models.enums import TransactionType
from gophermart.store import tables
from gophermart.store.database import Database
from tests.conftest import RunningApp
from tests.factories import credit_points, order_number, sign_up
from tests.openapi_contract import ContractChecker, checked_client


async def _signed_up_with_points(
    client: httpx.AsyncClient, running_app: RunningApp, db: Database, kopecks: int
) -> dict[str, str]:
    auth = await sign_up(client)
    principal = running_app.context.tokens.decode(auth["Authorization"].removeprefix("Bearer "))
    if kopecks:
        await credit_points(db, principal, kopecks)
    return auth


async def _ledger(db: Database) -> list[tuple[str, int, str]]:
    tx = tables.ledger
    async with db.read() as conn:
        rows = await conn.execute(
            select(tx.c.type, tx.c.amount, tx.c.order_number).order_by(tx.c.created_at)
        )
        return [(row.type, row.amount, row.order_number) for row in rows]


async def _account(db: Database) -> list[tuple[int, int]]:
    acc = tables.loyalty_account
    async with db.read() as conn:
        return [
            (r.balance, r.withdrawn)
            for r in await conn.execute(select(acc.c.balance, acc.c.withdrawn))
        ]


async def test_balance_of_a_new_user_is_zero(
    client: httpx.AsyncClient, running_app: RunningApp
) -> None:
    auth = await sign_up(client)
    response = await client.get("/api/user/balance", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"current": 0, "withdrawn": 0}


async def test_withdraw_without_points_is_402(
    client: httpx.AsyncClient, running_app: RunningApp, db: Database
) -> None:
    auth = await sign_up(client)
    response = await client.post(
        "/api/user/balance/withdraw", json={"order": "2377225624", "sum": 751}, headers=auth
    )
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_funds"
    assert await _ledger(db) == []


async def test_withdraw_moves_balance_and_history(
    client: httpx.AsyncClient, running_app: RunningApp, db: Database
) -> None:
    auth = await _signed_up_with_points(client, running_app, db, 72998)
    assert (await client.get("/api/user/balance", headers=auth)).json() == {
        "current": 729.98,
        "withdrawn": 0,
    }
    empty = await client.get("/api/user/withdrawals", headers=auth)
    assert empty.status_code == 204 and empty.content == b""

    first, second = order_number(), order_number()
    ok = await client.post(
        "/api/user/balance/withdraw", json={"order": first, "sum": 29.98}, headers=auth
    )
    assert ok.status_code == 200, ok.text
    ok = await client.post(
        "/api/user/balance/withdraw", content=f'{{"order": "{second}", "sum": 42.5}}', headers=auth
    )
    assert ok.status_code == 200
    assert (await client.get("/api/user/balance", headers=auth)).json() == {
        "current": 657.5,
        "withdrawn": 72.48,
    }
    history = (await client.get("/api/user/withdrawals", headers=auth)).json()
    assert [(h["order"], h["sum"]) for h in history] == [(second, 42.5), (first, 29.98)]
    assert all("+00:00" in h["processed_at"] for h in history)
    ledger = await _ledger(db)
    assert [(t, a) for t, a, _ in ledger] == [
        ("ACCRUAL", 72998),
        ("WITHDRAWAL", 2998),
        ("WITHDRAWAL", 4250),
    ]
    assert await _account(db) == [(65750, 7248)]


async def test_withdraw_retry_is_idempotent_and_conflicts_are_409(
    client: httpx.AsyncClient, running_app: RunningApp, db: Database
) -> None:
    auth = await _signed_up_with_points(client, running_app, db, 10000)
    other = await _signed_up_with_points(client, running_app, db, 10000)
    number = order_number()
    body = {"order": number, "sum": 100}
    for _ in range(3):  # the whole balance: a retry must not answer 402
        assert (
            await client.post("/api/user/balance/withdraw", json=body, headers=auth)
        ).status_code == 200
    different_sum = await client.post(
        "/api/user/balance/withdraw", json={**body, "sum": 50}, headers=auth
    )
    assert (
        different_sum.status_code == 409 and different_sum.json()["code"] == "withdrawal_conflict"
    )
    other_user = await client.post("/api/user/balance/withdraw", json=body, headers=other)
    assert other_user.status_code == 409
    assert (await client.get("/api/user/balance", headers=auth)).json() == {
        "current": 0,
        "withdrawn": 100,
    }
    assert (await client.get("/api/user/balance", headers=other)).json() == {
        "current": 100,
        "withdrawn": 0,
    }
    withdrawals = [row for row in await _ledger(db) if row[0] == TransactionType.WITHDRAWAL]
    assert withdrawals == [("WITHDRAWAL", 10000, number)]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        (b"[1]", 400),
        (b'{"sum": 10}', 400),
        (b'{"order": "2377225624"}', 400),
        (b'{"order": 2377225624, "sum": 10}', 400),
        (b'{"order": "2377225624", "sum": "10"}', 400),
        (b'{"order": "2377225624", "sum": true}', 400),
        (b'{"order": "2377225624", "sum": 0}', 400),
        (b'{"order": "2377225624", "sum": -5}', 400),
        (b'{"order": "2377225624", "sum": 1.005}', 400),
        (b'{"order": "2377225624", "sum": 0.1000000000000000055511151231257827}', 400),
        (b'{"order": "2377225624", "sum": NaN}', 400),
        (b'{"order": "2377225624", "sum": 1e400}', 400),
        (b'{"order": "2377225625", "sum": 10}', 422),
        (b'{"order": "23772a5624", "sum": 10}', 422),
        (b'{"order": "", "sum": 10}', 422),
        (b'{"order": "2377225624", "sum": 10.5}', 200),
        (b'{"order": "2377225624", "sum": 1e1}', 200),
    ],
)
async def test_withdraw_validation(
    client: httpx.AsyncClient, running_app: RunningApp, db: Database, body: bytes, status: int
) -> None:
    auth = await _signed_up_with_points(client, running_app, db, 5000)
    response = await client.post(
        "/api/user/balance/withdraw",
        content=body,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    expected_withdrawn = json.loads(body)["sum"] * 100 if status == 200 else 0
    assert await _account(db) == [(5000 - expected_withdrawn, expected_withdrawn)]


async def test_balance_endpoints_need_auth(client: httpx.AsyncClient, db: Database) -> None:
    assert (await client.get("/api/user/balance")).status_code == 401
    assert (await client.get("/api/user/withdrawals")).status_code == 401
    response = await client.post(
        "/api/user/balance/withdraw", json={"order": "2377225624", "sum": 1}
    )
    assert response.status_code == 401
    assert await _ledger(db) == []


async def test_concurrent_withdrawals_never_overdraw(
    client: httpx.AsyncClient, running_app: RunningApp, db: Database, contract: ContractChecker
) -> None:
    """40 withdrawals of 10 at once against a balance of 100: exactly 10 succeed."""
    auth = await _signed_up_with_points(client, running_app, db, 10000)
    limits = httpx.Limits(max_connections=40)
    async with checked_client(contract, running_app.base_url, limits=limits, timeout=60) as burst:
        responses = await asyncio.gather(
            *(
                burst.post(
                    "/api/user/balance/withdraw",
                    json={"order": order_number(), "sum": 10},
                    headers=auth,
                )
                for _ in range(40)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 10 and statuses.count(402) == 30, statuses
    assert await _account(db) == [(0, 10000)]
    tx = tables.ledger
    async with db.read() as conn:
        withdrawn = (
            await conn.execute(select(func.sum(tx.c.amount)).where(tx.c.type == "WITHDRAWAL"))
        ).scalar_one()
        count = (
            await conn.execute(
                select(func.count()).select_from(tx).where(tx.c.type == "WITHDRAWAL")
            )
        ).scalar_one()
    assert (withdrawn, count) == (10000, 10)


@pytest.mark.parametrize("kopecks", [10000, 3000], ids=["balance covers more", "exactly"])
async def test_concurrent_identical_retries_charge_once(
    client: httpx.AsyncClient,
    running_app: RunningApp,
    db: Database,
    contract: ContractChecker,
    kopecks: int,
) -> None:
    """The same request ten times at once is one withdrawal: every answer is 200, even when
    the balance covers it only once (a twin must not see the first one's debit as a 402)."""
    auth = await _signed_up_with_points(client, running_app, db, kopecks)
    body = {"order": order_number(), "sum": 30}
    async with checked_client(contract, running_app.base_url, timeout=60) as burst:
        responses = await asyncio.gather(
            *(burst.post("/api/user/balance/withdraw", json=body, headers=auth) for _ in range(10))
        )
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert await _account(db) == [(kopecks - 3000, 3000)]
    assert [row for row in await _ledger(db) if row[0] == TransactionType.WITHDRAWAL] == [
        ("WITHDRAWAL", 3000, body["order"])
    ]
