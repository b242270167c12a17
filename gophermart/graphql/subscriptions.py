"""The subscription root: live changes of the signed-in user's orders and balance.

Events on the pub/sub only say *what* changed (see server/events.py); each one is answered by
re-reading through the services, so a subscriber always gets committed state. A subscription
sends a state only when it differs from the last one it sent, so repeated or late events are
harmless.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import strawberry

from gophermart.graphql.context import GraphQLContext, Info
from gophermart.graphql.types import Balance, Order
from gophermart.server.events import user_events
from gophermart.services import balance, orders
from gophermart.services.records import BalanceRecord, OrderRecord, Principal


async def _order_updates(context: GraphQLContext, principal: Principal) -> AsyncGenerator[Order]:
    sent: dict[str, OrderRecord] = {}
    async with user_events(context.app.pubsub, user_id=principal.user_id) as events:
        async for event in events:
            if event.order_number is None:
                continue
            found = await orders.find_orders(
                db=context.db, principal=principal, numbers=[event.order_number]
            )
            record = found.get(event.order_number)
            if record is None or sent.get(record.number) == record:
                continue
            sent[record.number] = record
            yield Order.from_record(record, owner=principal)


async def _balance_updates(
    context: GraphQLContext, principal: Principal
) -> AsyncGenerator[Balance]:
    last: BalanceRecord | None = None
    async with user_events(context.app.pubsub, user_id=principal.user_id) as events:
        async for event in events:
            if not event.balance_changed:
                continue
            record = await balance.get_balance(db=context.db, principal=principal)
            if record == last:
                continue
            last = record
            yield Balance.from_record(record)


# Plain coroutines that return the stream, so that nobody signed in fails when subscribing
# (a graphql-transport-ws "error" message), not at the first event.


async def order_updated(info: Info) -> AsyncIterator[Order]:
    return _order_updates(info.context, info.context.require_principal())


async def balance_updated(info: Info) -> AsyncIterator[Balance]:
    return _balance_updates(info.context, info.context.require_principal())


@strawberry.type
class Subscription:
    order_updated: AsyncIterator[Order] = strawberry.subscription(
        resolver=order_updated,
        description="Each change of the status (or accrual) of the signed-in user's orders.",
    )
    balance_updated: AsyncIterator[Balance] = strawberry.subscription(
        resolver=balance_updated, description="Each change of the signed-in user's balance."
    )
