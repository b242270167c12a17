"""withdraw (every WithdrawResult member), the Decimal scalar, withdrawals and the ledger."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from gophermart.store import tables
from gophermart.store.database import Database
from tests.conftest import RunningApp
from tests.factories import credit_points, order_number
from tests.gql.conftest import GraphQLClient, principal_of

WITHDRAW = """
mutation Withdraw($order: String!, $sum: Decimal!) {
  withdraw(order: $order, sum: $sum) {
    __typename
    ... on WithdrawalAccepted {
      withdrawal { order sum processedAt }
      balance { current withdrawn accrued }
    }
    ... on Error { message }
    ... on ValidationError { field }
  }
}
"""


async def _with_points(
    gql: GraphQLClient, running_app: RunningApp, db: Database, kopecks: int
) -> dict[str, str]:
    headers = await gql.sign_up()
    await credit_points(db, principal_of(running_app, headers), kopecks)
    return headers


async def _account(db: Database) -> list[tuple[int, int]]:
    acc = tables.loyalty_account
    async with db.read() as conn:
        rows = await conn.execute(select(acc.c.balance, acc.c.withdrawn))
        return [(row.balance, row.withdrawn) for row in rows]


async def _withdraw(
    gql: GraphQLClient, headers: dict[str, str], order: str, sum: object
) -> dict[str, Any]:
    data = await gql.data(WITHDRAW, {"order": order, "sum": sum}, headers=headers)
    result: dict[str, Any] = data["withdraw"]
    return result


async def test_withdraw_outcomes(gql: GraphQLClient, running_app: RunningApp, db: Database) -> None:
    headers = await _with_points(gql, running_app, db, 72998)
    other = await _with_points(gql, running_app, db, 10000)
    number = order_number()

    accepted = await _withdraw(gql, headers, number, "29.98")
    assert accepted["__typename"] == "WithdrawalAccepted"
    assert accepted["withdrawal"]["order"] == number
    assert accepted["withdrawal"]["sum"] == "29.98"
    assert accepted["withdrawal"]["processedAt"].endswith("+00:00")
    assert accepted["balance"] == {"current": "700.00", "withdrawn": "29.98", "accrued": "729.98"}

    repeated = await _withdraw(gql, headers, number, 29.98)
    assert repeated["__typename"] == "WithdrawalAccepted"
    assert repeated["balance"]["current"] == "700.00"  # charged once

    conflict = await _withdraw(gql, headers, number, "10")
    assert conflict == {
        "__typename": "WithdrawalConflict",
        "message": "a withdrawal for this order number already exists with a different sum or user",
    }
    assert (await _withdraw(gql, other, number, "29.98"))["__typename"] == "WithdrawalConflict"

    poor = await _withdraw(gql, headers, order_number(), "700.01")
    assert poor == {
        "__typename": "InsufficientFunds",
        "message": "not enough points on the balance",
    }
    luhn = await _withdraw(gql, headers, "2377225625", 1)
    assert luhn["__typename"] == "InvalidOrderNumber"
    for sum in ("0", 0, "-5", -0.5):
        invalid = await _withdraw(gql, headers, order_number(), sum)
        assert invalid == {
            "__typename": "ValidationError",
            "message": "sum must be greater than zero",
            "field": "sum",
        }
    assert sorted(await _account(db)) == [(10000, 0), (70000, 2998)]


async def test_decimal_literals(gql: GraphQLClient, running_app: RunningApp, db: Database) -> None:
    headers = await _with_points(gql, running_app, db, 100000)
    withdrawn = 0
    for literal, kopecks in [
        ('"42.50"', 4250),
        ("42.5", 4250),
        ("42", 4200),
        ('" 7.1 "', 710),
        ("1e1", 1000),
    ]:
        operation = (
            f'mutation {{ withdraw(order: "{order_number()}", sum: {literal}) {{ __typename }} }}'
        )
        data = await gql.data(operation, headers=headers)
        assert data == {"withdraw": {"__typename": "WithdrawalAccepted"}}, literal
        withdrawn += kopecks
        assert await _account(db) == [(100000 - withdrawn, withdrawn)]


async def test_decimal_rejects_what_is_not_two_decimals(
    gql: GraphQLClient, running_app: RunningApp, db: Database
) -> None:
    """Variables straight from the JSON text: a float would hide the extra digits."""
    headers = await _with_points(gql, running_app, db, 10000)
    for raw_sum in [
        b'"1.005"',
        b"1.005",
        b"0.1000000000000000055511151231257827",
        b'"NaN"',
        b"NaN",
        b'"Infinity"',
        b'"ten"',
        b"true",
        b"1e400",
        b'"1e400"',
        b"[1]",
    ]:
        body = (
            b'{"query": '
            + json.dumps(WITHDRAW).encode()
            + b', "variables": {"order": "2377225624", "sum": '
            + raw_sum
            + b"}}"
        )
        response = await gql.http.post(
            "/graphql", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        answer = response.json()
        assert answer["data"] is None, raw_sum
        assert "Decimal" in answer["errors"][0]["message"], raw_sum
    assert await _account(db) == [(10000, 0)]


async def test_decimal_literal_keeps_its_digits(
    gql: GraphQLClient, running_app: RunningApp, db: Database
) -> None:
    headers = await _with_points(gql, running_app, db, 10000)
    operation = (
        f'mutation {{ withdraw(order: "{order_number()}", '
        "sum: 0.1000000000000000055511151231257827) { __typename } }"
    )
    body = await gql.execute(operation, headers=headers)
    assert "at most two decimal places" in body["errors"][0]["message"]
    assert await _account(db) == [(10000, 0)]


async def test_withdrawals_and_transactions(
    gql: GraphQLClient, running_app: RunningApp, db: Database
) -> None:
    headers = await _with_points(gql, running_app, db, 10000)
    accrual_order = (
        await gql.data("{ me { orders { edges { node { number } } } } }", headers=headers)
    )["me"]["orders"]["edges"][0]["node"]["number"]
    spent = [order_number() for _ in range(5)]
    for index, number in enumerate(spent):
        assert (await _withdraw(gql, headers, number, index + 1))[
            "__typename"
        ] == "WithdrawalAccepted"

    query = """query($after: String, $type: [TransactionType!]) { me {
      withdrawals(first: 2, after: $after) {
        totalCount edges { node { order sum } } pageInfo { hasNextPage endCursor } }
      transactions(first: 10, type: $type) {
        totalCount edges { node { type amount orderNumber createdAt order { number status } } } }
    } }"""
    first = (await gql.data(query, headers=headers))["me"]
    assert first["withdrawals"]["totalCount"] == 5
    assert [e["node"] for e in first["withdrawals"]["edges"]] == [
        {"order": spent[4], "sum": "5.00"},
        {"order": spent[3], "sum": "4.00"},
    ]
    ledger = [e["node"] for e in first["transactions"]["edges"]]
    assert first["transactions"]["totalCount"] == 6
    assert [(n["type"], n["amount"], n["orderNumber"]) for n in ledger] == [
        *[("WITHDRAWAL", f"{i}.00", spent[i - 1]) for i in range(5, 0, -1)],
        ("ACCRUAL", "100.00", accrual_order),
    ]
    # A withdrawal's order is a new shop order, not an uploaded one.
    assert [n["order"] for n in ledger[:5]] == [None] * 5
    assert ledger[5]["order"] == {"number": accrual_order, "status": "PROCESSED"}

    after = first["withdrawals"]["pageInfo"]["endCursor"]
    rest = (await gql.data(query, {"after": after, "type": ["ACCRUAL"]}, headers=headers))["me"]
    assert [e["node"]["sum"] for e in rest["withdrawals"]["edges"]] == ["3.00", "2.00"]
    assert rest["withdrawals"]["pageInfo"]["hasNextPage"] is True
    assert rest["transactions"]["totalCount"] == 1
    assert [e["node"]["type"] for e in rest["transactions"]["edges"]] == ["ACCRUAL"]
