"""uploadOrder (every UploadOrderResult member), `order`, and the paginated, filtered `orders`."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from gophermart.models.enums import LoyaltyStatus
from gophermart.services import accrual
from gophermart.store import tables
from gophermart.store.database import Database
from tests.conftest import RunningApp
from tests.factories import order_number
from tests.gql.conftest import GraphQLClient, error_codes

UPLOAD = """
mutation Upload($number: String!) {
  uploadOrder(number: $number) {
    __typename
    ... on OrderAccepted { order { number status accrual uploadedAt } }
    ... on OrderAlreadyUploaded { order { number status } }
    ... on Error { message }
    ... on ValidationError { field }
  }
}
"""

ORDERS = """
query Orders($first: Int, $after: String, $status: [OrderStatus!],
             $uploadedAfter: DateTime, $uploadedBefore: DateTime) {
  me {
    orders(first: $first, after: $after, status: $status,
           uploadedAfter: $uploadedAfter, uploadedBefore: $uploadedBefore) {
      totalCount
      edges { cursor node { number status accrual uploadedAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""

BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def _upload(gql: GraphQLClient, headers: dict[str, str], number: str) -> dict[str, Any]:
    data = await gql.data(UPLOAD, {"number": number}, headers=headers)
    result: dict[str, Any] = data["uploadOrder"]
    return result


async def _set_uploaded_at(db: Database, number: str, at: datetime) -> None:
    o = tables.order
    async with db.transaction() as conn:
        await conn.execute(update(o).where(o.c.number == number).values(uploaded_at=at))


async def test_upload_outcomes(gql: GraphQLClient, db: Database) -> None:
    headers = await gql.sign_up()
    other = await gql.sign_up()
    number = order_number()

    accepted = await _upload(gql, headers, f"  {number}\n")
    assert accepted["__typename"] == "OrderAccepted"
    order = accepted["order"]
    assert (order["number"], order["status"], order["accrual"]) == (number, "NEW", None)
    assert datetime.fromisoformat(order["uploadedAt"]).utcoffset() == timedelta(0)

    again = await _upload(gql, headers, number)
    assert again == {
        "__typename": "OrderAlreadyUploaded",
        "order": {"number": number, "status": "NEW"},
    }

    taken = await _upload(gql, other, number)
    assert taken == {
        "__typename": "OrderUploadedByAnotherUser",
        "message": "this order number was uploaded by another user",
    }
    luhn = await _upload(gql, headers, number[:-1] + str((int(number[-1]) + 1) % 10))
    assert luhn == {
        "__typename": "InvalidOrderNumber",
        "message": "order number fails the Luhn check",
    }
    letters = await _upload(gql, headers, "12a45")
    assert letters["__typename"] == "InvalidOrderNumber"
    empty = await _upload(gql, headers, "   ")
    assert empty == {
        "__typename": "ValidationError",
        "message": "the order number is empty",
        "field": "number",
    }

    o = tables.order
    async with db.read() as conn:
        stored = (await conn.execute(select(o.c.number, o.c.status))).all()
    assert [tuple(row) for row in stored] == [(number, "NEW")]


async def test_orders_come_in_pages_newest_first(gql: GraphQLClient, db: Database) -> None:
    headers = await gql.sign_up()
    numbers = [order_number() for _ in range(25)]
    for index, number in enumerate(numbers):
        await _upload(gql, headers, number)
        # Pairs share a timestamp: the id must break the tie without skipping or repeating.
        await _set_uploaded_at(db, number, BASE + timedelta(minutes=index // 2))

    seen: list[dict[str, Any]] = []
    after = None
    pages = []
    while True:
        data = await gql.data(ORDERS, {"first": 10, "after": after}, headers=headers)
        connection = data["me"]["orders"]
        assert connection["totalCount"] == 25
        pages.append(connection["pageInfo"])
        seen += [edge["node"] for edge in connection["edges"]]
        if connection["edges"]:
            assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
            assert connection["pageInfo"]["startCursor"] == connection["edges"][0]["cursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert [page["hasNextPage"] for page in pages] == [True, True, False]
    assert [page["hasPreviousPage"] for page in pages] == [False, True, True]
    assert len(seen) == 25
    assert sorted(node["number"] for node in seen) == sorted(numbers)
    times = [datetime.fromisoformat(node["uploadedAt"]) for node in seen]
    assert times == sorted(times, reverse=True)
    assert times[0] == BASE + timedelta(minutes=12)

    default = await gql.data("{ me { orders { edges { node { number } } } } }", headers=headers)
    assert len(default["me"]["orders"]["edges"]) == 20


async def test_orders_filters(gql: GraphQLClient, running_app: RunningApp, db: Database) -> None:
    headers = await gql.sign_up()
    numbers = [order_number() for _ in range(6)]
    for index, number in enumerate(numbers):
        await _upload(gql, headers, number)
        await _set_uploaded_at(db, number, BASE + timedelta(hours=index))
    await accrual.apply_result(
        db=db, order_number=numbers[1], loyalty_status=LoyaltyStatus.PROCESSED, accrual=72998
    )
    await accrual.apply_result(
        db=db, order_number=numbers[2], loyalty_status=LoyaltyStatus.INVALID, accrual=None
    )
    await accrual.apply_result(
        db=db, order_number=numbers[3], loyalty_status=LoyaltyStatus.REGISTERED, accrual=None
    )

    async def query(**variables: Any) -> tuple[int, list[tuple[str, str, str | None]]]:
        data = await gql.data(ORDERS, variables, headers=headers)
        connection = data["me"]["orders"]
        nodes = [edge["node"] for edge in connection["edges"]]
        return connection["totalCount"], [(n["number"], n["status"], n["accrual"]) for n in nodes]

    assert await query(status=["PROCESSED", "INVALID"]) == (
        2,
        [(numbers[2], "INVALID", None), (numbers[1], "PROCESSED", "729.98")],
    )
    assert await query(status=["PROCESSING"]) == (1, [(numbers[3], "PROCESSING", None)])
    assert await query(status=[]) == (0, [])
    # After is inclusive, before exclusive; offsets other than UTC mean the same instant.
    total, found = await query(
        uploadedAfter="2024-05-01T16:00:00+03:00", uploadedBefore="2024-05-01T15:00:00Z"
    )
    assert (total, [number for number, _, _ in found]) == (2, [numbers[2], numbers[1]])
    total, found = await query(uploadedAfter="2024-05-01T16:00:00Z", status=["NEW"])
    assert (total, [number for number, _, _ in found]) == (2, [numbers[5], numbers[4]])

    naive = await gql.execute(ORDERS, {"uploadedAfter": "2024-05-01T16:00:00"}, headers=headers)
    assert naive["data"] is None
    assert "offset" in naive["errors"][0]["message"]


async def test_order_by_number_only_finds_your_own(gql: GraphQLClient) -> None:
    headers = await gql.sign_up()
    other = await gql.sign_up()
    mine, theirs = order_number(), order_number()
    await _upload(gql, headers, mine)
    await _upload(gql, other, theirs)
    query = """query($a: String!, $b: String!, $c: String!) { me {
        a: order(number: $a) { number status user { login } }
        b: order(number: $b) { number }
        c: order(number: $c) { number } } }"""
    data = await gql.data(query, {"a": mine, "b": theirs, "c": "79927398713"}, headers=headers)
    assert data["me"]["a"]["number"] == mine
    assert data["me"]["b"] is None
    assert data["me"]["c"] is None


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


async def test_bad_page_arguments_are_user_errors(gql: GraphQLClient) -> None:
    headers = await gql.sign_up()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"after": "not-a-cursor!"}, "after"),
        ({"after": _cursor("2024-05-01T12:00:00+00:00|not-a-uuid")}, "after"),
        ({"after": _cursor(f"2024-05-01T12:00:00|{uuid.uuid4()}")}, "after"),  # no offset
        ({"after": _cursor(f"yesterday|{uuid.uuid4()}")}, "after"),
    ]
    for variables, field in cases:
        body = await gql.execute(ORDERS, variables, headers=headers)
        assert error_codes(body) == ["BAD_USER_INPUT"], variables
        assert body["errors"][0]["extensions"]["field"] == field
        assert body["errors"][0]["path"] == ["me", "orders"]
    assert (await gql.execute(ORDERS, {"first": 100}, headers=headers))["data"]["me"] is not None
