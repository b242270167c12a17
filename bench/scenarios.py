"""The HTTP scenarios: which wrk script, which URL, and a one-request probe that must pass
before the load starts (a scenario whose probe fails is reported as n/a, not measured)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import orjson

from bench.seed import SEEDED_ORDERS, BenchUser
from gophermart.models.money import luhn_complete

# The same query as bench/wrk/graphql.lua sends.
GRAPHQL_QUERY = (
    "{ me { balance { current } orders(first: 20) { edges { node { number status } } } } }"
)

Probe = Callable[[httpx.AsyncClient, BenchUser], Awaitable[str | None]]


def _auth(user: BenchUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


def _unexpected(response: httpx.Response, expected: int) -> str | None:
    if response.status_code == expected:
        return None
    return f"probe got {response.status_code}, expected {expected}: {response.text[:120]}"


async def _probe_balance(client: httpx.AsyncClient, user: BenchUser) -> str | None:
    response = await client.get("/api/user/balance", headers=_auth(user))
    return _unexpected(response, 200)


async def _probe_orders(client: httpx.AsyncClient, user: BenchUser) -> str | None:
    response = await client.get("/api/user/orders", headers=_auth(user))
    problem = _unexpected(response, 200)
    if problem is None and len(response.json()) != SEEDED_ORDERS:
        problem = f"probe listed {len(response.json())} orders, expected {SEEDED_ORDERS}"
    return problem


async def _probe_graphql(client: httpx.AsyncClient, user: BenchUser) -> str | None:
    response = await client.post(
        "/graphql",
        content=orjson.dumps({"query": GRAPHQL_QUERY}),
        headers={**_auth(user), "Content-Type": "application/json"},
    )
    problem = _unexpected(response, 200)
    if problem is not None:
        return problem
    try:
        body = response.json()
        me = body["data"]["me"]
        assert me["balance"]["current"] is not None
        assert len(me["orders"]["edges"]) == min(20, SEEDED_ORDERS)
        assert not body.get("errors")
    except (ValueError, KeyError, TypeError, AssertionError):
        return f"probe got an unexpected GraphQL answer: {response.text[:160]}"
    return None


async def _probe_withdraw(client: httpx.AsyncClient, user: BenchUser) -> str | None:
    number = luhn_complete("30000000000001")
    response = await client.post(
        "/api/user/balance/withdraw",
        content=orjson.dumps({"order": number, "sum": 0.01}),
        headers={**_auth(user), "Content-Type": "application/json"},
    )
    return _unexpected(response, 200)


async def _probe_login(client: httpx.AsyncClient, user: BenchUser) -> str | None:
    response = await client.post(
        "/api/user/login", json={"login": user.login, "password": user.password}
    )
    return _unexpected(response, 200)


async def _probe_register(client: httpx.AsyncClient, user: BenchUser) -> str | None:
    response = await client.post(
        "/api/user/register", json={"login": "probe-user", "password": "probe-password"}
    )
    return _unexpected(response, 200)


async def _probe_upload(client: httpx.AsyncClient, user: BenchUser) -> str | None:
    response = await client.post(
        "/api/user/orders",
        content=luhn_complete("30000000000002"),
        headers={**_auth(user), "Content-Type": "text/plain"},
    )
    return _unexpected(response, 202)


@dataclass(frozen=True)
class Scenario:
    name: str  # what --scenarios takes
    title: str  # the table's first column
    script: str  # in bench/wrk/
    path: str
    probe: Probe
    read_only: bool  # also run against the bulk data (--big)
    bare: bool = False  # bench/baseline.py serves the same request: a ratio is printed


# In the order they run: reads first, then writes; uploads last, because every uploaded
# order keeps the server's poller (and the simulator) busy for a while afterwards.
HTTP_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "balance",
        "GET balance",
        "auth_get.lua",
        "/api/user/balance",
        _probe_balance,
        read_only=True,
        bare=True,
    ),
    Scenario(
        "orders",
        f"GET orders ({SEEDED_ORDERS} orders)",
        "auth_get.lua",
        "/api/user/orders",
        _probe_orders,
        read_only=True,
        bare=True,
    ),
    Scenario(
        "graphql",
        "GraphQL me { balance, orders(first: 20) }",
        "graphql.lua",
        "/graphql",
        _probe_graphql,
        True,
    ),
    Scenario(
        "withdraw",
        "POST withdraw (0.01, fresh number)",
        "withdraw.lua",
        "/api/user/balance/withdraw",
        _probe_withdraw,
        False,
    ),
    Scenario("login", "POST login", "login.lua", "/api/user/login", _probe_login, False),
    Scenario(
        "register",
        "POST register (fresh login)",
        "register.lua",
        "/api/user/register",
        _probe_register,
        False,
    ),
    Scenario(
        "upload",
        "POST orders (fresh number)",
        "upload_order.lua",
        "/api/user/orders",
        _probe_upload,
        False,
    ),
)
PIPELINE_SCENARIOS = ("pipeline", "pipeline-limited")
DEFAULT_SCENARIOS = (*(s.name for s in HTTP_SCENARIOS), *PIPELINE_SCENARIOS)
# Not run unless asked for: 200 uploads paced at 50/s (the latency of an order on its own).
ALL_SCENARIOS = (*DEFAULT_SCENARIOS, "pipeline-paced")
