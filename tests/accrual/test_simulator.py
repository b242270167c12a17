"""The bundled accrual simulator, driven over real HTTP as its clients will drive it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from gophermart.accrual.cli import simulator_config, simulator_parser
from gophermart.accrual.client import (
    AccrualClient,
    Answered,
    NotRegistered,
    RateLimited,
    ServerError,
    Unreachable,
)
from gophermart.accrual.simulator import SimulatorConfig, create_app, get_stats
from gophermart.server.settings import SettingsError
from tests.accrual.conftest import FakeClock
from tests.factories import luhn_complete as luhn_number
from tests.servers import serve_app

INSTANT = SimulatorConfig(registered_for=0, processing_for=0)

Simulator = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def _simulator(
    config: SimulatorConfig = INSTANT, *, clock: FakeClock | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config, clock=clock or FakeClock())
    async with serve_app(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        yield http


@pytest.fixture
def simulator() -> Simulator:
    """A factory: ``async with simulator(config, clock=...) as http`` talks to a fresh app."""
    return _simulator


@pytest.fixture(scope="module")
async def shared_http() -> AsyncIterator[httpx.AsyncClient]:
    """One instant simulator for the tests that leave no state behind: a server per case
    would add uvicorn's 0.2 s shutdown to each of dozens of parametrised cases."""
    async with _simulator() as http:
        yield http


async def _add_mechanic(http: httpx.AsyncClient, match: str, reward: Any, reward_type: str) -> None:
    response = await http.post(
        "/api/goods", json={"match": match, "reward": reward, "reward_type": reward_type}
    )
    assert response.status_code == 200, response.text


async def _add_order(http: httpx.AsyncClient, number: str, goods: list[tuple[str, Any]]) -> None:
    body = {"order": number, "goods": [{"description": d, "price": p} for d, p in goods]}
    response = await http.post("/api/orders", json=body)
    assert response.status_code == 202, response.text


# ---- POST /api/goods ------------------------------------------------------------------------


async def test_mechanic_is_registered_once(simulator: Simulator) -> None:
    async with simulator() as http:
        await _add_mechanic(http, "Pringles", 10, "%")
        again = await http.post(
            "/api/goods", json={"match": "Pringles", "reward": 5, "reward_type": "pt"}
        )
        assert again.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b'["Pringles", 10, "%"]', id="not-an-object"),
        pytest.param(b'{"reward": 10, "reward_type": "%"}', id="match-missing"),
        pytest.param(b'{"match": "", "reward": 10, "reward_type": "%"}', id="match-empty"),
        pytest.param(b'{"match": "  ", "reward": 10, "reward_type": "%"}', id="match-blank"),
        pytest.param(b'{"match": 7, "reward": 10, "reward_type": "%"}', id="match-not-string"),
        pytest.param(b'{"match": "A", "reward": 0, "reward_type": "%"}', id="reward-zero"),
        pytest.param(b'{"match": "A", "reward": -1.5, "reward_type": "pt"}', id="reward-negative"),
        pytest.param(b'{"match": "A", "reward": "10", "reward_type": "%"}', id="reward-string"),
        pytest.param(b'{"match": "A", "reward": true, "reward_type": "pt"}', id="reward-bool"),
        pytest.param(b'{"match": "A", "reward": NaN, "reward_type": "pt"}', id="reward-nan"),
        pytest.param(b'{"match": "A", "reward": 1e13, "reward_type": "pt"}', id="reward-huge"),
        pytest.param(b'{"match": "A", "reward": 10, "reward_type": "pct"}', id="type-unknown"),
        pytest.param(b'{"match": "A", "reward": 10}', id="type-missing"),
    ],
)
async def test_malformed_mechanic_is_400(shared_http: httpx.AsyncClient, body: bytes) -> None:
    response = await shared_http.post("/api/goods", content=body)
    assert response.status_code == 400
    assert response.text  # says what is wrong


async def test_body_over_a_mebibyte_is_413(shared_http: httpx.AsyncClient) -> None:
    body = b'{"match": "' + b"x" * (1024 * 1024) + b'", "reward": 1, "reward_type": "pt"}'
    assert (await shared_http.post("/api/goods", content=body)).status_code == 413


# ---- POST /api/orders -----------------------------------------------------------------------


async def test_order_is_registered_once(simulator: Simulator) -> None:
    async with simulator() as http:
        await _add_order(http, "12345678903", [("Чайник Tefal", 7000)])
        again = await http.post("/api/orders", json={"order": "12345678903", "goods": []})
        assert again.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"nope", id="not-json"),
        pytest.param(b'{"goods": []}', id="order-missing"),
        pytest.param(b'{"order": 12345678903, "goods": []}', id="order-not-string"),
        pytest.param(b'{"order": "12345678904", "goods": []}', id="luhn-fails"),
        pytest.param(b'{"order": "1234-5678903", "goods": []}', id="not-digits"),
        pytest.param(b'{"order": "", "goods": []}', id="order-empty"),
        pytest.param(b'{"order": "12345678903"}', id="goods-missing"),
        pytest.param(b'{"order": "12345678903", "goods": {}}', id="goods-not-list"),
        pytest.param(b'{"order": "12345678903", "goods": [1]}', id="good-not-object"),
        pytest.param(
            b'{"order": "12345678903", "goods": [{"description": "A"}]}', id="price-missing"
        ),
        pytest.param(
            b'{"order": "12345678903", "goods": [{"description": "A", "price": -1}]}',
            id="price-negative",
        ),
        pytest.param(
            b'{"order": "12345678903", "goods": [{"description": 5, "price": 1}]}',
            id="description-not-string",
        ),
    ],
)
async def test_malformed_order_is_400(shared_http: httpx.AsyncClient, body: bytes) -> None:
    response = await shared_http.post("/api/orders", content=body)
    assert response.status_code == 400
    assert response.text
    # A rejected order was not registered by accident.
    assert (await shared_http.get("/api/orders/12345678903")).status_code == 204


# ---- GET /api/orders/{number}: accrual --------------------------------------------------------


async def test_spec_example_accrual(simulator: Simulator) -> None:
    async with simulator() as http:
        await _add_mechanic(http, "Pringles", 10, "%")
        await _add_mechanic(http, "Coca-Cola", 12.5, "pt")
        await _add_order(
            http,
            "12345678903",
            [
                ("Чайник Tefal", 7000),
                ("Чипсы Pringles бекон", 147.5),
                ("Напиток Coca-Cola Zero 0.5л", 55),
            ],
        )
        response = await http.get("/api/orders/12345678903")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == b'{"order":"12345678903","status":"PROCESSED","accrual":27.25}'


async def test_accrual_rounds_half_up(simulator: Simulator) -> None:
    async with simulator() as http:
        await _add_mechanic(http, "Acme", 5, "%")
        await _add_order(
            http,
            "9278923470",
            [("Стиральная машинка LG", 47399.99), ("Телевизор Acme", 14599.50)],
        )
        response = await http.get("/api/orders/9278923470")
        # 14599.50 * 5 % = 729.975: a float would make it 729.97.
        assert response.content == b'{"order":"9278923470","status":"PROCESSED","accrual":729.98}'


async def test_whole_accrual_is_rendered_as_an_integer(simulator: Simulator) -> None:
    async with simulator() as http:
        await _add_mechanic(http, "Bosch", 500, "pt")
        await _add_order(http, "2377225624", [("Дрель Bosch", 3000)])
        response = await http.get("/api/orders/2377225624")
        assert response.json() == {"order": "2377225624", "status": "PROCESSED", "accrual": 500}
        assert b'"accrual":500}' in response.content


async def test_first_matching_mechanic_wins(simulator: Simulator) -> None:
    async with simulator() as http:
        await _add_mechanic(http, "Acme", 10, "pt")
        await _add_mechanic(http, "Acme Pro", 1000, "pt")
        await _add_order(http, "2377225624", [("Телевизор Acme Pro", 100), ("acme", 100)])
        # "Acme Pro" also matches, but "Acme" came first; matching is case-sensitive.
        assert (await http.get("/api/orders/2377225624")).json()["accrual"] == 10


async def test_no_points_means_no_accrual_key(simulator: Simulator) -> None:
    async with simulator() as http:
        await _add_mechanic(http, "Pringles", 10, "%")
        await _add_order(http, "346436439", [("Чайник Tefal", 7000)])
        response = await http.get("/api/orders/346436439")
        assert response.json() == {"order": "346436439", "status": "PROCESSED"}


async def test_status_moves_registered_processing_processed(simulator: Simulator) -> None:
    clock = FakeClock()
    config = SimulatorConfig(registered_for=0.5, processing_for=1.0)
    async with simulator(config, clock=clock) as http:
        await _add_mechanic(http, "Tefal", 100, "pt")
        await _add_order(http, "12345678903", [("Чайник Tefal", 7000)])

        async def answer() -> object:
            return (await http.get("/api/orders/12345678903")).json()

        assert await answer() == {"order": "12345678903", "status": "REGISTERED"}
        clock.advance(0.49)
        assert await answer() == {"order": "12345678903", "status": "REGISTERED"}
        clock.advance(0.01)
        assert await answer() == {"order": "12345678903", "status": "PROCESSING"}
        clock.advance(0.99)
        assert await answer() == {"order": "12345678903", "status": "PROCESSING"}
        clock.advance(0.01)
        expected = {"order": "12345678903", "status": "PROCESSED", "accrual": 100}
        assert await answer() == expected
        clock.advance(3600)
        assert await answer() == expected  # final


@pytest.mark.parametrize("number", ["12345678903", "12345678904", "abc"])
async def test_unknown_order_is_204(shared_http: httpx.AsyncClient, number: str) -> None:
    response = await shared_http.get(f"/api/orders/{number}")
    assert response.status_code == 204
    assert response.content == b""


# ---- faults ---------------------------------------------------------------------------------


async def test_rate_limit_answers_429_until_the_window_ends(simulator: Simulator) -> None:
    clock = FakeClock()
    app_config = SimulatorConfig(rate_limit=2, registered_for=0, processing_for=0)
    async with simulator(app_config, clock=clock) as http:
        await _add_order(http, "12345678903", [])
        for _ in range(2):
            assert (await http.get("/api/orders/12345678903")).status_code == 200

        limited = await http.get("/api/orders/12345678903")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "60"
        assert limited.headers["content-type"].startswith("text/plain")
        assert limited.text == "No more than 2 requests per minute allowed"
        # The limit is for the whole service, not per order, and 204s count too.
        clock.advance(15.2)
        limited = await http.get("/api/orders/346436439")
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "45")
        clock.advance(44.7)
        limited = await http.get("/api/orders/346436439")
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")

        clock.advance(0.1)  # the window has ended
        assert (await http.get("/api/orders/12345678903")).status_code == 200
        assert (await http.post("/api/orders", json={"order": "346436439", "goods": []})).is_success

        stats = (await http.get("/api/stats")).json()
        assert stats == {"gets": 6, "rate_limited": 3, "failed": 0}


async def test_fail_rate_one_answers_500(simulator: Simulator) -> None:
    async with simulator(SimulatorConfig(fail_rate=1.0)) as http:
        for _ in range(3):
            assert (await http.get("/api/orders/12345678903")).status_code == 500
        assert (await http.get("/api/stats")).json() == {"gets": 3, "rate_limited": 0, "failed": 3}


async def test_same_seed_injects_the_same_faults() -> None:
    async def codes(seed: int) -> list[int]:
        async with _simulator(SimulatorConfig(fail_rate=0.5, seed=seed)) as http:
            return [(await http.get("/api/orders/1")).status_code for _ in range(20)]

    first = await codes(7)
    assert first == await codes(7)
    assert set(first) == {204, 500}


async def test_stats_object_is_shared_with_the_app() -> None:
    app = create_app(SimulatorConfig(fail_rate=1.0))
    async with serve_app(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        await http.get("/api/orders/12345678903")
    stats = get_stats(app)
    assert (stats.gets, stats.failed) == (1, 1)
    assert app.state.stats is stats


# ---- auto_register --------------------------------------------------------------------------


async def test_auto_register_gives_a_newcomer_points(simulator: Simulator) -> None:
    config = SimulatorConfig(auto_register=True, registered_for=0, processing_for=0, seed=1)
    async with simulator(config) as http:
        numbers = [luhn_number(f"7{i:09d}") for i in range(5)]
        for number in numbers:
            answer = (await http.get(f"/api/orders/{number}")).json()
            assert answer["order"] == number
            assert answer["status"] == "PROCESSED"
            assert answer["accrual"] > 0
        # Registered for good: asking again gives the same result, registering again is 409.
        assert (await http.get(f"/api/orders/{numbers[0]}")).json()["order"] == numbers[0]
        duplicate = await http.post("/api/orders", json={"order": numbers[0], "goods": []})
        assert duplicate.status_code == 409
        # Only numbers a shop could have made appear.
        assert (await http.get("/api/orders/12345678904")).status_code == 204


async def test_auto_register_orders_also_progress(simulator: Simulator) -> None:
    clock = FakeClock()
    config = SimulatorConfig(auto_register=True, registered_for=1, processing_for=1)
    async with simulator(config, clock=clock) as http:
        first = (await http.get("/api/orders/12345678903")).json()
        assert first == {"order": "12345678903", "status": "REGISTERED"}
        clock.advance(2)
        assert (await http.get("/api/orders/12345678903")).json()["status"] == "PROCESSED"


# ---- our client against it, end to end --------------------------------------------------------


async def test_client_reads_every_kind_of_answer() -> None:
    clock = FakeClock()
    config = SimulatorConfig(rate_limit=3, registered_for=1, processing_for=0)
    app = create_app(config, clock=clock)
    async with serve_app(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        client = AccrualClient(http, base_url.removeprefix("http://") + "/")
        await _add_mechanic(http, "Acme", 5, "%")
        await _add_order(http, "9278923470", [("Телевизор Acme", 14599.50)])

        assert await client.fetch("9278923470") == Answered(
            status="REGISTERED", accrual_kopecks=None
        )
        clock.advance(1)
        assert await client.fetch("9278923470") == Answered(
            status="PROCESSED", accrual_kopecks=72998
        )
        assert await client.fetch("12345678903") == NotRegistered()
        assert await client.fetch("12345678903") == RateLimited(
            retry_after=59.0, limit_per_minute=3
        )


async def test_client_sees_injected_faults_and_latency() -> None:
    failing = create_app(SimulatorConfig(fail_rate=1.0))
    async with serve_app(failing) as base_url, httpx.AsyncClient() as http:
        assert await AccrualClient(http, base_url).fetch("1") == ServerError(status_code=500)

    slow = create_app(SimulatorConfig(latency_ms=150))
    async with serve_app(slow) as base_url, httpx.AsyncClient(timeout=5) as http:
        client = AccrualClient(http, base_url)
        started = time.perf_counter()
        assert await client.fetch("1") == NotRegistered()
        assert time.perf_counter() - started >= 0.15
        outcome = await client.fetch("1")  # a slow answer is still an answer ...
        assert outcome == NotRegistered()
        http.timeout = httpx.Timeout(0.03)
        outcome = await client.fetch("1")  # ... until it is slower than the client waits
    assert isinstance(outcome, Unreachable)
    assert outcome.reason == "timeout"


def test_command_line_sets_the_limit_and_its_window() -> None:
    args = simulator_parser("gophermart accrual").parse_args(
        ["--rate-limit", "6000", "--rate-window", "1", "--fail-rate", "0.3"]
    )
    config = simulator_config(args)
    assert (config.rate_limit, config.rate_window, config.fail_rate) == (6000, 1.0, 0.3)
    default = simulator_config(simulator_parser("gophermart accrual").parse_args([]))
    assert (default.rate_limit, default.rate_window) == (None, 60)


def test_command_line_refuses_an_empty_window() -> None:
    args = simulator_parser("gophermart accrual").parse_args(["--rate-window", "0"])
    with pytest.raises(SettingsError, match="rate_window must be positive"):
        simulator_config(args)
