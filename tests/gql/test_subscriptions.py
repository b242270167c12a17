"""orderUpdated and balanceUpdated over a real WebSocket (graphql-transport-ws)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from gophermart.models.enums import LoyaltyStatus, OrderStatus
from gophermart.server.auth import COOKIE_NAME
from gophermart.server.events import publish_order_change
from gophermart.services import accrual
from gophermart.store.database import Database
from tests.conftest import RunningApp
from tests.factories import credit_points, order_number
from tests.gql.conftest import (
    GraphQLClient,
    OpenWS,
    TransportWS,
    principal_of,
    wait_for_subscribers,
    ws_url,
)

ORDER_UPDATED = (
    "subscription { orderUpdated { number status accrual user { balance { current } } } }"
)
BALANCE_UPDATED = "subscription { balanceUpdated { current withdrawn accrued } }"


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _settle(
    running_app: RunningApp, db: Database, number: str, status: LoyaltyStatus, kopecks: int | None
) -> None:
    """What the poller does with an answer: apply it, then publish the change."""
    change = await accrual.apply_result(
        db=db, order_number=number, loyalty_status=status, accrual=kopecks
    )
    assert change is not None
    await publish_order_change(running_app.context.pubsub, change)


async def _nothing_more(ws: TransportWS, seconds: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=seconds)


async def test_order_updated_from_new_to_processed(
    gql: GraphQLClient, running_app: RunningApp, db: Database, open_ws: OpenWS
) -> None:
    headers = await gql.sign_up()
    other = await gql.sign_up()
    number, others = order_number(), order_number()
    for who, what in ((headers, number), (other, others)):
        upload = f'mutation {{ uploadOrder(number: "{what}") {{ __typename }} }}'
        assert (await gql.data(upload, headers=who))["uploadOrder"]["__typename"] == "OrderAccepted"

    async with open_ws(payload={"Authorization": headers["Authorization"]}) as ws:
        await ws.subscribe("1", ORDER_UPDATED)
        await wait_for_subscribers(running_app.context.pubsub, 1)

        await _settle(running_app, db, others, LoyaltyStatus.PROCESSED, 100)  # not theirs
        await _settle(running_app, db, number, LoyaltyStatus.REGISTERED, None)
        message = await ws.receive()
        assert message == {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {
                    "orderUpdated": {
                        "number": number,
                        "status": "PROCESSING",
                        "accrual": None,
                        "user": {"balance": {"current": "0.00"}},
                    }
                }
            },
        }
        await _settle(running_app, db, number, LoyaltyStatus.PROCESSED, 50000)
        update = (await ws.receive())["payload"]["data"]["orderUpdated"]
        assert (update["status"], update["accrual"]) == ("PROCESSED", "500.00")
        assert update["user"] == {"balance": {"current": "500.00"}}

        # The same event again changes nothing the subscriber has not seen.
        change = await accrual.apply_result(
            db=db, order_number=number, loyalty_status=LoyaltyStatus.PROCESSED, accrual=50000
        )
        assert change is None
        await publish_order_change(
            running_app.context.pubsub,
            accrual.OrderChange(
                order_number=number,
                user_id=principal_of(running_app, headers).user_id,
                account_id=None,
                status=OrderStatus.PROCESSED,
                credited=0,
            ),
        )
        await _nothing_more(ws)

        await ws.complete("1")
        await wait_for_subscribers(running_app.context.pubsub, 0)


async def test_balance_updated_after_credit_and_withdrawal(
    gql: GraphQLClient, running_app: RunningApp, db: Database, open_ws: OpenWS
) -> None:
    headers = await gql.sign_up()
    principal = principal_of(running_app, headers)
    number = order_number()
    await gql.data(
        f'mutation {{ uploadOrder(number: "{number}") {{ __typename }} }}', headers=headers
    )

    async with open_ws(payload={"token": _token(headers)}) as ws:
        await ws.subscribe("b", BALANCE_UPDATED)
        await wait_for_subscribers(running_app.context.pubsub, 1)
        await _settle(running_app, db, number, LoyaltyStatus.PROCESSED, 72998)
        credited = await ws.receive()
        assert credited["payload"]["data"]["balanceUpdated"] == {
            "current": "729.98",
            "withdrawn": "0.00",
            "accrued": "729.98",
        }
        withdraw = (
            f'mutation {{ withdraw(order: "{order_number()}", sum: 29.98) {{ __typename }} }}'
        )
        await gql.data(withdraw, headers=headers)
        spent = await ws.receive()
        assert spent["payload"]["data"]["balanceUpdated"] == {
            "current": "700.00",
            "withdrawn": "29.98",
            "accrued": "729.98",
        }
        await credit_points(db, principal, 1)  # credited without an event: nobody is told
        await _nothing_more(ws)


async def test_authentication_on_the_handshake(
    gql: GraphQLClient, running_app: RunningApp, db: Database, open_ws: OpenWS
) -> None:
    first = await gql.sign_up()
    second = await gql.sign_up()
    number = order_number()
    await gql.data(
        f'mutation {{ uploadOrder(number: "{number}") {{ __typename }} }}', headers=second
    )

    # The cookie of the handshake signs in; a token in connection_init wins over it.
    cookie = {"Cookie": f"{COOKIE_NAME}={_token(first)}"}
    async with (
        open_ws(headers=cookie) as by_cookie,
        open_ws(headers=cookie, payload={"token": _token(second)}) as by_payload,
        open_ws(headers=second) as by_header,
    ):
        for ws in (by_cookie, by_payload, by_header):
            await ws.subscribe("o", ORDER_UPDATED)
        await wait_for_subscribers(running_app.context.pubsub, 3)
        await _settle(running_app, db, number, LoyaltyStatus.INVALID, None)
        for ws in (by_payload, by_header):
            update = (await ws.receive())["payload"]["data"]["orderUpdated"]
            assert (update["number"], update["status"]) == (number, "INVALID")
        await _nothing_more(by_cookie)


async def test_subscribing_needs_a_user(open_ws: OpenWS, running_app: RunningApp) -> None:
    async with open_ws(payload={"token": "forged"}) as ws:
        await ws.subscribe("x", BALANCE_UPDATED)
        message = await ws.receive()
        assert message["type"] == "error"
        assert message["id"] == "x"
        [error] = message["payload"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}
        assert running_app.context.pubsub.subscriber_count("gophermart_events") == 0


@pytest.mark.usefixtures("database")
async def test_closing_the_socket_unsubscribes(
    gql: GraphQLClient, running_app: RunningApp, open_ws: OpenWS
) -> None:
    headers = await gql.sign_up()
    async with open_ws(headers=headers) as ws:
        await ws.subscribe("1", ORDER_UPDATED)
        await ws.subscribe("2", BALANCE_UPDATED)
        await wait_for_subscribers(running_app.context.pubsub, 2)
    await wait_for_subscribers(running_app.context.pubsub, 0)


async def test_only_graphql_transport_ws_is_spoken(running_app: RunningApp) -> None:
    async with connect(ws_url(running_app), subprotocols=[Subprotocol("graphql-ws")]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


async def test_cross_site_handshakes_are_refused(running_app: RunningApp) -> None:
    """A page elsewhere must not open a socket that carries the user's cookie."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            ws_url(running_app),
            subprotocols=[Subprotocol("graphql-transport-ws")],
            origin="https://evil.example",  # type: ignore[arg-type]
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_a_lost_feed_ends_the_subscription_visibly(
    gql: GraphQLClient, running_app: RunningApp, open_ws: OpenWS
) -> None:
    headers = await gql.sign_up()
    async with open_ws(headers=headers) as ws:
        await ws.subscribe("1", ORDER_UPDATED)
        await wait_for_subscribers(running_app.context.pubsub, 1)
        await running_app.context.pubsub.close()  # as at shutdown, or a lost LISTEN connection
        message = await ws.receive()
        assert message["type"] == "next"
        [error] = message["payload"]["errors"]
        assert error["extensions"] == {"code": "SUBSCRIPTION_LOST"}
        assert error["message"] == (
            "the subscription to gophermart_events ended: the server is shutting down"
        )
        assert (await ws.receive())["type"] == "complete"


async def test_a_subscription_over_http_is_refused_with_a_clear_400(gql: GraphQLClient) -> None:
    """Subscriptions stream over WebSocket only; over HTTP they would run as a query and
    fail inside (an "internal error" masked as such), so they are refused up front."""
    headers = await gql.sign_up()
    posted = await gql.post(ORDER_UPDATED, headers=headers)
    assert posted.status_code == 400
    assert "subscriptions are not allowed" in posted.text
    fetched = await gql.http.get(
        "/graphql",
        params={"query": ORDER_UPDATED},
        headers={**headers, "Accept": "application/json"},
    )
    assert fetched.status_code == 400
    assert "subscriptions are not allowed" in fetched.text
