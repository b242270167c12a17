"""What protects the server: query limits, batched database access, masked unexpected errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Dialect

from gophermart.graphql.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from gophermart.models.enums import LoyaltyStatus
from gophermart.services import accrual, orders
from gophermart.store.database import Database
from gophermart.store.lean import LeanStatement
from tests.conftest import RunningApp
from tests.factories import order_number
from tests.gql.conftest import GraphQLClient, error_codes, principal_of
from tests.rest.test_failures import table_gone


def _deep_query(levels: int) -> str:
    """me { orders { edges { node { user { orders { … } } } } } }: the cycle Order.user makes."""
    query = "number"
    for _ in range(levels):
        query = f"orders {{ edges {{ node {{ {query} user {{ login }} }} }} }}"
        query = f"user {{ {query} }}"
    return f"{{ me {{ orders {{ edges {{ node {{ {query} }} }} }} }} }}"


async def test_depth_limit_rejects_a_deep_query(gql: GraphQLClient) -> None:
    headers = await gql.sign_up()
    assert "errors" not in await gql.execute(_deep_query(1), headers=headers)
    body = await gql.execute(_deep_query(3), headers=headers)
    assert "data" not in body or body["data"] is None
    assert body["errors"][0]["message"] == (
        f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}"
    )


async def test_alias_and_token_limits(gql: GraphQLClient) -> None:
    headers = await gql.sign_up()
    aliases = " ".join(f"a{i}: me {{ login }}" for i in range(MAX_ALIASES + 1))
    body = await gql.execute(f"{{ {aliases} }}", headers=headers)
    assert (
        body["errors"][0]["message"] == f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"
    )
    tokens = " ".join("__typename" for _ in range(MAX_TOKENS))
    body = await gql.execute(f"{{ {tokens} }}", headers=headers)
    assert "tokens" in body["errors"][0]["message"]
    assert body.get("data") is None


@contextmanager
def counting_statements(
    running_app: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Every statement the app runs meanwhile: through SQLAlchemy (its engine's events) and on
    the lean route (each run compiles, or looks up, its statement once)."""
    statements: list[str] = []
    engine = running_app.context.db.engine.sync_engine
    compiled = LeanStatement.compiled

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def count_lean(self: LeanStatement, dialect: Dialect) -> Any:
        found = compiled(self, dialect)
        statements.append(found.sql)
        return found

    event.listen(engine, "before_cursor_execute", count)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(LeanStatement, "compiled", count_lean)
            yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


PAGE = """
query Page($first: Int!) {
  me {
    login
    balance { current }
    orders(first: $first) {
      totalCount
      edges { cursor node { number status accrual uploadedAt user { login balance { current } } } }
      pageInfo { hasNextPage endCursor }
    }
    transactions(first: $first) {
      totalCount
      edges { node { type amount orderNumber order { number status user { login } } } }
    }
  }
}
"""


async def test_statements_do_not_grow_with_the_page(
    gql: GraphQLClient, running_app: RunningApp, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await gql.sign_up()
    principal = principal_of(running_app, headers)
    for index in range(25):
        number = order_number()
        await orders.upload_order(db=db, principal=principal, number=number)
        if index % 5:
            await accrual.apply_result(
                db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=100
            )
    await gql.data(PAGE, {"first": 20}, headers=headers)  # warm: pools, dialect set-up

    counts = {}
    for first in (5, 20):
        with counting_statements(running_app, monkeypatch) as statements:
            data = await gql.data(PAGE, {"first": first}, headers=headers)
        assert len(data["me"]["orders"]["edges"]) == first
        assert len(data["me"]["transactions"]["edges"]) == first
        counts[first] = len(statements)
    # login, balance, orders page + count, ledger page + count, the ledger's orders in one batch
    assert counts == {5: 7, 20: 7}, counts


async def test_unexpected_errors_are_masked_and_logged(
    gql: GraphQLClient, running_app: RunningApp, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    headers = await gql.sign_up()
    caplog.set_level(logging.ERROR, logger="gophermart.graphql")
    async with table_gone(db, "order"):
        response = await gql.post(
            "{ me { login orders { totalCount } } }", headers={**headers, "X-Request-ID": "req-42"}
        )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"
    body = response.json()
    assert body["data"] == {"me": None}
    [error] = body["errors"]
    assert error["message"] == "internal error; quote request id req-42 when reporting it"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert error["path"] == ["me", "orders"]
    text = response.text.lower()
    assert "select" not in text and "order" not in text.replace("orders", "")
    assert "sqlite" not in text and "asyncpg" not in text and "traceback" not in text

    [record] = [r for r in caplog.records if r.name == "gophermart.graphql"]
    assert "req-42" in record.getMessage()
    assert record.exc_info is not None


async def test_a_failed_mutation_is_masked_and_changes_nothing(
    gql: GraphQLClient, running_app: RunningApp, db: Database
) -> None:
    headers = await gql.sign_up()
    async with table_gone(db, "loyalty_account_transaction"):
        body = await gql.execute(
            'mutation { withdraw(order: "2377225624", sum: 0.01) { __typename } }',
            headers=headers,
        )
    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    data = await gql.data("{ me { balance { current withdrawn } } }", headers=headers)
    assert data == {"me": {"balance": {"current": "0.00", "withdrawn": "0.00"}}}
