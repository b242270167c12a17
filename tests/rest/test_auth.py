"""POST /api/user/register and /api/user/login, and how tokens are accepted."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from gophermart.server.auth import COOKIE_NAME
from gophermart.store import tables
from gophermart.store.database import Database
from tests.conftest import TEST_SECRET, RunningApp
from tests.factories import PASSWORD, new_login, sign_up
from tests.openapi_contract import ContractChecker, checked_client

pytestmark = pytest.mark.usefixtures("running_app")


async def _count(db: Database, table: object) -> int:
    async with db.read() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()  # type: ignore[arg-type]


async def test_register_signs_in_with_header_and_cookie(
    client: httpx.AsyncClient, db: Database
) -> None:
    login = new_login()
    response = await client.post("/api/user/register", json={"login": login, "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["token_type"] == "Bearer"
    assert response.headers["Authorization"] == f"Bearer {token}"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE_NAME}={token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(tables.user_account.c.login, tables.user_account.c.password_hash).where(
                    tables.user_account.c.login == login
                )
            )
        ).one()
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    # The token works right away, from the header…
    balance = await client.get("/api/user/balance", headers={"Authorization": f"Bearer {token}"})
    assert balance.status_code == 200
    assert balance.json() == {"current": 0, "withdrawn": 0}


async def test_token_accepted_from_cookie_alone(
    running_app: RunningApp, contract: ContractChecker
) -> None:
    async with checked_client(contract, running_app.base_url) as browser:
        await sign_up(browser)
        assert browser.cookies.get(COOKIE_NAME)
        assert (await browser.get("/api/user/balance")).status_code == 200


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"password": "long-enough"}', "login is required"),
        (b'{"login": "bob", "password": 12345678}', "password must be a string"),
        (b'{"login": "ab", "password": "long-enough"}', "login must be 3 to 64"),
        (b'{"login": " bob", "password": "long-enough"}', "whitespace"),
        (b'{"login": "bobby", "password": "short"}', "password must be 8 to 1024"),
    ],
)
async def test_register_rejects_malformed_bodies(
    client: httpx.AsyncClient, db: Database, body: bytes, detail: str
) -> None:
    response = await client.post(
        "/api/user/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and detail in problem["detail"]
    assert await _count(db, tables.user) == 0


async def test_register_taken_login_is_409_case_insensitively(
    client: httpx.AsyncClient, db: Database
) -> None:
    await sign_up(client, login="Gopher")
    response = await client.post(
        "/api/user/register", json={"login": "gOPHER", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "login_taken"
    assert await _count(db, tables.user) == 1
    assert await _count(db, tables.loyalty_account) == 1


async def test_login_success_and_wrong_password(client: httpx.AsyncClient) -> None:
    registered = await sign_up(client, login="Carol")
    number = "12345678903"
    uploaded = await client.post(
        "/api/user/orders", content=number, headers={**registered, "Content-Type": "text/plain"}
    )
    assert uploaded.status_code == 202
    client.cookies.clear()
    ok = await client.post("/api/user/login", json={"login": "carol", "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.headers["Authorization"] == f"Bearer {ok.json()['token']}"
    assert ok.cookies.get(COOKIE_NAME) == ok.json()["token"]
    # The login token names the user who registered: it sees their order.
    listed = await client.get(
        "/api/user/orders", headers={"Authorization": ok.headers["Authorization"]}
    )
    assert [item["number"] for item in listed.json()] == [number]
    wrong = await client.post("/api/user/login", json={"login": "Carol", "password": "x" * 12})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"
    unknown = await client.post("/api/user/login", json={"login": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401
    malformed = await client.post(
        "/api/user/login", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400


async def test_unknown_login_costs_as_much_as_a_wrong_password(client: httpx.AsyncClient) -> None:
    """Timing-safe login: an unknown login still verifies a (dummy) hash."""
    await sign_up(client, login="dave")

    async def timed(login: str) -> float:
        start = time.perf_counter()
        response = await client.post("/api/user/login", json={"login": login, "password": "x" * 12})
        assert response.status_code == 401
        return time.perf_counter() - start

    await timed("nobody-here")  # the dummy hash is made on first use
    unknown = min([await timed("nobody-here") for _ in range(5)])
    known = min([await timed("dave") for _ in range(5)])
    # Without the dummy hash an unknown login answers in ~1 ms against ~40 ms: a ratio near
    # 0.03. The loose bound keeps a loaded machine from failing it.
    assert unknown > known * 0.3, (unknown, known)


def _forge(claims: dict[str, object], *, key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


async def test_bad_tokens_get_401(client: httpx.AsyncClient) -> None:
    headers = await sign_up(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    now = int(time.time())
    header, _payload, signature = token.split(".")
    tampered_payload = jwt.utils.base64url_encode(  # type: ignore[attr-defined]
        b'{"sub":"00000000-0000-7000-8000-000000000000","acc":"00000000-0000-7000-8000-000000000000","iat":1,"exp":9999999999}'
    ).decode()
    bad_tokens = {
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "expired": _forge({**claims, "iat": now - 7200, "exp": now - 3600}),
        "alg none": jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        "other key": _forge(claims, key="another-secret-another-secret-0123"),
        "garbage": "not-a-token",
    }
    for name, bad in bad_tokens.items():
        response = await client.get("/api/user/balance", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["code"] == "unauthenticated"
    client.cookies.clear()
    assert (await client.get("/api/user/balance")).status_code == 401
    assert (await client.get("/api/user/balance", headers=headers)).status_code == 200
