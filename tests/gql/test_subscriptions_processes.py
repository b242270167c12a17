"""An event made by one server process reaches a subscriber connected to another (SPEC §8).

Two ``gophermart`` processes share one PostgreSQL. Only the first can reach the accrual
simulator (the second's accrual address refuses connections), so every status change of the
order is made by the first process's poller; the subscriber is connected to the second.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from gophermart.accrual.simulator import SimulatorConfig
from gophermart.server.events import EVENTS_CHANNEL
from gophermart.store.database import Backend, DatabaseTarget
from tests.accrual.test_poller import simulator
from tests.accrual.test_poller_processes import server_process
from tests.factories import PASSWORD, new_login, order_number
from tests.gql.conftest import REGISTER, TransportWS
from tests.servers import free_port

pytestmark = pytest.mark.slow

ORDER_UPDATED = (
    "subscription { orderUpdated { number status accrual user { balance { current } } } }"
)


async def _wait_until_listening(database: DatabaseTarget, *, timeout: float = 10.0) -> None:
    """Until some server process LISTENs on the events channel (its subscriber is live)."""
    conn = await asyncpg.connect(database.dsn)
    try:
        deadline = time.monotonic() + timeout
        while not await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = $1",
            f'LISTEN "{EVENTS_CHANNEL}"',
        ):
            assert time.monotonic() < deadline, "no process listens for events"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


@pytest.mark.parametrize("database_factory", [Backend.POSTGRESQL], indirect=True)
async def test_order_updates_reach_a_subscriber_of_another_process(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    config = SimulatorConfig(registered_for=0.3, processing_for=0.3, auto_register=True)
    async with (
        simulator(config) as (url, _),
        server_process(database, url, tmp_path / "a.log") as polling,
        # Its accrual address refuses connections: it never changes an order itself.
        server_process(database, f"http://127.0.0.1:{free_port()}", tmp_path / "b.log") as other,
        httpx.AsyncClient(base_url=polling.base_url, timeout=30) as http,
    ):
        registered = await http.post(
            "/graphql",
            json={"query": REGISTER, "variables": {"login": new_login(), "password": PASSWORD}},
        )
        token = registered.json()["data"]["register"]["token"]
        async with connect(
            other.base_url.replace("http://", "ws://", 1) + "/graphql",
            subprotocols=[Subprotocol("graphql-transport-ws")],
        ) as socket:
            ws = TransportWS(socket)
            await ws.send({"type": "connection_init", "payload": {"token": token}})
            assert (await ws.receive())["type"] == "connection_ack"
            await ws.subscribe("1", ORDER_UPDATED)
            await _wait_until_listening(database)

            number = order_number()
            uploaded = await http.post(
                "/graphql",
                json={
                    "query": "mutation($n: String!) { uploadOrder(number: $n) { __typename } }",
                    "variables": {"n": number},
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert uploaded.json() == {"data": {"uploadOrder": {"__typename": "OrderAccepted"}}}

            seen = []
            while not seen or seen[-1]["status"] != "PROCESSED":
                message = await ws.receive(timeout=15)
                assert message["type"] == "next", json.dumps(message)
                seen.append(message["payload"]["data"]["orderUpdated"])
    assert [update["status"] for update in seen] == ["PROCESSING", "PROCESSED"]
    assert {update["number"] for update in seen} == {number}
    processed = seen[-1]
    assert processed["accrual"] is not None
    assert processed["user"] == {"balance": {"current": processed["accrual"]}}
