"""The poller against the accrual simulator over real HTTP (and MockTransport fault scripts)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from gophermart.accrual.client import AccrualClient
from gophermart.accrual.limiter import RateLimiter
from gophermart.accrual.poller import Poller, PollerConfig, jittered
from gophermart.accrual.simulator import SimulatorConfig
from gophermart.accrual.simulator import create_app as create_simulator
from gophermart.models.types import utcnow
from gophermart.server.app import create_app
from gophermart.server.settings import Settings
from gophermart.services import accrual, orders
from gophermart.services.records import Principal
from gophermart.store import tables, users
from gophermart.store.database import Database, DatabaseTarget
from tests.accrual.recording import RecordingApp
from tests.factories import new_login, order_number, sign_up
from tests.servers import free_port, serve_app

FAST = PollerConfig(
    unknown_interval=0.1,
    unknown_interval_cap=0.4,
    pending_interval=0.05,
    pending_interval_cap=0.2,
    failure_backoff=0.05,
    failure_backoff_cap=0.3,
    idle_wake=0.5,
)
TEXT = {"Content-Type": "text/plain"}


@contextlib.asynccontextmanager
async def polling(poller: Poller) -> AsyncIterator[None]:
    """The poller runs while the block does, and has stopped when it ends."""
    task = asyncio.create_task(poller.run())
    try:
        yield
    finally:
        poller.stop()
        await task


@contextlib.asynccontextmanager
async def simulator(config: SimulatorConfig) -> AsyncIterator[tuple[str, RecordingApp]]:
    recorder = RecordingApp(create_simulator(config))
    async with serve_app(recorder) as base_url:
        yield base_url, recorder


@contextlib.asynccontextmanager
async def gophermart(
    settings: Settings, accrual_url: str, poller: PollerConfig = FAST
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(settings, accrual_address=accrual_url, poller=poller))
    async with serve_app(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield http


async def wait_for(predicate: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[misc]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def order_statuses(db: Database) -> dict[str, str]:
    o = tables.order
    async with db.read() as conn:
        return {
            row.number: row.status for row in await conn.execute(select(o.c.number, o.c.status))
        }


async def accrual_rows(db: Database) -> list[tuple[str, int]]:
    tx = tables.ledger
    async with db.read() as conn:
        rows = await conn.execute(
            select(tx.c.order_number, tx.c.amount)
            .where(tx.c.type == "ACCRUAL")
            .order_by(tx.c.order_number)
        )
        return [(row.order_number, row.amount) for row in rows]


async def balances(db: Database) -> dict[uuid.UUID, tuple[int, int]]:
    acc = tables.loyalty_account
    async with db.read() as conn:
        rows = await conn.execute(select(acc.c.id, acc.c.balance, acc.c.withdrawn))
        return {row.id: (row.balance, row.withdrawn) for row in rows}


async def all_processed(db: Database, count: int) -> bool:
    statuses = await order_statuses(db)
    return len(statuses) == count and set(statuses.values()) == {"PROCESSED"}


async def test_course_end_to_end(settings: Settings, db: Database) -> None:
    """SPEC's worked example: 5 % of 47399.99 + 14599.50 = 729.975 → 729.98."""
    brand = f"Brand{uuid.uuid4().hex[:8]}"
    async with simulator(SimulatorConfig(registered_for=0.1, processing_for=0.1)) as (url, _):
        async with httpx.AsyncClient(base_url=url) as accrual_http:
            mechanic = {"match": brand, "reward": 5, "reward_type": "%"}
            assert (await accrual_http.post("/api/goods", json=mechanic)).status_code == 200
            number = order_number()
            goods = [
                {"description": "Стиральная машинка LG", "price": 47399.99},
                {"description": f"Телевизор {brand}", "price": 14599.50},
            ]
            registered = await accrual_http.post(
                "/api/orders", json={"order": number, "goods": goods}
            )
            assert registered.status_code == 202
        async with gophermart(settings, url) as client:
            auth = await sign_up(client)
            assert (
                await client.post("/api/user/orders", content=number, headers={**auth, **TEXT})
            ).status_code == 202

            async def processed() -> bool:
                listed = (await client.get("/api/user/orders", headers=auth)).json()
                return bool(listed[0]["status"] == "PROCESSED")

            await wait_for(processed, timeout=10, what="PROCESSED")
            [item] = (await client.get("/api/user/orders", headers=auth)).json()
            assert item["accrual"] == 729.98
            assert (await client.get("/api/user/balance", headers=auth)).json() == {
                "current": 729.98,
                "withdrawn": 0,
            }
            spend = {"order": order_number(), "sum": 729.5}
            assert (
                await client.post("/api/user/balance/withdraw", json=spend, headers=auth)
            ).status_code == 200
            assert (await client.get("/api/user/balance", headers=auth)).json() == {
                "current": 0.48,
                "withdrawn": 729.5,
            }
            [withdrawal] = (await client.get("/api/user/withdrawals", headers=auth)).json()
            assert (withdrawal["order"], withdrawal["sum"]) == (spend["order"], 729.5)
    assert await accrual_rows(db) == [(number, 72998)]


async def _principal(db: Database) -> Principal:
    async with db.transaction() as conn:
        principal = await users.create_user(
            conn, login=new_login(), login_key=new_login(), password_hash="unused", now=utcnow()
        )
    assert principal is not None
    return principal


def scripted_client(script: dict[str, httpx.Response]) -> AccrualClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return script[request.url.path.rsplit("/", 1)[1]]

    return AccrualClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)), "http://accrual.test"
    )


async def test_each_answer_maps_to_its_status(db: Database) -> None:
    principal = await _principal(db)
    numbers = {
        name: order_number()
        for name in ("registered", "processing", "invalid", "processed", "zero", "unknown")
    }
    for number in numbers.values():
        await orders.upload_order(db=db, principal=principal, number=number)

    def answer(name: str, status: str, accrual: float | None = None) -> httpx.Response:
        body: dict[str, object] = {"order": numbers[name], "status": status}
        if accrual is not None:
            body["accrual"] = accrual
        return httpx.Response(200, json=body)

    script = {
        numbers["registered"]: answer("registered", "REGISTERED"),
        numbers["processing"]: answer("processing", "PROCESSING"),
        numbers["invalid"]: answer("invalid", "INVALID"),
        numbers["processed"]: answer("processed", "PROCESSED", 729.975),
        numbers["zero"]: answer("zero", "PROCESSED"),
        numbers["unknown"]: httpx.Response(204),
    }
    patient = dataclasses.replace(FAST, pending_interval=30, unknown_interval=30)
    poller = Poller(db=db, client=scripted_client(script), config=patient)
    assert await poller.run_once() == 6
    statuses = await order_statuses(db)
    assert {name: statuses[number] for name, number in numbers.items()} == {
        "registered": "PROCESSING",
        "processing": "PROCESSING",
        "invalid": "INVALID",
        "processed": "PROCESSED",
        "zero": "PROCESSED",
        "unknown": "NEW",
    }
    assert await accrual_rows(db) == [(numbers["processed"], 72998)]
    assert (await balances(db))[principal.account_id] == (72998, 0)
    bc, o = tables.bonus_calculation, tables.order
    async with db.read() as conn:
        recorded = dict(
            (
                await conn.execute(
                    select(o.c.number, bc.c.loyalty_status).join(bc, bc.c.order_id == o.c.id)
                )
            ).all()
        )
    assert recorded[numbers["registered"]] == "REGISTERED"
    assert recorded[numbers["unknown"]] == "NEW"
    # Final orders are never claimed again; pending ones are not due yet.
    assert await poller.run_once() == 0


async def test_failures_back_off_and_leave_orders_pending(db: Database) -> None:
    principal = await _principal(db)
    number = order_number()
    await orders.upload_order(db=db, principal=principal, number=number)
    outcomes = [httpx.Response(500), httpx.Response(503), httpx.Response(200, content=b"not json")]
    for response in outcomes:
        poller = Poller(
            db=db,
            client=scripted_client({number: response}),
            config=dataclasses.replace(FAST, failure_backoff=0.01, failure_backoff_cap=0.02),
        )
        await asyncio.sleep(0.03)
        assert await poller.run_once() == 1
    assert await order_statuses(db) == {number: "NEW"}
    o = tables.order
    async with db.read() as conn:
        row = (
            await conn.execute(select(o.c.attempts, o.c.lease_until).where(o.c.number == number))
        ).one()
    assert row.attempts == 3 and row.lease_until is None


async def test_refused_connection_backs_off(db: Database) -> None:
    principal = await _principal(db)
    number = order_number()
    await orders.upload_order(db=db, principal=principal, number=number)
    async with httpx.AsyncClient() as http:
        poller = Poller(
            db=db, client=AccrualClient(http, f"http://127.0.0.1:{free_port()}"), config=FAST
        )
        assert await poller.run_once() == 1
        assert await poller.run_once() == 0  # backing off: not due yet
    assert await order_statuses(db) == {number: "NEW"}


async def test_unknown_order_is_asked_again_until_it_appears(
    settings: Settings, db: Database
) -> None:
    config = SimulatorConfig(registered_for=0, processing_for=0)
    async with simulator(config) as (url, recorder), gophermart(settings, url) as client:
        auth = await sign_up(client)
        number = order_number()
        assert (
            await client.post("/api/user/orders", content=number, headers={**auth, **TEXT})
        ).status_code == 202
        await wait_for(lambda: _asked(recorder, number, 3), timeout=5, what="three 204s")
        assert await order_statuses(db) == {number: "NEW"}
        async with httpx.AsyncClient(base_url=url) as accrual_http:
            body = {"order": number, "goods": [{"description": "Чайник Tefal", "price": 7000}]}
            assert (await accrual_http.post("/api/orders", json=body)).status_code == 202
        await wait_for(lambda: all_processed(db, 1), timeout=5, what="PROCESSED")
    gaps = [b.started - a.started for a, b in zip(recorder.hits, recorder.hits[1:], strict=False)]
    assert gaps[1] > gaps[0] * 1.3  # the interval grows while the order stays unknown


async def _asked(recorder: RecordingApp, number: str, times: int) -> bool:
    return sum(hit.number == number for hit in recorder.hits) >= times


class RecordingLimiter(RateLimiter):
    """The shared limiter, noting when the poller learned of each 429."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[tuple[float, float]] = []

    def pause(self, *, retry_after: float, limit_per_minute: int | None) -> bool:
        self.pauses.append((time.monotonic(), retry_after))
        return super().pause(retry_after=retry_after, limit_per_minute=limit_per_minute)


async def test_rate_limit_is_respected(db: Database) -> None:
    """After a 429 nothing is sent before Retry-After; then the announced pace holds.

    Send times are taken on the client (an httpx request hook): a request that was already
    on its way when the 429 came back is not a request sent after it.
    """
    config = SimulatorConfig(
        rate_limit=300, rate_window=2, registered_for=0, processing_for=0, auto_register=True
    )
    principal = await _principal(db)
    # 10 requests a window: enough orders for three windows after the first 429.
    numbers = [order_number() for _ in range(45)]
    for number in numbers:
        await orders.upload_order(db=db, principal=principal, number=number)
    sent: list[float] = []

    async def note_send(request: httpx.Request) -> None:
        sent.append(time.monotonic())

    limiter = RecordingLimiter()
    async with (
        simulator(config) as (url, recorder),
        httpx.AsyncClient(event_hooks={"request": [note_send]}) as http,
    ):
        poller = Poller(db=db, client=AccrualClient(http, url), config=FAST, limiter=limiter)
        async with polling(poller):
            await wait_for(lambda: all_processed(db, 45), timeout=30, what="all PROCESSED")
    limited = [hit for hit in recorder.hits if hit.status == 429]
    assert limited, "the test did not provoke the limit"
    assert limiter.pauses
    for learned_at, retry_after in limiter.pauses:
        during = [t for t in sent if learned_at < t < learned_at + retry_after - 0.001]
        assert not during, f"{len(during)} requests sent during a {retry_after} s pause"
    # Only the requests already on their way when the first 429 came back may be refused:
    # from the end of that pause on, the announced pace does not provoke more. (One is
    # tolerated: the pace keeps 2 % in hand, 40 ms of a 2 s window here, and a loaded
    # machine may delay one send by more; without the pace there are dozens.)
    quiet_until = limiter.pauses[0][0] + limiter.pauses[0][1]
    later_429s = [hit for hit in limited if hit.started >= quiet_until]
    assert len(later_429s) <= 1, f"{len(later_429s)} 429s after the pace was known"
    paced = [t for t in sent if t >= quiet_until]
    assert len(paced) >= 25, "too few requests after the pause to tell the pace"
    assert len(recorder.hits) == 45 + len(limited)


async def test_every_ask_is_made_under_a_live_lease_and_outside_any_transaction(
    database: DatabaseTarget, db: Database
) -> None:
    """DESIGN §5: no other instance may ask about an order at the same time, and no row lock
    or transaction is held while the accrual system answers.

    The accrual system (a fault script) checks both from its side at each ask: the order is
    still leased, and a write to its row goes through at once. A 429 whose pause outlasts
    the leases makes the rest of the batch wait longer than its claims are good for.
    """
    principal = await _principal(db)
    numbers = [order_number() for _ in range(6)]
    for number in numbers:
        await orders.upload_order(db=db, principal=principal, number=number)
    probe = Database(database, pool_size=2)
    violations: list[str] = []
    asked = 0

    async def accrual_system(request: httpx.Request) -> httpx.Response:
        nonlocal asked
        asked += 1
        number = request.url.path.rsplit("/", 1)[1]
        if asked == 1:
            return httpx.Response(
                429,
                headers={"Retry-After": "1"},
                text="No more than 600 requests per minute allowed",
            )
        o = tables.order
        try:
            async with asyncio.timeout(3), probe.transaction() as conn:
                lease_until = (
                    await conn.execute(
                        update(o)
                        .where(o.c.number == number)
                        .values(attempts=o.c.attempts)
                        .returning(o.c.lease_until)
                    )
                ).scalar_one()
        except TimeoutError:
            violations.append(f"{number}: asked while the poller held its row or a transaction")
        else:
            if lease_until is None or lease_until <= utcnow():
                violations.append(f"{number}: asked without a live lease ({lease_until})")
        return httpx.Response(200, json={"order": number, "status": "PROCESSED", "accrual": 100})

    client = AccrualClient(
        httpx.AsyncClient(transport=httpx.MockTransport(accrual_system)), "http://accrual.test"
    )
    config = dataclasses.replace(FAST, lease=timedelta(seconds=0.6), concurrency=2)
    try:
        async with polling(Poller(db=db, client=client, config=config)):
            await wait_for(lambda: all_processed(db, 6), timeout=15, what="all PROCESSED")
    finally:
        await probe.dispose()
    assert violations == []
    assert await accrual_rows(db) == sorted((number, 10000) for number in numbers)


async def test_an_upload_wakes_the_poller_at_once(settings: Settings, db: Database) -> None:
    """With nothing due the poller sleeps (here up to a minute); an upload cuts that short."""
    sleepy = dataclasses.replace(FAST, idle_wake=60)
    config = SimulatorConfig(registered_for=0, processing_for=0, auto_register=True)
    async with simulator(config) as (url, recorder), gophermart(settings, url, sleepy) as client:
        auth = await sign_up(client)
        await asyncio.sleep(0.3)  # the poller found nothing due and went to sleep
        number = order_number()
        uploaded = time.monotonic()
        assert (
            await client.post("/api/user/orders", content=number, headers={**auth, **TEXT})
        ).status_code == 202
        await wait_for(lambda: all_processed(db, 1), timeout=5, what="PROCESSED")
    first_ask = recorder.hits[0].started - uploaded
    assert first_ask < 0.5, f"first asked {first_ask:.2f} s after the upload"


async def test_flaky_slow_accrual_system_still_credits_everything_once(
    settings: Settings, db: Database
) -> None:
    config = SimulatorConfig(
        fail_rate=0.3,
        latency_ms=20,
        registered_for=0.05,
        processing_for=0.05,
        auto_register=True,
        seed=7,
    )
    async with simulator(config) as (url, recorder), gophermart(settings, url) as client:
        users = [await sign_up(client) for _ in range(3)]
        numbers = [order_number() for _ in range(30)]
        for index, number in enumerate(numbers):
            headers = {**users[index % 3], **TEXT}
            assert (
                await client.post("/api/user/orders", content=number, headers=headers)
            ).status_code == 202
        await wait_for(lambda: all_processed(db, 30), timeout=30, what="all PROCESSED")
        totals = [
            (await client.get("/api/user/balance", headers=u)).json()["current"] for u in users
        ]
    assert any(hit.status == 500 for hit in recorder.hits)
    credited = await accrual_rows(db)
    assert sorted(n for n, _ in credited) == sorted(numbers)  # one ACCRUAL row per order
    o = tables.order
    async with db.read() as conn:
        order_sum = (await conn.execute(select(func.sum(o.c.accrual)))).scalar_one()
    assert sum(amount for _, amount in credited) == order_sum
    assert sum(balance for balance, _ in (await balances(db)).values()) == order_sum
    assert round(sum(totals) * 100) == order_sum


async def test_lease_hides_claimed_orders_from_a_second_poller(db: Database) -> None:
    principal = await _principal(db)
    numbers = [order_number() for _ in range(10)]
    for number in numbers:
        await orders.upload_order(db=db, principal=principal, number=number)
    first = await accrual.claim_due_orders(db=db, lease=timedelta(seconds=30), limit=6)
    second = await accrual.claim_due_orders(db=db, lease=timedelta(seconds=30), limit=6)
    assert len(first) == 6 and len(second) == 4
    assert not {c.number for c in first} & {c.number for c in second}
    assert await accrual.claim_due_orders(db=db, lease=timedelta(seconds=30), limit=6) == []
    await accrual.release_claims(db=db, order_numbers=[c.number for c in first])
    assert len(await accrual.claim_due_orders(db=db, lease=timedelta(seconds=30), limit=10)) == 6


async def test_stop_is_prompt_and_releases_claims(db: Database) -> None:
    principal = await _principal(db)
    numbers = [order_number() for _ in range(4)]
    for number in numbers:
        await orders.upload_order(db=db, principal=principal, number=number)

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(204)

    client = AccrualClient(
        httpx.AsyncClient(transport=httpx.MockTransport(slow)), "http://accrual.test"
    )
    poller = Poller(db=db, client=client, config=dataclasses.replace(FAST, stop_grace=0.2))
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.3)
    started = time.monotonic()
    poller.stop()
    await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 2
    o = tables.order
    async with db.read() as conn:
        leased = (
            await conn.execute(select(func.count()).where(o.c.lease_until.is_not(None)))
        ).scalar_one()
    assert leased == 0


def test_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    delays = {round(jittered(1.0, rng), 3) for _ in range(20)}
    assert len(delays) > 10 and all(0.5 <= d <= 1.0 for d in delays)
