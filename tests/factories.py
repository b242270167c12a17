"""Small builders of test data."""

from __future__ import annotations

import itertools
import random
import uuid

import httpx

from gophermart.models.enums import LoyaltyStatus
from gophermart.models.money import luhn_complete
from gophermart.services import accrual, orders
from gophermart.services.records import Principal
from gophermart.store.database import Database

PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


def order_number() -> str:
    """A fresh Luhn-valid order number, unique within the test run."""
    return luhn_complete(f"{random.randrange(10**9, 10**10)}{next(_counter):06d}")


def new_login() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


async def sign_up(
    client: httpx.AsyncClient, login: str | None = None, password: str = PASSWORD
) -> dict[str, str]:
    """Register a user over REST; return the headers that authenticate as them."""
    response = await client.post(
        "/api/user/register", json={"login": login or new_login(), "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": response.headers["Authorization"]}


async def credit_points(db: Database, principal: Principal, kopecks: int) -> str:
    """Give a user points the way production does: an uploaded order the accrual system
    reports PROCESSED. Returns the order number."""
    number = order_number()
    await orders.upload_order(db=db, principal=principal, number=number)
    change = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=kopecks
    )
    assert change is not None and change.credited == kopecks
    return number
