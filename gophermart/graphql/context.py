"""What every resolver sees, built in one place for HTTP requests and WebSocket connections.

The principal comes from the same ``services.auth.authenticate`` the REST endpoints use, fed by
``server.auth.presented_token`` (Authorization header, else the cookie); on a WebSocket the
``connection_init`` payload may present a token too, and then it wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import strawberry
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from gophermart.server.auth import attach_token, presented_token
from gophermart.server.context import AppContext, app_context
from gophermart.services import auth, balance, orders
from gophermart.services.errors import Unauthenticated
from gophermart.services.records import BalanceRecord, IssuedToken, OrderRecord, Principal
from gophermart.store.database import Database


@dataclass(frozen=True)
class Loaders:
    """Batched reads for fields that appear once per list item (one query per list, not N).

    Created per HTTP request, so a cached value never outlives the request; on a WebSocket,
    whose connection lives for hours and sees state change, they batch but do not cache.
    """

    login: DataLoader[uuid.UUID, str | None]
    balance: DataLoader[uuid.UUID, BalanceRecord | None]
    # Keyed by owner too: a user can only ever load their own orders.
    order: DataLoader[tuple[Principal, str], OrderRecord | None]


def build_loaders(db: Database, *, cache: bool) -> Loaders:
    async def load_logins(user_ids: list[uuid.UUID]) -> list[str | None]:
        found = await auth.find_logins(db=db, user_ids=user_ids)
        return [found.get(user_id) for user_id in user_ids]

    async def load_balances(account_ids: list[uuid.UUID]) -> list[BalanceRecord | None]:
        found = await balance.get_balances(db=db, account_ids=account_ids)
        return [found.get(account_id) for account_id in account_ids]

    async def load_orders(keys: list[tuple[Principal, str]]) -> list[OrderRecord | None]:
        numbers_by_owner: dict[Principal, list[str]] = {}
        for owner, number in keys:
            numbers_by_owner.setdefault(owner, []).append(number)
        found: dict[tuple[Principal, str], OrderRecord] = {}
        for owner, numbers in numbers_by_owner.items():  # one owner per request in practice
            records = await orders.find_orders(db=db, principal=owner, numbers=numbers)
            found.update({(owner, number): record for number, record in records.items()})
        return [found.get(key) for key in keys]

    return Loaders(
        login=DataLoader(load_fn=load_logins, cache=cache),
        balance=DataLoader(load_fn=load_balances, cache=cache),
        order=DataLoader(load_fn=load_orders, cache=cache),
    )


@dataclass
class GraphQLContext:
    app: AppContext
    request: Request | WebSocket
    response: Response | None  # None on a WebSocket: nothing to set headers or cookies on
    principal: Principal | None
    loaders: Loaders
    request_id: str
    # Filled in by Strawberry from the WebSocket connection_init message.
    connection_params: dict[str, object] | None = None

    @property
    def db(self) -> Database:
        return self.app.db

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated("sign in first: no valid token was presented")
        return self.principal

    def authenticate_connection(self) -> None:
        """On WebSocket connection_init: a token in the payload replaces the handshake's."""
        token = connection_init_token(self.connection_params or {})
        if token is not None:
            self.principal = principal_from(self.app, token)

    def attach_token(self, token: IssuedToken) -> None:
        """Send a new token back as REST does: Authorization header and HttpOnly cookie."""
        if self.response is None:
            return
        settings = self.app.settings
        attach_token(
            self.response,
            token,
            max_age=int(settings.token_ttl.total_seconds()),
            secure=settings.cookie_secure,
        )


def principal_from(app: AppContext, token: str | None) -> Principal | None:
    """The signed-in user, or None: GraphQL answers per field, not with a 401 per request."""
    try:
        return auth.authenticate(tokens=app.tokens, token=token)
    except Unauthenticated:
        return None


def connection_init_token(params: Mapping[str, object]) -> str | None:
    """``{"Authorization": "Bearer …"}`` (any case) or ``{"token": "…"}``."""
    for key, value in params.items():
        if key.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    bare = params.get("token")
    if isinstance(bare, str) and bare.strip():
        return bare.strip()
    return None


def _request_id(conn: HTTPConnection) -> str:
    # ErrorMiddleware tags HTTP requests; a WebSocket connection gets its own id here.
    state: Mapping[str, object] = conn.scope.get("state") or {}
    request_id = state.get("request_id")
    return request_id if isinstance(request_id, str) else uuid.uuid4().hex


async def get_context(
    request: Request | WebSocket, response: Response | WebSocket
) -> GraphQLContext:
    app = app_context(request)
    is_websocket = isinstance(request, WebSocket)
    return GraphQLContext(
        app=app,
        request=request,
        response=response if isinstance(response, Response) else None,
        principal=principal_from(app, presented_token(request)),
        loaders=build_loaders(app.db, cache=not is_websocket),
        request_id=_request_id(request),
    )


Info = strawberry.Info[GraphQLContext, None]
"""The ``info`` argument of every resolver."""
