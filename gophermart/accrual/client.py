"""A typed client of the accrual system's ``GET /api/orders/{number}`` (SPEC §4.1).

Every answer, and every way of not getting one, is a value of `AccrualOutcome`: the poller
matches on it and never sees an httpx exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from email.utils import parsedate_to_datetime
from typing import Literal, TypeAlias
from urllib.parse import quote, urlsplit

import httpx

AccrualStatus = Literal["REGISTERED", "INVALID", "PROCESSING", "PROCESSED"]

DEFAULT_RETRY_AFTER = 60.0
"""Seconds to wait after a 429 whose Retry-After is missing or unreadable: one rate window."""

_CENT = Decimal("0.01")
# Kopecks are stored as BIGINT; anything larger cannot be a genuine accrual. Compared, never
# multiplied: arithmetic on a JSON number like 1e999999999 would trap with decimal.Overflow.
_MAX_ACCRUAL = Decimal(2**63 - 1) * _CENT
_LIMIT_BODY = re.compile(r"No more than (\d+) requests per minute allowed")
# hostname comes without the brackets of an IPv6 literal.
_HOST = re.compile(r"[A-Za-z0-9._~-]+|[0-9A-Fa-f:.]+")


@dataclass(frozen=True, slots=True)
class Answered:
    """``200``: the accrual system knows the order; ``accrual_kopecks`` is None when absent."""

    status: AccrualStatus
    accrual_kopecks: int | None


@dataclass(frozen=True, slots=True)
class NotRegistered:
    """``204``: the order is not registered there (yet)."""


@dataclass(frozen=True, slots=True)
class RateLimited:
    """``429``: send nothing for ``retry_after`` seconds, then at most N requests a minute."""

    retry_after: float
    limit_per_minute: int | None


@dataclass(frozen=True, slots=True)
class ServerError:
    """A ``5xx`` or any status the protocol does not define."""

    status_code: int


@dataclass(frozen=True, slots=True)
class Unreachable:
    """No usable answer: a timeout, a refused connection, or a transport/protocol fault."""

    reason: Literal["timeout", "connect", "protocol"]
    detail: str


AccrualOutcome: TypeAlias = Answered | NotRegistered | RateLimited | ServerError | Unreachable


def normalize_base_url(address: str) -> str:
    """``http://host:port[/prefix]`` without a trailing slash; a bare ``host:port`` means http.

    ``:8081`` means this machine, as it does for the listen address.
    """
    text = address.strip()
    if not text:
        raise ValueError("accrual system address is empty")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"accrual system address {address!r}: scheme must be http or https")
    netloc = f"localhost{parts.netloc}" if parts.netloc.startswith(":") else parts.netloc
    parts = parts._replace(netloc=netloc)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"accrual system address {address!r}: bad port") from exc
    if port == 0:
        raise ValueError(f"accrual system address {address!r}: bad port")
    if parts.hostname is None or not _HOST.fullmatch(parts.hostname):
        raise ValueError(f"accrual system address {address!r}: expected host:port")
    if parts.query or parts.fragment:
        raise ValueError(f"accrual system address {address!r}: must not have a query or fragment")
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def parse_retry_after(value: str | None, *, now: datetime) -> float:
    """Seconds to wait: Retry-After is delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return DEFAULT_RETRY_AFTER
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return DEFAULT_RETRY_AFTER
    if moment.tzinfo is None:
        # "-0000" parses as naive: RFC 5322 says the zone is unknown; HTTP-dates are GMT.
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def parse_limit_per_minute(body: str) -> int | None:
    """The N of ``No more than N requests per minute allowed``; None if absent or zero."""
    found = _LIMIT_BODY.fullmatch(body.strip())
    if found is None:
        return None
    limit = int(found.group(1))
    # A limit of 0 would make a pace of "never"; better to fall back to Retry-After alone.
    return limit or None


class _Malformed(Exception):
    """A 200 whose body is not the protocol's JSON."""


def _reject_constant(name: str) -> object:
    raise _Malformed(f"{name} is not a valid accrual")


def _to_kopecks(value: object) -> int:
    # bool is an int subclass: `true` is not an accrual.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _Malformed(f"accrual {value!r} is not a number")
    amount = Decimal(value)
    if amount < 0:
        raise _Malformed(f"accrual {value} is negative")
    if amount > _MAX_ACCRUAL:
        raise _Malformed(f"accrual {value} is out of range")
    # quantize rounds from the exact value, however many digits the JSON number had.
    return int(amount.quantize(_CENT, rounding=ROUND_HALF_UP).scaleb(2))


def _parse_answer(*, content: bytes, number: str) -> Answered:
    try:
        # parse_float=Decimal keeps 729.975 as written; a float would be 729.97499… and round down.
        payload: object = json.loads(content, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _Malformed("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise _Malformed("body is not a JSON object")
    if payload.get("order") != number:
        raise _Malformed(f"answer is for order {payload.get('order')!r}, not {number!r}")
    accrual = payload.get("accrual")
    kopecks = None if accrual is None else _to_kopecks(accrual)
    return Answered(status=_as_status(payload.get("status")), accrual_kopecks=kopecks)


def _as_status(status: object) -> AccrualStatus:
    match status:
        case "REGISTERED" | "INVALID" | "PROCESSING" | "PROCESSED":
            return status
    raise _Malformed(f"unknown status {status!r}")


class AccrualClient:
    """Asks the accrual system about orders through one shared ``httpx.AsyncClient``.

    Timeouts, limits and connection pooling are the shared client's; this class only builds
    the URL and turns each answer into an `AccrualOutcome`.
    """

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base_url = normalize_base_url(base_url)

    @property
    def base_url(self) -> str:
        return self._base_url

    async def fetch(self, number: str) -> AccrualOutcome:
        """What the accrual system says about ``number``; never raises for network faults."""
        url = f"{self._base_url}/api/orders/{quote(number, safe='')}"
        try:
            response = await self._http.get(url)
        except httpx.TimeoutException as exc:
            return Unreachable(reason="timeout", detail=_describe(exc))
        except httpx.ConnectError as exc:
            return Unreachable(reason="connect", detail=_describe(exc))
        except httpx.RequestError as exc:
            return Unreachable(reason="protocol", detail=_describe(exc))
        return _outcome(response=response, number=number)


def _outcome(*, response: httpx.Response, number: str) -> AccrualOutcome:
    match response.status_code:
        case 200:
            try:
                return _parse_answer(content=response.content, number=number)
            except _Malformed as exc:
                return Unreachable(reason="protocol", detail=f"200 with a bad body: {exc}")
        case 204:
            return NotRegistered()
        case 429:
            return RateLimited(
                retry_after=parse_retry_after(
                    response.headers.get("Retry-After"), now=datetime.now(UTC)
                ),
                limit_per_minute=parse_limit_per_minute(response.text),
            )
        case code:
            return ServerError(status_code=code)


def _describe(exc: httpx.RequestError) -> str:
    # Some httpx errors (e.g. a bare ReadTimeout) carry an empty message.
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
