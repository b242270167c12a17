"""POST and GET /api/user/orders."""

from __future__ import annotations

import gzip
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from gophermart.models.enums import LoyaltyStatus
from gophermart.services import accrual
from gophermart.store import tables
from gophermart.store.database import Database
from tests.factories import order_number, sign_up

TEXT = {"Content-Type": "text/plain"}


async def _stored_orders(db: Database) -> list[tuple[str, str]]:
    o, ua = tables.order, tables.user_account
    async with db.read() as conn:
        rows = await conn.execute(
            select(o.c.number, ua.c.login)
            .join(ua, ua.c.user_id == o.c.user_id)
            .order_by(o.c.number)
        )
        return [(row.number, row.login) for row in rows]


async def test_upload_then_list_as_new(client: httpx.AsyncClient, db: Database) -> None:
    auth = await sign_up(client, login="uploader")
    number = order_number()
    response = await client.post(
        "/api/user/orders", content=f" {number}\n", headers={**auth, **TEXT}
    )
    assert response.status_code == 202
    assert response.content == b""
    assert await _stored_orders(db) == [(number, "uploader")]

    listed = await client.get("/api/user/orders", headers=auth)
    assert listed.status_code == 200
    [item] = listed.json()
    assert item["number"] == number and item["status"] == "NEW"
    assert "accrual" not in item
    uploaded_at = datetime.fromisoformat(item["uploaded_at"])
    assert uploaded_at.utcoffset() is not None


async def test_upload_same_user_again_is_200_other_user_is_409(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await sign_up(client, login="alice")
    bob = await sign_up(client, login="bob")
    number = order_number()
    assert (
        await client.post("/api/user/orders", content=number, headers={**alice, **TEXT})
    ).status_code == 202
    assert (
        await client.post("/api/user/orders", content=number, headers={**alice, **TEXT})
    ).status_code == 200
    conflict = await client.post("/api/user/orders", content=number, headers={**bob, **TEXT})
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "order_uploaded_by_another_user"
    assert await _stored_orders(db) == [(number, "alice")]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "text/plain", 400),
        (b"   \n", "text/plain", 400),
        (b"12345678903", "application/json", 400),
        (b"12345678903", "text/plain; charset=utf-8", 202),
        (b"12345678903", None, 202),  # documented: without a Content-Type the body is text
        (b"12345678903", "application/x-www-form-urlencoded", 400),  # curl -d's default
        (b"12345678904", "text/plain", 422),  # fails Luhn
        (b"12a45678903", "text/plain", 422),
        (b"-12345678903", "text/plain", 422),
        (b"\xff\xfe", "text/plain", 422),
        (b"7" * 256, "text/plain", 422),
    ],
)
async def test_upload_validation(
    client: httpx.AsyncClient, db: Database, body: bytes, content_type: str | None, status: int
) -> None:
    auth = await sign_up(client)
    typed = {} if content_type is None else {"Content-Type": content_type}
    response = await client.post("/api/user/orders", content=body, headers={**auth, **typed})
    assert ("content-type" in response.request.headers) is (content_type is not None)
    assert response.status_code == status, response.text
    assert len(await _stored_orders(db)) == (1 if status == 202 else 0)


async def test_orders_need_auth(client: httpx.AsyncClient, db: Database) -> None:
    assert (
        await client.post("/api/user/orders", content="12345678903", headers=TEXT)
    ).status_code == 401
    assert (await client.get("/api/user/orders")).status_code == 401
    assert await _stored_orders(db) == []


async def test_list_is_204_when_empty_and_newest_first_with_accrual(
    client: httpx.AsyncClient, db: Database
) -> None:
    auth = await sign_up(client)
    empty = await client.get("/api/user/orders", headers=auth)
    assert empty.status_code == 204 and empty.content == b""

    numbers = [order_number() for _ in range(4)]
    for number in numbers:
        assert (
            await client.post("/api/user/orders", content=number, headers={**auth, **TEXT})
        ).status_code == 202
    await accrual.apply_result(
        db=db, order_number=numbers[0], loyalty_status=LoyaltyStatus.PROCESSED, accrual=50000
    )
    await accrual.apply_result(
        db=db, order_number=numbers[1], loyalty_status=LoyaltyStatus.PROCESSED, accrual=None
    )
    await accrual.apply_result(
        db=db, order_number=numbers[2], loyalty_status=LoyaltyStatus.INVALID, accrual=None
    )
    await accrual.apply_result(
        db=db, order_number=numbers[3], loyalty_status=LoyaltyStatus.REGISTERED, accrual=None
    )

    listed = (await client.get("/api/user/orders", headers=auth)).json()
    assert [item["number"] for item in listed] == numbers[::-1]
    by_number = {item["number"]: item for item in listed}
    assert (
        by_number[numbers[0]]["status"] == "PROCESSED" and by_number[numbers[0]]["accrual"] == 500
    )
    assert by_number[numbers[1]]["status"] == "PROCESSED" and "accrual" not in by_number[numbers[1]]
    assert by_number[numbers[2]]["status"] == "INVALID" and "accrual" not in by_number[numbers[2]]
    assert by_number[numbers[3]]["status"] == "PROCESSING"


async def test_gzip_request_and_response(client: httpx.AsyncClient, db: Database) -> None:
    auth = await sign_up(client)
    numbers = [order_number() for _ in range(30)]
    for number in numbers:
        response = await client.post(
            "/api/user/orders",
            content=gzip.compress(number.encode()),
            headers={**auth, **TEXT, "Content-Encoding": "gzip"},
        )
        assert response.status_code == 202
    listed = await client.get("/api/user/orders", headers={**auth, "Accept-Encoding": "gzip"})
    assert listed.headers["content-encoding"] == "gzip"
    assert {item["number"] for item in listed.json()} == set(numbers)  # httpx inflates it
    assert len(await _stored_orders(db)) == 30


async def test_broken_gzip_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    auth = await sign_up(client)
    broken = gzip.compress(b"12345678903")[:-6]
    for body in (broken, b"definitely not gzip"):
        response = await client.post(
            "/api/user/orders", content=body, headers={**auth, **TEXT, "Content-Encoding": "gzip"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
    assert await _stored_orders(db) == []


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient, db: Database) -> None:
    auth = await sign_up(client)
    big = b"1" * (1024 * 1024 + 1)
    plain = await client.post("/api/user/orders", content=big, headers={**auth, **TEXT})
    assert plain.status_code == 413
    bomb = gzip.compress(big)  # ~1 KiB on the wire
    inflated = await client.post(
        "/api/user/orders", content=bomb, headers={**auth, **TEXT, "Content-Encoding": "gzip"}
    )
    assert inflated.status_code == 413
    assert await _stored_orders(db) == []
