"""The bare floor for the two hottest reads: Starlette + an asyncpg pool + pyjwt + orjson.

The same work as the service's GET /api/user/balance and GET /api/user/orders — decode the
same HS256 token, the same query (a primary-key read of ``loyalty_account``; a user's orders
newest first), the same JSON body — with nothing else in between (no SQLAlchemy, no
services, no middleware). ``python -m bench`` runs it under uvicorn with the server's worker
count and prints the service's req/s as a ratio of this one's.

Run by hand: ``BASELINE_DSN=postgresql://… BASELINE_SECRET=… uvicorn bench.baseline:create_app
--factory``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BALANCE = "SELECT balance, withdrawn FROM loyalty_account WHERE id = $1"
ORDERS = (
    'SELECT number, status, accrual, uploaded_at FROM "order" WHERE user_id = $1 '
    "ORDER BY uploaded_at DESC, id DESC"
)
UNAUTHORIZED = Response(b'{"detail":"unauthorized"}', status_code=401)


def _number(kopecks: int) -> int | float:
    return kopecks // 100 if kopecks % 100 == 0 else kopecks / 100


def create_app() -> Starlette:
    dsn = os.environ["BASELINE_DSN"]
    secret = os.environ["BASELINE_SECRET"]
    pool_size = int(os.environ.get("BASELINE_POOL_SIZE", "10"))
    pools: list[asyncpg.Pool] = []

    def claims(request: Request) -> dict[str, str] | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            found: dict[str, str] = jwt.decode(
                token.strip(),
                secret,
                algorithms=["HS256"],
                options={"require": ["exp", "iat", "sub", "acc"]},
            )
        except jwt.PyJWTError:
            return None
        return found

    async def balance(request: Request) -> Response:
        token = claims(request)
        if token is None:
            return UNAUTHORIZED
        row = await pools[0].fetchrow(BALANCE, uuid.UUID(token["acc"]))
        if row is None:
            return UNAUTHORIZED
        body = {"current": _number(row[0]), "withdrawn": _number(row[1])}
        return Response(orjson.dumps(body), media_type="application/json")

    async def orders(request: Request) -> Response:
        token = claims(request)
        if token is None:
            return UNAUTHORIZED
        rows = await pools[0].fetch(ORDERS, uuid.UUID(token["sub"]))
        if not rows:
            return Response(status_code=204)
        body = []
        for number, status, accrual, uploaded_at in rows:
            item = {"number": number, "status": status}
            if accrual:
                item["accrual"] = _number(accrual)
            item["uploaded_at"] = uploaded_at
            body.append(item)
        return Response(
            orjson.dumps(body, option=orjson.OPT_OMIT_MICROSECONDS), media_type="application/json"
        )

    async def healthz(request: Request) -> Response:
        return Response(b"ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        pools.append(pool)
        try:
            yield
        finally:
            await pool.close()

    return Starlette(
        routes=[
            Route("/api/user/balance", balance, methods=["GET"]),
            Route("/api/user/orders", orders, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
