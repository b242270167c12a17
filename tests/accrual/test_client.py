"""The accrual client against scripted transports (httpx.MockTransport) and a closed port."""

from __future__ import annotations

import math
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from fractions import Fraction

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gophermart.accrual.client import (
    DEFAULT_RETRY_AFTER,
    AccrualClient,
    AccrualOutcome,
    AccrualStatus,
    Answered,
    NotRegistered,
    RateLimited,
    ServerError,
    Unreachable,
    normalize_base_url,
    parse_limit_per_minute,
    parse_retry_after,
)

NUMBER = "12345678903"
Handler = Callable[[httpx.Request], httpx.Response]


async def fetch_with(
    handler: Handler, *, number: str = NUMBER, base_url: str = "http://accrual.test"
) -> AccrualOutcome:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        return await AccrualClient(http, base_url).fetch(number)


def answering(status_code: int, body: bytes = b"", **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status_code, content=body, headers=headers)

    return handler


def answering_json(text: str) -> Handler:
    return answering(200, text.encode(), **{"Content-Type": "application/json"})


# ---- 200 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["REGISTERED", "INVALID", "PROCESSING", "PROCESSED"])
async def test_each_status_is_answered(status: AccrualStatus) -> None:
    outcome = await fetch_with(answering_json(f'{{"order": "{NUMBER}", "status": "{status}"}}'))
    assert outcome == Answered(status=status, accrual_kopecks=None)


@pytest.mark.parametrize(
    ("accrual", "kopecks"),
    [
        ("500", 50000),
        ("729.98", 72998),
        ("729.975", 72998),  # as a float 729.97499999…, which would round down
        ("27.25", 2725),
        ("0.005", 1),
        ("0.00499999999999999999999999999999", 0),  # more digits than Decimal's precision
        ("1e2", 10000),
        ("7.29975E2", 72998),
        ("0", 0),
        ("-0.0", 0),
    ],
)
async def test_accrual_is_rounded_half_up_to_kopecks(accrual: str, kopecks: int) -> None:
    body = f'{{"order": "{NUMBER}", "status": "PROCESSED", "accrual": {accrual}}}'
    assert await fetch_with(answering_json(body)) == Answered(
        status="PROCESSED", accrual_kopecks=kopecks
    )


accruals = st.one_of(
    # Three places hit the exact halves (x.xx5) that half-up and half-even disagree on.
    st.decimals(min_value=0, max_value=10**12, places=3),
    st.builds(
        lambda digits, places: Decimal(digits).scaleb(-places),
        st.integers(min_value=0, max_value=10**15),
        st.integers(min_value=0, max_value=30),
    ),
)


@settings(deadline=None, max_examples=150)
@given(accruals)
async def test_rounding_matches_exact_half_up(value: Decimal) -> None:
    body = f'{{"order": "{NUMBER}", "status": "PROCESSED", "accrual": {value:f}}}'
    outcome = await fetch_with(answering_json(body))
    # The reference is exact rational arithmetic, independent of Decimal's rounding modes.
    expected = math.floor(Fraction(value) * 100 + Fraction(1, 2))
    assert outcome == Answered(status="PROCESSED", accrual_kopecks=expected)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("", id="empty"),
        pytest.param("[]", id="not-an-object"),
        pytest.param('{"order": "1", "status": "PROCESSED"}', id="another-order"),
        pytest.param('{"status": "PROCESSED"}', id="order-missing"),
        pytest.param(f'{{"order": {NUMBER}, "status": "PROCESSED"}}', id="order-a-number"),
        pytest.param(f'{{"order": "{NUMBER}"}}', id="status-missing"),
        pytest.param(f'{{"order": "{NUMBER}", "status": "NEW"}}', id="status-unknown"),
        pytest.param(f'{{"order": "{NUMBER}", "status": 1}}', id="status-not-string"),
        pytest.param(
            f'{{"order": "{NUMBER}", "status": "PROCESSED", "accrual": -1}}', id="negative"
        ),
        pytest.param(
            f'{{"order": "{NUMBER}", "status": "PROCESSED", "accrual": "5"}}', id="string"
        ),
        pytest.param(f'{{"order": "{NUMBER}", "status": "PROCESSED", "accrual": true}}', id="bool"),
        pytest.param(f'{{"order": "{NUMBER}", "status": "PROCESSED", "accrual": NaN}}', id="nan"),
        pytest.param(
            f'{{"order": "{NUMBER}", "status": "PROCESSED", "accrual": Infinity}}', id="infinity"
        ),
        pytest.param(
            f'{{"order": "{NUMBER}", "status": "PROCESSED", "accrual": 1e999999999}}', id="huge"
        ),
    ],
)
async def test_unexpected_200_body_is_a_protocol_error(body: str) -> None:
    outcome = await fetch_with(answering_json(body))
    assert isinstance(outcome, Unreachable)
    assert outcome.reason == "protocol"
    assert outcome.detail


# ---- other statuses -------------------------------------------------------------------------


async def test_204_is_not_registered() -> None:
    assert await fetch_with(answering(204)) == NotRegistered()


@pytest.mark.parametrize("status_code", [500, 502, 503, 504, 400, 404, 301, 418])
async def test_other_statuses_are_server_errors(status_code: int) -> None:
    assert await fetch_with(answering(status_code)) == ServerError(status_code=status_code)


async def test_429_with_seconds_and_limit() -> None:
    outcome = await fetch_with(
        answering(429, b"No more than 5 requests per minute allowed", **{"Retry-After": "17"})
    )
    assert outcome == RateLimited(retry_after=17.0, limit_per_minute=5)


async def test_429_with_an_http_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    outcome = await fetch_with(
        answering(429, b"busy", **{"Retry-After": format_datetime(later, usegmt=True)})
    )
    assert isinstance(outcome, RateLimited)
    assert 117 <= outcome.retry_after <= 120  # the date has whole seconds
    assert outcome.limit_per_minute is None


async def test_429_without_retry_after_waits_a_window() -> None:
    outcome = await fetch_with(answering(429, b"No more than 60 requests per minute allowed\n"))
    assert outcome == RateLimited(retry_after=DEFAULT_RETRY_AFTER, limit_per_minute=60)


NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("30", 30.0),
        (" 30 ", 30.0),
        ("Wed, 01 May 2024 12:01:30 GMT", 90.0),
        ("Wed, 01 May 2024 15:01:30 +0300", 90.0),
        ("Wed, 01 May 2024 12:01:30 -0000", 90.0),  # zone "unknown": HTTP-dates are GMT
        ("Wed, 01 May 2024 11:59:00 GMT", 0.0),  # already past
        (None, DEFAULT_RETRY_AFTER),
        ("", DEFAULT_RETRY_AFTER),
        ("soon", DEFAULT_RETRY_AFTER),
        ("-5", DEFAULT_RETRY_AFTER),
        ("1.5", DEFAULT_RETRY_AFTER),
        ("٣", DEFAULT_RETRY_AFTER),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        ("No more than 100 requests per minute allowed", 100),
        ("  No more than 1 requests per minute allowed\r\n", 1),
        ("No more than 0 requests per minute allowed", None),
        ("No more than many requests per minute allowed", None),
        ("No more than 10 requests per second allowed", None),
        ("Too Many Requests", None),
        ("", None),
    ],
)
def test_parse_limit_per_minute(body: str, limit: int | None) -> None:
    assert parse_limit_per_minute(body) == limit


# ---- the request ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "number", "expected"),
    [
        ("localhost:8081", NUMBER, f"http://localhost:8081/api/orders/{NUMBER}"),
        ("http://localhost:8081/", NUMBER, f"http://localhost:8081/api/orders/{NUMBER}"),
        ("https://acc.test/v1/", NUMBER, f"https://acc.test/v1/api/orders/{NUMBER}"),
        ("http://acc.test", "12/../3 4", "http://acc.test/api/orders/12%2F..%2F3%204"),
    ],
)
async def test_request_url(base_url: str, number: str, expected: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    await fetch_with(handler, base_url=base_url, number=number)
    assert [(r.method, str(r.url)) for r in seen] == [("GET", expected)]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("localhost:8081", "http://localhost:8081"),
        ("  localhost:8081/ ", "http://localhost:8081"),
        (":8081", "http://localhost:8081"),
        ("HTTP://Acc.Test:80//", "http://Acc.Test:80"),
        ("https://acc.test/prefix/", "https://acc.test/prefix"),
        ("[::1]:8081", "http://[::1]:8081"),
        ("accrual", "http://accrual"),
    ],
)
def test_normalize_base_url(address: str, expected: str) -> None:
    assert normalize_base_url(address) == expected


@pytest.mark.parametrize(
    "address",
    ["", "   ", "ftp://acc.test", "http://", "acc test:80", "acc.test:port", "acc.test:70000",
     "acc.test:0", "http://acc.test/?x=1", "http://acc.test/#top"],
)  # fmt: skip
def test_normalize_base_url_rejects_garbage(address: str) -> None:
    with pytest.raises(ValueError, match="accrual system address"):
        normalize_base_url(address)


# ---- transport failures ---------------------------------------------------------------------


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.ConnectTimeout(""), "timeout"),
        (httpx.PoolTimeout("pool"), "timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connect"),
        (httpx.RemoteProtocolError("peer closed connection"), "protocol"),
        (httpx.ReadError("reset"), "protocol"),
        (httpx.DecodingError("bad gzip"), "protocol"),
    ],
)
async def test_transport_errors_are_unreachable(exc: Exception, reason: str) -> None:
    outcome = await fetch_with(raising(exc))
    assert isinstance(outcome, Unreachable)
    assert outcome.reason == reason
    assert type(exc).__name__ in outcome.detail


async def test_refused_connection_is_unreachable() -> None:
    # A port that was just free and has no listener: the kernel refuses at once.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient(timeout=2) as http:
        outcome = await AccrualClient(http, f"127.0.0.1:{port}").fetch(NUMBER)
    assert isinstance(outcome, Unreachable)
    assert outcome.reason == "connect"


async def test_garbage_base_url_fails_at_construction() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="accrual system address"):
            AccrualClient(http, "not a url")
