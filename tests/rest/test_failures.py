"""500s from real faults (a table the statement needs is gone), and the shape of other errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select, text

from gophermart.store import tables
from gophermart.store.database import Database
from tests.conftest import RunningApp
from tests.factories import PASSWORD, credit_points, new_login, order_number, sign_up


@contextlib.asynccontextmanager
async def table_gone(db: Database, table: str) -> AsyncIterator[None]:
    """Make ``table`` disappear for the duration: every statement on it fails in the driver."""
    async with db.transaction() as conn:
        await conn.execute(text(f'ALTER TABLE "{table}" RENAME TO "{table}_away"'))
    try:
        yield
    finally:
        async with db.transaction() as conn:
            await conn.execute(text(f'ALTER TABLE "{table}_away" RENAME TO "{table}"'))


def assert_internal_error(response: httpx.Response) -> None:
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "internal_error"
    request_id = response.headers["x-request-id"]
    assert request_id in problem["detail"]
    assert "Traceback" not in response.text and "sqlite" not in response.text.lower()


async def _count(db: Database, table: object) -> int:
    async with db.read() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()  # type: ignore[arg-type]


async def test_register_and_login_500(client: httpx.AsyncClient, db: Database) -> None:
    await sign_up(client, login="existing")
    async with table_gone(db, "user_account"):
        register = await client.post(
            "/api/user/register", json={"login": new_login(), "password": PASSWORD}
        )
        login = await client.post(
            "/api/user/login", json={"login": "existing", "password": PASSWORD}
        )
    assert_internal_error(register)
    assert_internal_error(login)
    assert await _count(db, tables.user) == 1  # the failed registration left nothing behind


async def test_order_endpoints_500(client: httpx.AsyncClient, db: Database) -> None:
    auth = await sign_up(client)
    async with table_gone(db, "order"):
        upload = await client.post(
            "/api/user/orders",
            content=order_number(),
            headers={**auth, "Content-Type": "text/plain"},
        )
        listing = await client.get("/api/user/orders", headers=auth)
    assert_internal_error(upload)
    assert_internal_error(listing)
    assert await _count(db, tables.order) == 0


async def test_balance_endpoints_500(
    client: httpx.AsyncClient, running_app: RunningApp, db: Database
) -> None:
    auth = await sign_up(client)
    principal = running_app.context.tokens.decode(auth["Authorization"].removeprefix("Bearer "))
    await credit_points(db, principal, 1000)
    async with table_gone(db, "loyalty_account_transaction"):
        withdraw = await client.post(
            "/api/user/balance/withdraw", json={"order": order_number(), "sum": 5}, headers=auth
        )
        history = await client.get("/api/user/withdrawals", headers=auth)
    async with table_gone(db, "loyalty_account"):
        balance = await client.get("/api/user/balance", headers=auth)
    for response in (withdraw, history, balance):
        assert_internal_error(response)
    # The failed withdrawal rolled back its debit.
    assert (await client.get("/api/user/balance", headers=auth)).json() == {
        "current": 10,
        "withdrawn": 0,
    }


async def test_unknown_route_and_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/user/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = await client.delete("/api/user/orders")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"] and "POST" in wrong.headers["allow"]


@pytest.mark.usefixtures("running_app")
async def test_health_and_readiness(client: httpx.AsyncClient, db: Database) -> None:
    assert (await client.get("/healthz")).text == "ok"
    assert (await client.get("/readyz")).status_code == 200
