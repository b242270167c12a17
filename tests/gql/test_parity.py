"""The same scenario through REST and through GraphQL leaves the same state (SPEC §1)."""

from __future__ import annotations

from typing import ClassVar, Protocol

import httpx
from sqlalchemy import select

from gophermart.models.enums import LoyaltyStatus
from gophermart.services import accrual
from gophermart.services.records import Principal
from gophermart.store import tables
from gophermart.store.database import Database
from tests.conftest import RunningApp
from tests.factories import PASSWORD, new_login, order_number
from tests.gql.conftest import REGISTER, GraphQLClient, principal_of


class Interface(Protocol):
    """One way in. Each step answers a label of its outcome, the same for both interfaces."""

    headers: dict[str, str]

    async def register(self, login: str) -> str: ...
    async def upload(self, number: str) -> str: ...
    async def withdraw(self, order: str, sum: str) -> str: ...


class Rest:
    OUTCOMES: ClassVar = {200: "ok", 202: "accepted", 402: "funds", 409: "conflict", 422: "invalid"}

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers: dict[str, str] = {}

    async def register(self, login: str) -> str:
        response = await self.client.post(
            "/api/user/register", json={"login": login, "password": PASSWORD}
        )
        self.headers = {"Authorization": response.headers["Authorization"]}
        self.client.cookies.clear()
        return self.OUTCOMES[response.status_code]

    async def upload(self, number: str) -> str:
        response = await self.client.post(
            "/api/user/orders",
            content=number,
            headers={**self.headers, "Content-Type": "text/plain"},
        )
        return self.OUTCOMES[response.status_code]

    async def withdraw(self, order: str, sum: str) -> str:
        response = await self.client.post(
            "/api/user/balance/withdraw",
            content=f'{{"order": "{order}", "sum": {sum}}}',
            headers={**self.headers, "Content-Type": "application/json"},
        )
        return self.OUTCOMES[response.status_code]


class GraphQL:
    OUTCOMES: ClassVar = {
        "AuthSuccess": "ok",
        "OrderAccepted": "accepted",
        "OrderAlreadyUploaded": "ok",
        "WithdrawalAccepted": "ok",
        "InsufficientFunds": "funds",
        "WithdrawalConflict": "conflict",
        "OrderUploadedByAnotherUser": "conflict",
        "InvalidOrderNumber": "invalid",
    }

    def __init__(self, gql: GraphQLClient) -> None:
        self.gql = gql
        self.headers: dict[str, str] = {}

    async def register(self, login: str) -> str:
        data = await self.gql.data(REGISTER, {"login": login, "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {data['register']['token']}"}
        self.gql.http.cookies.clear()
        return self.OUTCOMES[data["register"]["__typename"]]

    async def upload(self, number: str) -> str:
        data = await self.gql.data(
            "mutation($n: String!) { uploadOrder(number: $n) { __typename } }",
            {"n": number},
            headers=self.headers,
        )
        return self.OUTCOMES[data["uploadOrder"]["__typename"]]

    async def withdraw(self, order: str, sum: str) -> str:
        data = await self.gql.data(
            f"mutation($o: String!) {{ withdraw(order: $o, sum: {sum}) {{ __typename }} }}",
            {"o": order},
            headers=self.headers,
        )
        return self.OUTCOMES[data["withdraw"]["__typename"]]


async def _scenario(
    interface: Interface, running_app: RunningApp, db: Database
) -> tuple[Principal, list[str], list[str]]:
    """Returns the principal, the order numbers used (in role order) and the outcomes."""
    uploaded = [order_number() for _ in range(3)]
    spent = [order_number() for _ in range(3)]
    outcomes = [await interface.register(new_login())]
    principal = principal_of(running_app, interface.headers)
    for number in uploaded:
        outcomes.append(await interface.upload(number))
    outcomes.append(await interface.upload(uploaded[0]))
    outcomes.append(await interface.upload("12345678904"))
    for number, status, points in zip(
        uploaded,
        (LoyaltyStatus.PROCESSED, LoyaltyStatus.INVALID, LoyaltyStatus.REGISTERED),
        (72998, None, None),
        strict=True,
    ):
        await accrual.apply_result(
            db=db, order_number=number, loyalty_status=status, accrual=points
        )
    outcomes.append(await interface.withdraw(spent[0], "29.98"))
    outcomes.append(await interface.withdraw(spent[0], "29.98"))
    outcomes.append(await interface.withdraw(spent[1], "42.5"))
    outcomes.append(await interface.withdraw(spent[2], "1000"))
    outcomes.append(await interface.withdraw(spent[0], "10"))
    outcomes.append(await interface.withdraw("2377225625", "1"))
    return principal, uploaded + spent, outcomes


async def _state(db: Database, principal: Principal, numbers: list[str]) -> object:
    """Everything stored about the user, with order numbers replaced by their role."""
    role = {number: index for index, number in enumerate(numbers)}
    o, bc, tx, acc = tables.order, tables.bonus_calculation, tables.ledger, tables.loyalty_account
    async with db.read() as conn:
        orders = await conn.execute(
            select(o.c.number, o.c.status, o.c.accrual, bc.c.loyalty_status, bc.c.accrual)
            .outerjoin(bc, bc.c.order_id == o.c.id)
            .where(o.c.user_id == principal.user_id)
        )
        ledger = await conn.execute(
            select(tx.c.type, tx.c.amount, tx.c.order_number, tx.c.order_id.is_(None))
            .where(tx.c.loyalty_account_id == principal.account_id)
            .order_by(tx.c.created_at, tx.c.id)
        )
        account = await conn.execute(
            select(acc.c.balance, acc.c.withdrawn).where(acc.c.id == principal.account_id)
        )
        return (
            sorted((role[row[0]], *row[1:]) for row in orders),
            [(row[0], row[1], role[row[2]], row[3]) for row in ledger],
            [tuple(row) for row in account],
        )


async def test_rest_and_graphql_leave_the_same_state(
    client: httpx.AsyncClient, gql: GraphQLClient, running_app: RunningApp, db: Database
) -> None:
    by_rest = await _scenario(Rest(client), running_app, db)
    by_graphql = await _scenario(GraphQL(gql), running_app, db)
    assert by_rest[2] == by_graphql[2]
    assert by_rest[2] == [
        "ok",
        *["accepted"] * 3,
        "ok",
        "invalid",
        "ok",
        "ok",
        "ok",
        "funds",
        "conflict",
        "invalid",
    ]
    rest_state = await _state(db, by_rest[0], by_rest[1])
    assert rest_state == await _state(db, by_graphql[0], by_graphql[1])
    assert rest_state == (
        [
            (0, "PROCESSED", 72998, "PROCESSED", 72998),
            (1, "INVALID", None, "INVALID", None),
            (2, "PROCESSING", None, "REGISTERED", None),
        ],
        [
            ("ACCRUAL", 72998, 0, False),
            ("WITHDRAWAL", 2998, 3, True),
            ("WITHDRAWAL", 4250, 4, True),
        ],
        [(72998 - 2998 - 4250, 2998 + 4250)],
    )
