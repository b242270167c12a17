"""The application factory and the lifespan that owns every long-lived resource."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

import httpx
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gophermart.accrual.client import AccrualClient
from gophermart.accrual.poller import Poller
from gophermart.graphql.app import graphql_routes
from gophermart.migrations import migrate
from gophermart.rest.docs import docs_routes
from gophermart.rest.endpoints import rest_routes
from gophermart.rest.errors import domain_error_handler, http_error_handler
from gophermart.server.context import AppContext, app_context
from gophermart.server.events import follow_rate_limits
from gophermart.server.heap import freeze_startup_objects, release_startup_objects
from gophermart.server.metrics import LatencyMiddleware, Metrics, metrics_endpoint
from gophermart.server.middleware import ErrorMiddleware, RequestBodyMiddleware
from gophermart.server.pubsub import create_pubsub
from gophermart.server.settings import Settings
from gophermart.services.auth import PasswordHasher, TokenCodec, load_or_create_secret
from gophermart.services.errors import DomainError
from gophermart.store.database import Database

logger = logging.getLogger("gophermart")


async def healthz(request: Request) -> Response:
    """Alive: the process answers."""
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Ready: the database answers too."""
    try:
        async with app_context(request).db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        logger.warning("readiness check failed: database unreachable", exc_info=True)
        return PlainTextResponse("database unreachable", status_code=503)
    return PlainTextResponse("ok")


def accrual_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one HTTP client every request to the accrual system goes through."""
    connections = settings.poller.concurrency
    return httpx.AsyncClient(
        timeout=httpx.Timeout(5.0, connect=2.0),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def build_poller(context: AppContext, *, http: httpx.AsyncClient) -> Poller | None:
    settings, metrics = context.settings, context.metrics
    if settings.accrual_address is None:
        return None
    return Poller(
        db=context.db,
        client=AccrualClient(http, settings.accrual_address),
        config=settings.poller,
        on_outcome=lambda label: metrics.accrual_requests.labels(outcome=label).inc(),
        on_pause=metrics.rate_limit_pauses.inc,
        on_rate_limited=context.rate_limited,
        on_change=context.order_changed,
    )


async def _stop_poller(poller: Poller, task: asyncio.Task[None]) -> None:
    poller.stop()
    await task


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings, *, hasher: PasswordHasher | None = None) -> Starlette:
    """Build the ASGI app; nothing touches the database until the lifespan starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database, pool_size=settings.pool_size)
        http = accrual_http_client(settings)
        pubsub = create_pubsub(settings.database)
        try:
            if settings.migrate_on_start:
                await migrate(db)
            secret = settings.secret_key or await load_or_create_secret(db=db)
            context = AppContext(
                settings=settings,
                db=db,
                hasher=hasher or PasswordHasher(),
                tokens=TokenCodec(secret=secret, ttl=settings.token_ttl),
                metrics=Metrics(),
                pubsub=pubsub,
            )
            poller = build_poller(context, http=http)
            app.state.context = context = dataclasses.replace(context, poller=poller)
            logger.info("serving on %s, database %s", settings.base_url, db.target.display)
            async with contextlib.AsyncExitStack() as background:
                if poller is not None:
                    task = asyncio.create_task(poller.run(), name="accrual-poller")
                    background.push_async_callback(_stop_poller, poller, task)
                    pauses = asyncio.create_task(
                        follow_rate_limits(pubsub, poller.limiter.pause_announced),
                        name="accrual-rate-limits",
                    )
                    background.push_async_callback(_cancel, pauses)
                freeze_startup_objects()
                try:
                    yield
                finally:
                    release_startup_objects()
        finally:
            await pubsub.close()
            await http.aclose()
            await db.dispose()

    routes: list[BaseRoute] = [
        *rest_routes(),
        *docs_routes(),
        *graphql_routes(),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(LatencyMiddleware),
            Middleware(ErrorMiddleware),
            Middleware(GZipMiddleware, minimum_size=512),
            Middleware(RequestBodyMiddleware),
        ],
        exception_handlers={
            DomainError: domain_error_handler,
            HTTPException: http_error_handler,
        },
        lifespan=lifespan,
    )
