"""The simulator's state in a database (``gophermart accrual -d``), on SQLite and PostgreSQL.

`SqlStore` must behave as `MemoryStore` does, and a simulator restarted on the same database
must go on where the last one stopped: same mechanics, same orders, statuses still moving
from the (wall-clock) time each order was registered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, select

from gophermart.accrual.simulator import (
    Mechanic,
    MemoryStore,
    RegisteredOrder,
    SimulatorConfig,
    SimulatorStore,
    create_app,
)
from gophermart.accrual.simulator_store import (
    SqlStore,
    mechanic_table,
    metadata,
    order_table,
    sql_store,
)
from gophermart.models.money import luhn_complete
from gophermart.store.database import Backend, Database, DatabaseTarget
from tests.accrual.conftest import FakeClock
from tests.server.test_cli import clean_env, exit_status, log_of, run_cli, stopped_at_end
from tests.servers import ServerProcess, database_uri, free_port, serve_app

# A wall-clock time that, like every step of it below, is a whole multiple of the smallest
# step a double has at this size (2**-22 s): the expected times are exact.
WALL = 1_700_000_000.0
HOUSE_MATCHES = ["Pringles", "Coca-Cola", "Acme", "Tefal", "LG"]


async def _drop_simulator_tables(target: DatabaseTarget) -> None:
    db = Database(target, pool_size=1)
    try:
        async with db.transaction() as conn:
            await conn.run_sync(metadata.drop_all)
    finally:
        await db.dispose()


@pytest.fixture
async def target(database: DatabaseTarget) -> AsyncIterator[DatabaseTarget]:
    """The test's database without the simulator's tables, and without them again afterwards:
    on PostgreSQL the session's database is shared, and conftest empties only the service's."""
    await _drop_simulator_tables(database)
    yield database
    await _drop_simulator_tables(database)


@asynccontextmanager
async def opened(
    target: DatabaseTarget, clock: FakeClock | None = None, wall_clock: FakeClock | None = None
) -> AsyncIterator[SqlStore]:
    opener = sql_store(target, pool_size=2, wall_clock=wall_clock or FakeClock(WALL))
    async with opener(clock or FakeClock()) as store:
        assert isinstance(store, SqlStore)
        yield store


@asynccontextmanager
async def simulator(
    target: DatabaseTarget,
    config: SimulatorConfig,
    *,
    clock: FakeClock | None = None,
    wall_clock: FakeClock | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A simulator app on ``target``, served over real HTTP until the block ends."""
    opener = sql_store(target, wall_clock=wall_clock or FakeClock(WALL))
    app = create_app(config, open_store=opener, clock=clock or FakeClock())
    async with serve_app(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        yield http


async def stored_mechanics(target: DatabaseTarget) -> list[tuple[str, str, str]]:
    """``(match, reward, reward_type)`` rows as stored, in position order."""
    t = mechanic_table
    db = Database(target, pool_size=1)
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                select(t.c.match, t.c.reward, t.c.reward_type).order_by(t.c.position)
            )
            return [(bytes(m).decode("utf-8", "surrogatepass"), r, rt) for m, r, rt in rows]
    finally:
        await db.dispose()


async def stored_orders(target: DatabaseTarget) -> dict[str, tuple[str, float]]:
    """``number: (accrual, registered at)`` as stored, the time on the wall clock."""
    t = order_table
    db = Database(target, pool_size=1)
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                select(t.c.number, t.c.accrual, t.c.registered_at, t.c.clock_offset)
            )
            return {number: (accrual, at + offset) for number, accrual, at, offset in rows}
    finally:
        await db.dispose()


async def add_mechanic(http: httpx.AsyncClient, match: str, reward: Any, reward_type: str) -> int:
    # json.dumps escapes what UTF-8 cannot carry, such as a lone surrogate.
    body = {"match": match, "reward": reward, "reward_type": reward_type}
    return (await http.post("/api/goods", content=json.dumps(body))).status_code


async def add_order(http: httpx.AsyncClient, number: str, goods: list[tuple[str, Any]]) -> int:
    body = {"order": number, "goods": [{"description": d, "price": p} for d, p in goods]}
    return (await http.post("/api/orders", content=json.dumps(body))).status_code


async def order_answer(http: httpx.AsyncClient, number: str) -> object:
    response = await http.get(f"/api/orders/{number}")
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


# ---- SqlStore against MemoryStore -------------------------------------------------------------

# Registration order on purpose neither sorted nor by length; a NUL, which a PostgreSQL text
# column refuses, an emoji, a lone surrogate (valid in a JSON string), and a match far longer
# than a btree entry may be.
MATCHES = ["Zeta", "Alpha", "nul\x00inside", "Чипсы 🍕", "lone \ud800", "x" * 100_000, "Mid"]
# Exact decimals, each in its own spelling: "10.0" must not come back as 10 or 10.00.
REWARDS = ["12.5", "1E-21", "999999999999.99", "10.0", "1E+2", "7", "33.333"]
NUMBERS = ["12345678903", "9278923470", "0", luhn_complete("7" * 5000)]
ACCRUALS = ["729.98", "0", "27.25", "999999999999.99"]


async def exercise(store: SimulatorStore) -> list[object]:
    """Everything a store is asked, and everything it answers, in one comparable list."""
    seen: list[object] = []
    for match, reward in zip(MATCHES, REWARDS, strict=True):
        seen.append(await store.add_mechanic(Mechanic(match, Decimal(reward), "pt")))
    for match in MATCHES:  # taken: neither added nor replaced
        seen.append(await store.add_mechanic(Mechanic(match, Decimal(1), "%")))
    seen.append(await store.add_mechanic(Mechanic("Alpha ", Decimal(5), "%")))  # not "Alpha"
    seen.append(await store.add_mechanic(Mechanic("alpha", Decimal(5), "%")))  # nor this
    seen.append([(m.match, str(m.reward), m.reward_type) for m in await store.list_mechanics()])

    for index, (number, accrual) in enumerate(zip(NUMBERS, ACCRUALS, strict=True)):
        order = RegisteredOrder(number, registered_at=1000.0 + index, accrual=Decimal(accrual))
        seen.append(await store.add_order(order))
    for number in NUMBERS:
        seen.append(await store.add_order(RegisteredOrder(number, 5.0, Decimal("1.11"))))
    for number in [*NUMBERS, "346436439", "12345678904"]:
        got = await store.get_order(number)
        seen.append(None if got is None else (got.number, got.registered_at, str(got.accrual)))
    return seen


async def test_sql_store_answers_as_the_memory_store_does(target: DatabaseTarget) -> None:
    async with opened(target) as store:
        answers = await exercise(store)
    expected = await exercise(MemoryStore())
    assert answers == expected
    # And the memory store's answers are the ones a store must give.
    assert expected[: len(MATCHES)] == [True] * len(MATCHES)
    assert expected[len(MATCHES) : 2 * len(MATCHES)] == [False] * len(MATCHES)
    listed = expected[2 * len(MATCHES) + 2]
    assert listed == [
        *[(m, r, "pt") for m, r in zip(MATCHES, REWARDS, strict=True)],
        ("Alpha ", "5", "%"),
        ("alpha", "5", "%"),
    ]

    # Stored once each, the first registration's values, in registration order.
    assert await stored_mechanics(target) == listed
    orders = await stored_orders(target)
    assert {number: accrual for number, (accrual, _) in orders.items()} == dict(
        zip(NUMBERS, ACCRUALS, strict=True)
    )


async def test_a_second_store_on_the_database_sees_the_first_ones_state(
    target: DatabaseTarget,
) -> None:
    async with opened(target) as first:
        await exercise(first)
    async with opened(target) as second:
        listed = [(m.match, str(m.reward), m.reward_type) for m in await second.list_mechanics()]
        assert listed[: len(MATCHES)] == [
            (m, r, "pt") for m, r in zip(MATCHES, REWARDS, strict=True)
        ]
        assert not await second.add_mechanic(Mechanic("nul\x00inside", Decimal(1), "%"))
        assert not await second.add_order(RegisteredOrder(NUMBERS[-1], 1.0, Decimal(1)))
        got = await second.get_order(NUMBERS[-1])
        assert got is not None
        assert (got.number, str(got.accrual)) == (NUMBERS[-1], ACCRUALS[-1])
    assert len(await stored_mechanics(target)) == len(MATCHES) + 2


@pytest.mark.parametrize("registered_at", [1000.0, 1000.3, 12345.678901234, 271828.18284590452])
async def test_registered_at_comes_back_exactly(
    target: DatabaseTarget, registered_at: float
) -> None:
    """Within one process a status changes at the very instant it would with MemoryStore:
    the registration time comes back to the bit, whatever the clocks read."""
    wall = FakeClock(time.time())
    async with opened(target, FakeClock(registered_at), wall) as store:
        order = RegisteredOrder("12345678903", registered_at, Decimal("1.5"))
        assert await store.add_order(order)
        assert await store.get_order("12345678903") == order


async def table_names(target: DatabaseTarget) -> set[str]:
    db = Database(target, pool_size=1)
    try:
        async with db.read() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await db.dispose()


async def test_tables_are_the_simulators_own(target: DatabaseTarget) -> None:
    """Created at start-up next to the service's tables, which stay as they were."""
    service_tables = await table_names(target)
    assert "user" in service_tables  # the fixture's database is the service's, migrated
    async with opened(target) as store:
        assert await store.list_mechanics() == ()
        assert await store.get_order("12345678903") is None
    assert await table_names(target) == service_tables | {
        "accrual_sim_mechanic",
        "accrual_sim_order",
    }
    async with opened(target) as store:  # the tables exist now: no error the second time
        assert await store.add_mechanic(Mechanic("Acme", Decimal(5), "%"))
    assert await stored_mechanics(target) == [("Acme", "5", "%")]


def test_store_and_open_store_are_exclusive(tmp_path: Path) -> None:
    opener = sql_store(DatabaseTarget(Backend.SQLITE, str(tmp_path / "never-opened.db")))
    with pytest.raises(ValueError, match="not both"):
        create_app(SimulatorConfig(), store=MemoryStore(), open_store=opener)


# ---- over HTTP, across a restart --------------------------------------------------------------


async def test_restarted_simulator_goes_on_where_it_stopped(target: DatabaseTarget) -> None:
    config = SimulatorConfig(registered_for=0.5, processing_for=1.0)
    goods = [("Чайник Tefal", 7000), ("Чипсы Pringles бекон", 147.5)]
    async with simulator(target, config, clock=FakeClock(1000.0)) as http:
        assert await add_mechanic(http, "Tefal", 100, "pt") == 200
        assert await add_mechanic(http, "Pringles", 10, "%") == 200
        assert await add_order(http, "12345678903", goods) == 202
        assert await order_answer(http, "12345678903") == {
            "order": "12345678903",
            "status": "REGISTERED",
        }

    assert await stored_mechanics(target) == [("Tefal", "100", "pt"), ("Pringles", "10", "%")]
    # 100 + 14.75, registered at the wall-clock time the order came in.
    assert await stored_orders(target) == {"12345678903": ("114.75", WALL)}

    # A new process: its monotonic clock starts anew, and 0.75 s have passed on the wall.
    clock = FakeClock(50.0)
    async with simulator(target, config, clock=clock, wall_clock=FakeClock(WALL + 0.75)) as http:
        assert await order_answer(http, "12345678903") == {
            "order": "12345678903",
            "status": "PROCESSING",
        }
        clock.advance(0.5)  # 1.25 s after registration
        assert (await order_answer(http, "12345678903")) == {
            "order": "12345678903",
            "status": "PROCESSING",
        }
        clock.advance(0.25)  # 1.5 s: processed
        answer = await http.get("/api/orders/12345678903")
        assert answer.content == b'{"order":"12345678903","status":"PROCESSED","accrual":114.75}'

        assert await add_mechanic(http, "Tefal", 1, "%") == 409
        assert await add_order(http, "12345678903", []) == 409
        assert (await http.get("/api/orders/346436439")).status_code == 204
        # The mechanics registered before the restart still earn points, first one first.
        assert await add_mechanic(http, "Чайник", 1, "pt") == 200
        assert await add_order(http, "346436439", [("Чайник Tefal", 10)]) == 202

    assert await stored_mechanics(target) == [
        ("Tefal", "100", "pt"),
        ("Pringles", "10", "%"),
        ("Чайник", "1", "pt"),
    ]
    assert await stored_orders(target) == {
        "12345678903": ("114.75", WALL),
        "346436439": ("100.00", WALL + 0.75 + 0.75),
    }


async def test_a_step_of_the_wall_clock_does_not_move_statuses(target: DatabaseTarget) -> None:
    """The wall clock is read once, at start-up: NTP setting it an hour ahead meanwhile
    changes nothing for a running simulator."""
    clock, wall = FakeClock(1000.0), FakeClock(WALL)
    config = SimulatorConfig(registered_for=0.5, processing_for=1.0)
    async with simulator(target, config, clock=clock, wall_clock=wall) as http:
        wall.advance(3600)
        assert await add_order(http, "12345678903", []) == 202
        wall.advance(3600)
        assert (await order_answer(http, "12345678903")) == {
            "order": "12345678903",
            "status": "REGISTERED",
        }
        clock.advance(0.5)
        assert (await order_answer(http, "12345678903")) == {
            "order": "12345678903",
            "status": "PROCESSING",
        }
    assert await stored_orders(target) == {"12345678903": ("0.00", WALL)}


async def test_odd_unicode_match_round_trips_over_http(target: DatabaseTarget) -> None:
    config = SimulatorConfig(registered_for=0, processing_for=0)
    async with simulator(target, config) as http:
        for match in ("nul\x00", "🍕", "lone \ud800"):
            assert await add_mechanic(http, match, 1, "pt") == 200
        assert await add_order(http, "12345678903", [("a nul\x00 and a 🍕", 1)]) == 202
    async with simulator(target, config) as http:
        for match in ("nul\x00", "🍕", "lone \ud800"):
            assert await add_mechanic(http, match, 2, "pt") == 409
        assert await add_order(http, "9278923470", [("🍕 nul\x00", 1), ("lone \ud800", 0)]) == 202
        # The first matching mechanic wins: one point for each good.
        assert (await order_answer(http, "9278923470"))["accrual"] == 2  # type: ignore[index]
        assert (await order_answer(http, "12345678903"))["accrual"] == 1  # type: ignore[index]
    assert await stored_mechanics(target) == [
        ("nul\x00", "1", "pt"),
        ("🍕", "1", "pt"),
        ("lone \ud800", "1", "pt"),
    ]


async def test_house_mechanics_are_registered_once(target: DatabaseTarget) -> None:
    config = SimulatorConfig(auto_register=True, registered_for=0, processing_for=0, seed=3)
    number = luhn_complete("700000000")
    async with simulator(target, config) as http:
        first = await http.get(f"/api/orders/{number}")
        assert first.status_code == 200
        assert first.json()["accrual"] > 0
    assert [m for m, _, _ in await stored_mechanics(target)] == HOUSE_MATCHES
    for _ in range(2):
        async with simulator(target, config) as http:
            # The auto-registered order was kept, goods and all: not made up again.
            assert (await http.get(f"/api/orders/{number}")).content == first.content
            assert await add_mechanic(http, "Pringles", 1, "pt") == 409
    assert [m for m, _, _ in await stored_mechanics(target)] == HOUSE_MATCHES
    assert list(await stored_orders(target)) == [number]


async def test_house_mechanics_leave_a_registered_one_alone(target: DatabaseTarget) -> None:
    async with simulator(target, SimulatorConfig()) as http:
        assert await add_mechanic(http, "Pringles", 1, "pt") == 200
    async with simulator(target, SimulatorConfig(auto_register=True)):
        pass
    mechanics = await stored_mechanics(target)
    assert mechanics[0] == ("Pringles", "1", "pt")
    assert [m for m, _, _ in mechanics] == HOUSE_MATCHES


# ---- the command ------------------------------------------------------------------------------


def accrual_process(target: DatabaseTarget, log: Path) -> ServerProcess:
    port = free_port()
    process = ServerProcess(
        [
            *("accrual", "-a", f"127.0.0.1:{port}", "-d", database_uri(target)),
            *("--registered-for", "0", "--processing-for", "0"),
        ],
        port=port,
        log_path=log,
    )
    process.env = clean_env()
    return process


async def stop(process: ServerProcess) -> int:
    assert process.process is not None
    process.process.send_signal(signal.SIGTERM)
    return await exit_status(process)


@pytest.mark.slow
async def test_command_keeps_state_in_the_database(target: DatabaseTarget, tmp_path: Path) -> None:
    log = tmp_path / "accrual.log"
    first = accrual_process(target, log).start()
    with stopped_at_end(first):
        await first.wait_ready(path="/api/stats")
        async with httpx.AsyncClient(base_url=first.base_url) as http:
            assert await add_mechanic(http, "Acme", 5, "%") == 200
            assert await add_order(http, "9278923470", [("Телевизор Acme", 14599.50)]) == 202
        assert await stop(first) == 0, log_of(log)
    assert await stored_mechanics(target) == [("Acme", "5", "%")]
    assert (await stored_orders(target))["9278923470"][0] == "729.98"

    second = accrual_process(target, log).start()
    with stopped_at_end(second):
        await second.wait_ready(path="/api/stats")
        async with httpx.AsyncClient(base_url=second.base_url) as http:
            answer = await http.get("/api/orders/9278923470")
            assert answer.json()["accrual"] == 729.98
            assert await add_mechanic(http, "Acme", 1, "pt") == 409
        assert await stop(second) == 0, log_of(log)
    assert "Traceback" not in log_of(log), log_of(log)


@pytest.mark.slow
async def test_command_with_an_unusable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """No traceback either. A SQLite file that cannot be opened runs several times at once:
    aiosqlite's worker thread could outlive the loop and print one, now and then."""
    cases = [
        (f"postgresql://postgres@127.0.0.1:{free_port()}/x", "postgresql://postgres@127.0.0.1:"),
        *[(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", "sqlite:///")] * 6,
    ]
    results = await asyncio.gather(
        *(
            run_cli(
                "accrual",
                "-a",
                f"127.0.0.1:{free_port()}",
                "-d",
                uri,
                env=clean_env(),
                cwd=tmp_path,
            )
            for uri, _ in cases
        )
    )
    for result, (_, shown) in zip(results, cases, strict=True):
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"gophermart: DATABASE_URI: cannot use {shown}")
    assert not os.listdir(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(("-d", "mysql://localhost/db"), {}, id="mysql"),
        pytest.param(("-d", "sqlite:///:memory:"), {}, id="sqlite-memory"),
        pytest.param(("-d", "postgresql://localhost:port/db"), {}, id="bad-port"),
        pytest.param((), {"DATABASE_URI": "sqlite://relative.db"}, id="environment"),
    ],
)
async def test_command_with_an_invalid_database_uri_is_exit_2(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = await run_cli("accrual", *args, env=clean_env(**env), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("gophermart: DATABASE_URI: "), line
    assert not os.listdir(tmp_path)
