"""register / login (every AuthResult member), the token in header, cookie, and `me`."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from gophermart.server.auth import COOKIE_NAME
from gophermart.store import tables
from gophermart.store.database import Database
from tests.conftest import RunningApp
from tests.factories import PASSWORD, new_login
from tests.gql.conftest import REGISTER, GraphQLClient, error_codes, principal_of

LOGIN = """
mutation Login($login: String!, $password: String!) {
  login(login: $login, password: $password) {
    __typename
    ... on AuthSuccess { token expiresAt user { login balance { current } } }
    ... on Error { message }
    ... on ValidationError { field }
  }
}
"""


async def _users(db: Database) -> int:
    async with db.read() as conn:
        count: int = (
            await conn.execute(select(func.count()).select_from(tables.user))
        ).scalar_one()
        return count


async def test_register_signs_in_with_header_and_cookie(
    gql: GraphQLClient, running_app: RunningApp, db: Database
) -> None:
    login = new_login()
    response = await gql.post(REGISTER, {"login": login, "password": PASSWORD})
    assert response.status_code == 200
    result = response.json()["data"]["register"]
    assert result == {
        "__typename": "AuthSuccess",
        "token": result["token"],
        "user": {"login": login},
    }
    assert response.headers["authorization"] == f"Bearer {result['token']}"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}={result['token']};")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    principal_of(running_app, {"Authorization": f"Bearer {result['token']}"})
    assert await _users(db) == 1


async def test_register_login_taken_and_validation(gql: GraphQLClient, db: Database) -> None:
    login = new_login()
    await gql.sign_up(login)
    taken = await gql.data(REGISTER, {"login": login.upper(), "password": PASSWORD})
    assert taken["register"] == {
        "__typename": "LoginTaken",
        "message": "this login is already taken",
    }
    short = await gql.data(REGISTER, {"login": "ab", "password": PASSWORD})
    assert short["register"]["__typename"] == "ValidationError"
    assert short["register"]["field"] == "login"
    weak = await gql.data(REGISTER, {"login": new_login(), "password": "short"})
    assert weak["register"]["field"] == "password"
    assert await _users(db) == 1


async def test_login_outcomes(gql: GraphQLClient) -> None:
    login = new_login()
    await gql.sign_up(login)
    response = await gql.post(LOGIN, {"login": login, "password": PASSWORD})
    result = response.json()["data"]["login"]
    assert result["__typename"] == "AuthSuccess"
    assert result["user"] == {"login": login, "balance": {"current": "0.00"}}
    assert result["expiresAt"].endswith("+00:00")
    assert response.headers["authorization"] == f"Bearer {result['token']}"
    assert COOKIE_NAME in response.headers["set-cookie"]

    wrong = await gql.data(LOGIN, {"login": login, "password": "wrong-password"})
    assert wrong["login"] == {
        "__typename": "InvalidCredentials",
        "message": "wrong login or password",
    }
    unknown = await gql.data(LOGIN, {"login": new_login(), "password": PASSWORD})
    assert unknown["login"]["__typename"] == "InvalidCredentials"
    malformed = await gql.data(LOGIN, {"login": " padded ", "password": PASSWORD})
    assert malformed["login"]["__typename"] == "ValidationError"


async def test_me_by_header_by_cookie_and_anonymous(
    gql: GraphQLClient, running_app: RunningApp
) -> None:
    login = new_login()
    headers = await gql.sign_up(login)
    assert await gql.data("{ me { login } }", headers=headers) == {"me": {"login": login}}
    assert await gql.data("{ me { login } }") == {"me": None}

    token = headers["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(
        base_url=running_app.base_url, cookies={COOKIE_NAME: token}
    ) as browser:
        by_cookie = await GraphQLClient(browser).data("{ me { login } }")
    assert by_cookie == {"me": {"login": login}}

    for bad in ("Bearer not-a-token", "Basic abc", f"Bearer {token}x"):
        assert await gql.data("{ me { login } }", headers={"Authorization": bad}) == {"me": None}


async def test_mutations_need_a_user(gql: GraphQLClient, db: Database) -> None:
    for operation in [
        'mutation { uploadOrder(number: "12345678903") { __typename } }',
        'mutation { withdraw(order: "2377225624", sum: 1) { __typename } }',
    ]:
        body = await gql.execute(operation, headers={"Authorization": "Bearer expired-or-forged"})
        assert body["data"] is None
        assert error_codes(body) == ["UNAUTHENTICATED"]
        assert body["errors"][0]["message"] == "sign in first: no valid token was presented"
    async with db.read() as conn:
        orders = (await conn.execute(select(func.count()).select_from(tables.order))).scalar_one()
    assert orders == 0


async def test_get_runs_queries_but_not_mutations(gql: GraphQLClient) -> None:
    headers = await gql.sign_up()
    query = await gql.http.get(
        "/graphql", params={"query": "{ me { balance { current } } }"}, headers=headers
    )
    assert query.json() == {"data": {"me": {"balance": {"current": "0.00"}}}}
    mutation = await gql.http.get(
        "/graphql",
        params={"query": 'mutation { uploadOrder(number: "12345678903") { __typename } }'},
        headers=headers,
    )
    assert mutation.status_code == 400
