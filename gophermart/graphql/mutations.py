"""The mutation root: the same use cases as the REST endpoints, with union results.

An expected failure raised by a service becomes a member of the field's result union (the
table is ``ERROR_TYPES`` in types.py); resolvers only handle the success.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import strawberry

from gophermart.graphql.context import Info
from gophermart.graphql.types import (
    AuthResult,
    AuthSuccess,
    Order,
    OrderAccepted,
    OrderAlreadyUploaded,
    UploadOrderResult,
    Withdrawal,
    WithdrawalAccepted,
    WithdrawResult,
)
from gophermart.models.money import AmountError, parse_amount
from gophermart.services import auth, balance, orders
from gophermart.services.errors import ValidationError
from gophermart.services.records import AuthSession


async def _sign_in(
    info: Info, use_case: Callable[..., Awaitable[AuthSession]], login: str, password: str
) -> AuthResult:
    context = info.context
    session = await use_case(
        db=context.db,
        hasher=context.app.hasher,
        tokens=context.app.tokens,
        login=login,
        password=password,
    )
    context.attach_token(session.token)
    return AuthSuccess.from_session(session)


async def register(info: Info, login: str, password: str) -> AuthResult:
    return await _sign_in(info, auth.register, login, password)


async def login(info: Info, login: str, password: str) -> AuthResult:
    return await _sign_in(info, auth.login, login, password)


async def upload_order(info: Info, number: str) -> UploadOrderResult:
    context = info.context
    principal = context.require_principal()
    result = await orders.upload_order(
        db=context.db,
        principal=principal,
        number=number,
        on_created=context.app.order_uploaded,
    )
    order = Order.from_record(result.order, owner=principal)
    return OrderAccepted(order=order) if result.created else OrderAlreadyUploaded(order=order)


async def withdraw(info: Info, order: str, sum: Decimal) -> WithdrawResult:
    context = info.context
    principal = context.require_principal()
    try:  # the same rule, and message, as the REST endpoint's
        amount = parse_amount(sum)
    except AmountError as exc:
        raise ValidationError(f"sum {exc}", field="sum") from None
    record = await balance.withdraw(db=context.db, principal=principal, order=order, amount=amount)
    await context.app.balance_changed(principal.user_id)
    return WithdrawalAccepted(withdrawal=Withdrawal.from_record(record), owner=principal)


@strawberry.type
class Mutation:
    register: AuthResult = strawberry.mutation(
        resolver=register, description="Create an account and sign in."
    )
    login: AuthResult = strawberry.mutation(resolver=login, description="Sign in.")
    upload_order: UploadOrderResult = strawberry.mutation(
        resolver=upload_order,
        description="Upload the number of an order bought in the shop, for its points.",
    )
    withdraw: WithdrawResult = strawberry.mutation(
        resolver=withdraw,
        description=(
            "Spend points on a new shop order. Repeating the very same withdrawal (same order "
            "and sum) answers WithdrawalAccepted again and charges once."
        ),
    )
