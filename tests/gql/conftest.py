"""GraphQL over real HTTP and a real WebSocket, against a server per test (both databases)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from gophermart.server.events import EVENTS_CHANNEL
from gophermart.server.pubsub import PubSub
from gophermart.services.records import Principal
from tests.conftest import RunningApp
from tests.factories import PASSWORD, new_login

REGISTER = """
mutation Register($login: String!, $password: String!) {
  register(login: $login, password: $password) {
    __typename
    ... on AuthSuccess { token user { login } }
    ... on Error { message }
    ... on ValidationError { field }
  }
}
"""


class GraphQLClient:
    """POSTs operations to /graphql; every answer must be a 200 with a JSON body."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.post(query, variables, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def post(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        return await self.http.post("/graphql", json=payload, headers=headers)

    async def data(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``data`` of an answer that must have no errors."""
        body = await self.execute(query, variables, headers=headers)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def sign_up(self, login: str | None = None) -> dict[str, str]:
        """Register through GraphQL; the headers that authenticate as the new user."""
        data = await self.data(REGISTER, {"login": login or new_login(), "password": PASSWORD})
        assert data["register"]["__typename"] == "AuthSuccess", data
        # Tests present the token explicitly: the cookie would sign in every later request.
        self.http.cookies.clear()
        return {"Authorization": f"Bearer {data['register']['token']}"}


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


def principal_of(running_app: RunningApp, headers: Mapping[str, str]) -> Principal:
    return running_app.context.tokens.decode(headers["Authorization"].removeprefix("Bearer "))


def error_codes(body: Mapping[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


@dataclass
class TransportWS:
    """A graphql-transport-ws client, spoken by hand over the ``websockets`` library."""

    ws: ClientConnection

    async def send(self, message: Mapping[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def subscribe(
        self, operation_id: str, query: str, variables: Mapping[str, Any] | None = None
    ) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def complete(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "complete"})


def ws_url(running_app: RunningApp) -> str:
    return running_app.base_url.replace("http://", "ws://", 1) + "/graphql"


OpenWS = Callable[..., contextlib.AbstractAsyncContextManager[TransportWS]]


@pytest.fixture
def open_ws(running_app: RunningApp) -> OpenWS:
    """``async with open_ws(payload=..., headers=...) as ws``: connected and acknowledged."""

    @contextlib.asynccontextmanager
    async def opener(
        *,
        payload: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[TransportWS]:
        async with connect(
            ws_url(running_app),
            subprotocols=[Subprotocol("graphql-transport-ws")],
            additional_headers=dict(headers or {}),
        ) as ws:
            client = TransportWS(ws)
            init: dict[str, Any] = {"type": "connection_init"}
            if payload is not None:
                init["payload"] = payload
            await client.send(init)
            assert (await client.receive())["type"] == "connection_ack"
            yield client

    return opener


async def wait_for_subscribers(pubsub: PubSub, count: int, *, timeout: float = 5.0) -> None:
    """Until ``count`` subscribers listen to the events channel (so a publish now reaches them)."""
    deadline = time.monotonic() + timeout
    while pubsub.subscriber_count(EVENTS_CHANNEL) != count:
        assert time.monotonic() < deadline, (
            f"{pubsub.subscriber_count(EVENTS_CHANNEL)} subscribers, expected {count}"
        )
        await asyncio.sleep(0.01)
