"""The bundled accrual system: a small Starlette app speaking the original accrual API.

Three endpoints, as the real system (SPEC §4.2): ``POST /api/goods`` registers a reward
mechanic, ``POST /api/orders`` registers a completed order, ``GET /api/orders/{number}``
reports its calculation. ``GET /api/stats`` is ours: counters for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, Protocol

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gophermart.models.money import luhn_valid

RewardType = Literal["%", "pt"]
OrderStatus = Literal["REGISTERED", "PROCESSING", "PROCESSED"]
Clock = Callable[[], float]
"""Seconds on a monotonic scale; only differences matter. A store that outlives the process
converts to and from wall-clock time itself (see ``simulator_store.SqlStore``)."""

RATE_WINDOW_SECONDS = 60
MAX_BODY_BYTES = 1024 * 1024
# Bounds keep Decimal arithmetic far from its context limits, so a hostile number is a 400
# and never an Overflow surfacing as a 500.
MAX_AMOUNT = Decimal(10) ** 12
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the simulator behaves; the defaults are a well-behaved, unlimited system."""

    rate_limit: int | None = None
    """Requests per minute on ``GET /api/orders/{number}``; ``None`` means unlimited."""
    fail_rate: float = 0.0
    """Share of ``GET /api/orders/{number}`` answers that are an injected ``500``."""
    latency_ms: int = 0
    """Added to every ``GET /api/orders/{number}``."""
    registered_for: float = 0.5
    """Seconds an order stays ``REGISTERED``."""
    processing_for: float = 1.0
    """Seconds an order then stays ``PROCESSING`` before it is ``PROCESSED``."""
    auto_register: bool = False
    """Register an unknown Luhn-valid number asked via GET on the spot, with random goods."""
    seed: int | None = None
    """Seeds fault injection and generated goods, for reproducible runs."""
    rate_window: float = RATE_WINDOW_SECONDS
    """Seconds in a rate-limit window: a minute, as the 429 body says. Tests shorten it to
    see several windows quickly; the rate admitted stays ``rate_limit`` a minute."""

    def __post_init__(self) -> None:
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError(f"rate_limit must be at least 1 or None, got {self.rate_limit}")
        if self.rate_window <= 0:
            raise ValueError(f"rate_window must be positive, got {self.rate_window}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within [0, 1], got {self.fail_rate}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, got {self.latency_ms}")
        if self.registered_for < 0 or self.processing_for < 0:
            raise ValueError("registered_for and processing_for must not be negative")


@dataclass(frozen=True, slots=True)
class Mechanic:
    """Goods whose description contains ``match`` earn ``reward`` percent or points."""

    match: str
    reward: Decimal
    reward_type: RewardType

    def reward_for(self, price: Decimal) -> Decimal:
        return price * self.reward / 100 if self.reward_type == "%" else self.reward


@dataclass(frozen=True, slots=True)
class Good:
    description: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class RegisteredOrder:
    """An order as registered; its status is derived from ``registered_at`` and the clock."""

    number: str
    registered_at: float
    accrual: Decimal
    """Already rounded to kopecks: fixed at registration, so a final answer never changes."""


@dataclass(slots=True)
class SimulatorStats:
    """Counters of ``GET /api/orders/{number}``, read by tests and benchmarks."""

    gets: int = 0
    rate_limited: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"gets": self.gets, "rate_limited": self.rate_limited, "failed": self.failed}


class SimulatorStore(Protocol):
    """Where mechanics and orders live; async so that a database-backed store fits as is."""

    async def add_mechanic(self, mechanic: Mechanic) -> bool:
        """Add the mechanic unless one with the same match exists; ``False`` then."""
        ...

    async def list_mechanics(self) -> Sequence[Mechanic]:
        """All mechanics in registration order."""
        ...

    async def add_order(self, order: RegisteredOrder) -> bool:
        """Add the order unless its number is registered; ``False`` then."""
        ...

    async def get_order(self, number: str) -> RegisteredOrder | None: ...


StoreOpener = Callable[[Clock], AbstractAsyncContextManager[SimulatorStore]]
"""Opens a store for the app's lifespan, on the app's clock, and closes it at shutdown."""


class MemoryStore:
    """The default store: state lives as long as the process."""

    def __init__(self, *, mechanics: Iterable[Mechanic] = ()) -> None:
        # dicts keep insertion order, which is the "first matching mechanic" order.
        self._mechanics: dict[str, Mechanic] = {m.match: m for m in mechanics}
        self._orders: dict[str, RegisteredOrder] = {}

    async def add_mechanic(self, mechanic: Mechanic) -> bool:
        if mechanic.match in self._mechanics:
            return False
        self._mechanics[mechanic.match] = mechanic
        return True

    async def list_mechanics(self) -> Sequence[Mechanic]:
        return tuple(self._mechanics.values())

    async def add_order(self, order: RegisteredOrder) -> bool:
        if order.number in self._orders:
            return False
        self._orders[order.number] = order
        return True

    async def get_order(self, number: str) -> RegisteredOrder | None:
        return self._orders.get(number)


class _UnopenedStore:
    """Stands in until the lifespan has opened the real store; no request gets here, since
    uvicorn serves only after start-up."""

    def _fail(self) -> RuntimeError:
        return RuntimeError("the simulator's store opens with the app's lifespan")

    async def add_mechanic(self, mechanic: Mechanic) -> bool:
        raise self._fail()

    async def list_mechanics(self) -> Sequence[Mechanic]:
        raise self._fail()

    async def add_order(self, order: RegisteredOrder) -> bool:
        raise self._fail()

    async def get_order(self, number: str) -> RegisteredOrder | None:
        raise self._fail()


class FixedWindowLimiter:
    """At most ``limit`` admissions a minute, counted in fixed windows, for the whole service.

    The window is a minute, as announced; tests may shorten it, and then admit the same rate
    (``limit * window / 60`` per window) so that a client pacing itself at the announced
    ``N`` per minute stays within it.
    """

    def __init__(self, *, limit: int, clock: Clock, window: float = RATE_WINDOW_SECONDS) -> None:
        self._limit = limit
        self._per_window = max(1, round(limit * window / RATE_WINDOW_SECONDS))
        self._window = window
        self._clock = clock
        self._window_start: float | None = None
        self._count = 0

    @property
    def limit(self) -> int:
        return self._limit

    def admit(self) -> int | None:
        """``None`` when admitted, else the whole seconds (at least 1) until the window ends."""
        now = self._clock()
        if self._window_start is None or now >= self._window_start + self._window:
            self._window_start = now
            self._count = 0
        if self._count < self._per_window:
            self._count += 1
            return None
        return max(1, math.ceil(self._window_start + self._window - now))


def compute_accrual(*, goods: Sequence[Good], mechanics: Sequence[Mechanic]) -> Decimal:
    """Sum over goods of the first matching mechanic's reward, rounded half-up to kopecks."""
    total = Decimal(0)
    for good in goods:
        mechanic = next((m for m in mechanics if m.match in good.description), None)
        if mechanic is not None:
            total += mechanic.reward_for(good.price)
    return total.quantize(_CENT, rounding=ROUND_HALF_UP)


def status_at(*, order: RegisteredOrder, now: float, config: SimulatorConfig) -> OrderStatus:
    elapsed = now - order.registered_at
    if elapsed < config.registered_for:
        return "REGISTERED"
    if elapsed < config.registered_for + config.processing_for:
        return "PROCESSING"
    return "PROCESSED"


class BadRequest(Exception):
    """A malformed request body; answered ``400`` with the message as plain text."""


def _reject_constant(name: str) -> Decimal:
    raise BadRequest(f"{name} is not a number")


def _parse_json_object(body: bytes) -> dict[str, object]:
    try:
        # Decimal keeps prices such as 14599.50 exact, so 729.975 really rounds up.
        payload: object = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    return payload


def _parse_amount(value: object, *, field: str) -> Decimal:
    # bool is an int subclass: `true` must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise BadRequest(f"{field} must be a number")
    amount = Decimal(value)
    if abs(amount) > MAX_AMOUNT:
        raise BadRequest(f"{field} is too large")
    return amount


def _parse_string(value: object, *, field: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string")
    return value


def parse_mechanic(body: bytes) -> Mechanic:
    payload = _parse_json_object(body)
    match = _parse_string(payload.get("match"), field="match")
    if not match.strip():
        raise BadRequest("match must not be empty")
    reward = _parse_amount(payload.get("reward"), field="reward")
    if reward <= 0:
        raise BadRequest("reward must be greater than zero")
    reward_type = payload.get("reward_type")
    if reward_type == "%":
        return Mechanic(match=match, reward=reward, reward_type="%")
    if reward_type == "pt":
        return Mechanic(match=match, reward=reward, reward_type="pt")
    raise BadRequest('reward_type must be "%" or "pt"')


def parse_order(body: bytes) -> tuple[str, list[Good]]:
    payload = _parse_json_object(body)
    number = _parse_string(payload.get("order"), field="order")
    if not luhn_valid(number):
        raise BadRequest("order must be a digit string that passes the Luhn check")
    raw_goods = payload.get("goods")
    if not isinstance(raw_goods, list):
        raise BadRequest("goods must be a list")
    goods: list[Good] = []
    for raw in raw_goods:
        if not isinstance(raw, dict):
            raise BadRequest("each good must be an object")
        description = _parse_string(raw.get("description"), field="description")
        price = _parse_amount(raw.get("price"), field="price")
        if price < 0:
            raise BadRequest("price must not be negative")
        goods.append(Good(description=description, price=price))
    return number, goods


# What a newcomer's auto-registered orders are made of. Every item matches one of the house
# mechanics below, so each such order earns points without any set-up call.
_CATALOG: tuple[str, ...] = (
    "Чайник Tefal",
    "Чипсы Pringles бекон",
    "Напиток Coca-Cola Zero 0.5л",
    "Телевизор Acme",
    "Стиральная машинка LG",
)
_HOUSE_MECHANICS: tuple[Mechanic, ...] = (
    Mechanic(match="Pringles", reward=Decimal(10), reward_type="%"),
    Mechanic(match="Coca-Cola", reward=Decimal("12.5"), reward_type="pt"),
    Mechanic(match="Acme", reward=Decimal(5), reward_type="%"),
    Mechanic(match="Tefal", reward=Decimal(3), reward_type="%"),
    Mechanic(match="LG", reward=Decimal(100), reward_type="pt"),
)


def _random_goods(rng: random.Random) -> list[Good]:
    return [
        Good(description=rng.choice(_CATALOG), price=Decimal(rng.randrange(100, 5_000_000)) / 100)
        for _ in range(rng.randint(1, 3))
    ]


def _render_order(*, order: RegisteredOrder, status: OrderStatus) -> Response:
    # Written by hand because json.dumps cannot emit a Decimal as a number, and a float
    # would be money as float. Decimal("500.00").normalize() prints as 500, like the original.
    fields = [f'"order":{json.dumps(order.number)}', f'"status":"{status}"']
    if status == "PROCESSED" and order.accrual > 0:
        fields.append(f'"accrual":{order.accrual.normalize():f}')
    return Response("{" + ",".join(fields) + "}", media_type="application/json")


class _Simulator:
    """The endpoints, bound to one app's config, store, clock and counters."""

    def __init__(self, *, config: SimulatorConfig, store: SimulatorStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.stats = SimulatorStats()
        self.limiter = (
            None
            if config.rate_limit is None
            else FixedWindowLimiter(limit=config.rate_limit, clock=clock, window=config.rate_window)
        )
        # Separate streams: generated goods must not shift which answers fail.
        self.fault_rng = random.Random(None if config.seed is None else f"faults-{config.seed}")
        self.goods_rng = random.Random(None if config.seed is None else f"goods-{config.seed}")

    async def post_goods(self, request: Request) -> Response:
        mechanic = parse_mechanic(await request.body())
        if not await self.store.add_mechanic(mechanic):
            return PlainTextResponse("mechanic with this match already exists", status_code=409)
        return Response(status_code=200)

    async def post_order(self, request: Request) -> Response:
        number, goods = parse_order(await request.body())
        if not await self._register(number=number, goods=goods):
            return PlainTextResponse("order is already registered", status_code=409)
        return Response(status_code=202)

    async def get_order(self, request: Request) -> Response:
        self.stats.gets += 1
        if self.config.latency_ms:
            await anyio.sleep(self.config.latency_ms / 1000)
        if self.limiter is not None:
            retry_after = self.limiter.admit()
            if retry_after is not None:
                self.stats.rate_limited += 1
                return PlainTextResponse(
                    f"No more than {self.limiter.limit} requests per minute allowed",
                    status_code=429,
                    headers={"Retry-After": str(retry_after)},
                )
        if self.config.fail_rate and self.fault_rng.random() < self.config.fail_rate:
            self.stats.failed += 1
            return PlainTextResponse("injected internal error", status_code=500)

        number: str = request.path_params["number"]
        order = await self.store.get_order(number)
        if order is None and self.config.auto_register and luhn_valid(number):
            # A concurrent GET may register it first; either way the stored order wins.
            await self._register(number=number, goods=_random_goods(self.goods_rng))
            order = await self.store.get_order(number)
        if order is None:
            return Response(status_code=204)
        status = status_at(order=order, now=self.clock(), config=self.config)
        return _render_order(order=order, status=status)

    async def get_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats.as_dict())

    async def _register(self, *, number: str, goods: Sequence[Good]) -> bool:
        mechanics = await self.store.list_mechanics()
        accrual = compute_accrual(goods=goods, mechanics=mechanics)
        order = RegisteredOrder(number=number, registered_at=self.clock(), accrual=accrual)
        return await self.store.add_order(order)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(str(exc), status_code=400)


def create_app(
    config: SimulatorConfig,
    *,
    store: SimulatorStore | None = None,
    open_store: StoreOpener | None = None,
    clock: Clock = time.monotonic,
) -> Starlette:
    """Build the simulator app; its counters are at ``app.state.stats`` (see `get_stats`).

    State lives in ``store``, or in the store ``open_store(clock)`` opens for the lifespan
    (a database: nothing touches it before start-up), or else in memory.
    With ``auto_register`` and no ``store`` given, the store starts with a few house
    mechanics (Pringles, Coca-Cola, Acme, Tefal, LG) so that generated orders earn points;
    an opened store keeps any mechanic already registered under one of those matches.
    """
    if store is not None and open_store is not None:
        raise ValueError("give store or open_store, not both")
    if store is None:
        store = (
            _UnopenedStore()
            if open_store is not None
            else MemoryStore(mechanics=_HOUSE_MECHANICS if config.auto_register else ())
        )
    simulator = _Simulator(config=config, store=store, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if open_store is None:
            yield
            return
        async with open_store(clock) as opened:
            if config.auto_register:
                for mechanic in _HOUSE_MECHANICS:
                    await opened.add_mechanic(mechanic)
            simulator.store = opened
            try:
                yield
            finally:
                simulator.store = _UnopenedStore()

    app = Starlette(
        routes=[
            Route("/api/goods", simulator.post_goods, methods=["POST"]),
            Route("/api/orders", simulator.post_order, methods=["POST"]),
            Route("/api/orders/{number}", simulator.get_order, methods=["GET"]),
            Route("/api/stats", simulator.get_stats, methods=["GET"]),
        ],
        exception_handlers={BadRequest: _bad_request},
        max_body_size=MAX_BODY_BYTES,
        lifespan=lifespan,
    )
    app.state.stats = simulator.stats
    return app


def get_stats(app: Starlette) -> SimulatorStats:
    """The typed view of ``app.state.stats`` for an app built by `create_app`."""
    stats = getattr(app.state, "stats", None)
    if not isinstance(stats, SimulatorStats):
        raise TypeError("not a simulator app: app.state.stats is missing")
    return stats
