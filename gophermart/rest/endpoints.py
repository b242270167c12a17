"""The seven REST endpoints of SPEC §3: parse → call one service → render."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gophermart.models.money import AmountError, kopecks_to_number, parse_amount
from gophermart.server.auth import attach_token, presented_token
from gophermart.server.context import app_context
from gophermart.services import auth, balance, orders
from gophermart.services.errors import ValidationError
from gophermart.services.records import AuthSession, Principal

JSON = "application/json"


def _json_response(payload: Any) -> Response:
    """``payload`` as JSON; datetimes (timezone-aware UTC) become RFC 3339 to the second,
    ``2020-12-10T15:15:45+00:00``, rendered by orjson itself (``isoformat`` calls took 9 % of
    GET orders' time)."""
    return Response(orjson.dumps(payload, option=orjson.OPT_OMIT_MICROSECONDS), media_type=JSON)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


async def _json_object(request: Request, *, exact_decimals: bool = False) -> dict[str, Any]:
    body = await request.body()
    try:
        if exact_decimals:  # floats would lose the digits the "two decimals" rule is about
            data = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
        else:
            data = orjson.loads(body)
    except ValueError:
        raise ValidationError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object")
    return data


def _string_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise ValidationError(f"{name} is required", field=name)
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    return value


def _principal(request: Request) -> Principal:
    return auth.authenticate(tokens=app_context(request).tokens, token=presented_token(request))


def _signed_in(request: Request, session: AuthSession) -> Response:
    settings = app_context(request).settings
    response = _json_response(
        {
            "token": session.token.token,
            "token_type": "Bearer",
            "expires_at": session.token.expires_at,
        }
    )
    attach_token(
        response,
        session.token,
        max_age=int(settings.token_ttl.total_seconds()),
        secure=settings.cookie_secure,
    )
    return response


async def _sign_in(request: Request, use_case: Callable[..., Awaitable[AuthSession]]) -> Response:
    data = await _json_object(request)
    ctx = app_context(request)
    session = await use_case(
        db=ctx.db,
        hasher=ctx.hasher,
        tokens=ctx.tokens,
        login=_string_field(data, "login"),
        password=_string_field(data, "password"),
    )
    return _signed_in(request, session)


async def register(request: Request) -> Response:
    return await _sign_in(request, auth.register)


async def login(request: Request) -> Response:
    return await _sign_in(request, auth.login)


async def upload_order(request: Request) -> Response:
    principal = _principal(request)
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.split(";")[0].strip().lower() != "text/plain":
        raise ValidationError("the order number must be sent as text/plain")
    body = await request.body()
    ctx = app_context(request)
    result = await orders.upload_order(
        db=ctx.db,
        principal=principal,
        number=body.decode("utf-8", errors="replace"),
        on_created=ctx.order_uploaded,
    )
    return Response(status_code=202 if result.created else 200)


async def list_orders(request: Request) -> Response:
    records = await orders.list_orders(db=app_context(request).db, principal=_principal(request))
    if not records:
        return Response(status_code=204)
    payload = []
    for record in records:
        item: dict[str, Any] = {"number": record.number, "status": record.status}
        if record.accrual:
            item["accrual"] = kopecks_to_number(record.accrual)
        item["uploaded_at"] = record.uploaded_at
        payload.append(item)
    return _json_response(payload)


async def get_balance(request: Request) -> Response:
    record = await balance.get_balance(db=app_context(request).db, principal=_principal(request))
    return _json_response(
        {
            "current": kopecks_to_number(record.current),
            "withdrawn": kopecks_to_number(record.withdrawn),
        }
    )


async def withdraw(request: Request) -> Response:
    principal = _principal(request)
    data = await _json_object(request, exact_decimals=True)
    order = _string_field(data, "order")
    if "sum" not in data:
        raise ValidationError("sum is required", field="sum")
    raw_sum = data["sum"]
    if isinstance(raw_sum, str | bool) or not isinstance(raw_sum, int | Decimal):
        raise ValidationError("sum must be a JSON number", field="sum")
    try:
        amount = parse_amount(raw_sum)
    except AmountError as exc:
        raise ValidationError(f"sum {exc}", field="sum") from None
    ctx = app_context(request)
    await balance.withdraw(db=ctx.db, principal=principal, order=order, amount=amount)
    await ctx.balance_changed(principal.user_id)
    return Response(status_code=200)


async def list_withdrawals(request: Request) -> Response:
    records = await balance.list_withdrawals(
        db=app_context(request).db, principal=_principal(request)
    )
    if not records:
        return Response(status_code=204)
    return _json_response(
        [
            {
                "order": record.order,
                "sum": kopecks_to_number(record.sum),
                "processed_at": record.processed_at,
            }
            for record in records
        ]
    )


Endpoint = Callable[[Request], Awaitable[Response]]


def _route(path: str, handlers: dict[str, Endpoint]) -> Route:
    """One route per path, so a wrong method gets a 405 whose Allow lists every method."""
    if len(handlers) == 1:
        [(method, handler)] = handlers.items()
        return Route(path, handler, methods=[method])

    async def dispatch(request: Request) -> Response:
        return await handlers[request.method](request)

    return Route(path, dispatch, methods=list(handlers))


def rest_routes() -> list[BaseRoute]:
    return [
        _route("/api/user/register", {"POST": register}),
        _route("/api/user/login", {"POST": login}),
        _route("/api/user/orders", {"POST": upload_order, "GET": list_orders}),
        _route("/api/user/balance", {"GET": get_balance}),
        _route("/api/user/balance/withdraw", {"POST": withdraw}),
        _route("/api/user/withdrawals", {"GET": list_withdrawals}),
    ]
