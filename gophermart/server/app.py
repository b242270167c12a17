"""The application factory and the lifespan that owns every long-lived resource."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gophermart.migrations import migrate
from gophermart.rest.docs import docs_routes
from gophermart.rest.endpoints import rest_routes
from gophermart.rest.errors import domain_error_handler, http_error_handler
from gophermart.server.context import AppContext, app_context
from gophermart.server.middleware import ErrorMiddleware, RequestBodyMiddleware
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


def create_app(settings: Settings, *, hasher: PasswordHasher | None = None) -> Starlette:
    """Build the ASGI app; nothing touches the database until the lifespan starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database, pool_size=settings.pool_size)
        try:
            if settings.migrate_on_start:
                await migrate(db)
            secret = settings.secret_key or await load_or_create_secret(db=db)
            app.state.context = AppContext(
                settings=settings,
                db=db,
                hasher=hasher or PasswordHasher(),
                tokens=TokenCodec(secret=secret, ttl=settings.token_ttl),
            )
            logger.info("serving on %s, database %s", settings.base_url, db.target.display)
            yield
        finally:
            await db.dispose()

    routes: list[BaseRoute] = [
        *rest_routes(),
        *docs_routes(),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[
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
