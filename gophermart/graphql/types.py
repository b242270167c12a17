"""The GraphQL types, each converted explicitly from a service record (never a table row).

Field resolvers here are one call into the same services the REST endpoints use; list fields
are keyset-paginated Relay connections, and per-item lookups go through the request's
DataLoaders. Resolvers are plain functions passed as ``resolver=`` (their ``root`` is the
parent object), which keeps them fully typed.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, TypeVar

import strawberry

from gophermart.graphql.context import Info
from gophermart.models import enums
from gophermart.models.money import kopecks_to_decimal
from gophermart.services import balance as balance_service
from gophermart.services import errors as domain
from gophermart.services import orders as order_service
from gophermart.services.pages import MAX_PAGE_SIZE
from gophermart.services.records import (
    AuthSession,
    BalanceRecord,
    OrderFilter,
    OrderRecord,
    Page,
    PageKey,
    Principal,
    TransactionRecord,
    WithdrawalRecord,
)

DEFAULT_PAGE_SIZE = 20
T = TypeVar("T")

# Arguments shared by every list field.
First = Annotated[
    int | None,
    strawberry.argument(
        description=f"Page size, 1 to {MAX_PAGE_SIZE}; null means {DEFAULT_PAGE_SIZE}."
    ),
]
After = Annotated[
    str | None, strawberry.argument(description="The endCursor of the previous page.")
]


@strawberry.enum(name="OrderStatus", description="Where an uploaded order is in its life.")
class OrderStatusValue(Enum):
    NEW = strawberry.enum_value(
        "NEW", description="Uploaded; the accrual system has not taken it yet."
    )
    PROCESSING = strawberry.enum_value(
        "PROCESSING", description="The accrual system registered it or is calculating."
    )
    INVALID = strawberry.enum_value("INVALID", description="Refused by the accrual system; final.")
    PROCESSED = strawberry.enum_value(
        "PROCESSED", description="Calculated; its points (if any) are credited. Final."
    )

    @classmethod
    def from_status(cls, status: enums.OrderStatus) -> OrderStatusValue:
        return cls[status.name]

    def to_status(self) -> enums.OrderStatus:
        return enums.OrderStatus[self.name]


@strawberry.enum(name="TransactionType", description="The kind of a ledger row.")
class TransactionTypeValue(Enum):
    ACCRUAL = strawberry.enum_value("ACCRUAL", description="Points credited for an order.")
    WITHDRAWAL = strawberry.enum_value("WITHDRAWAL", description="Points spent on an order.")

    @classmethod
    def from_type(cls, type: enums.TransactionType) -> TransactionTypeValue:
        return cls[type.name]

    def to_type(self) -> enums.TransactionType:
        return enums.TransactionType[self.name]


def encode_cursor(key: PageKey) -> str:
    """An opaque position in a newest-first list: base64url of "timestamp|id"."""
    raw = f"{key.at.isoformat()}|{key.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> PageKey:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, key_id = raw.partition("|")
        key = PageKey(at=datetime.fromisoformat(at), id=uuid.UUID(key_id))
    except (ValueError, binascii.Error):
        raise domain.ValidationError("after is not a cursor of this list", field="after") from None
    if key.at.tzinfo is None:
        raise domain.ValidationError("after is not a cursor of this list", field="after")
    return key


def _after(cursor: str | None) -> PageKey | None:
    return decode_cursor(cursor) if cursor is not None else None


def _page_size(first: int | None) -> int:
    return DEFAULT_PAGE_SIZE if first is None else first


@strawberry.type(description="Relay page information: is there more, and where to continue.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="Whether this page was asked for with `after` (lists are read forwards only)."
    )
    start_cursor: str | None
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")

    @classmethod
    def from_page(cls, page: Page[T], *, after: PageKey | None) -> PageInfo:
        return cls(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=encode_cursor(page.entries[0].key) if page.entries else None,
            end_cursor=encode_cursor(page.entries[-1].key) if page.entries else None,
        )


@strawberry.type(description="The signed-in user's points.")
class Balance:
    current: Decimal = strawberry.field(description="Points available now.")
    withdrawn: Decimal = strawberry.field(description="Points spent over all time.")
    accrued: Decimal = strawberry.field(description="Points credited over all time.")

    @classmethod
    def from_record(cls, record: BalanceRecord) -> Balance:
        return cls(
            current=kopecks_to_decimal(record.current),
            withdrawn=kopecks_to_decimal(record.withdrawn),
            accrued=kopecks_to_decimal(record.accrued),
        )


def _order_user(root: Order) -> User:
    return User.from_principal(root.owner)


@strawberry.type(description="An order number the user uploaded, and what it earned.")
class Order:
    number: str
    status: OrderStatusValue
    accrual: Decimal | None = strawberry.field(
        description="Points credited for it: set only when PROCESSED with points."
    )
    uploaded_at: datetime
    owner: strawberry.Private[Principal]
    user: User = strawberry.field(
        resolver=_order_user, description="Who uploaded it (only ever the signed-in user)."
    )

    @classmethod
    def from_record(cls, record: OrderRecord, *, owner: Principal) -> Order:
        return cls(
            number=record.number,
            status=OrderStatusValue.from_status(record.status),
            accrual=kopecks_to_decimal(record.accrual) if record.accrual else None,
            uploaded_at=record.uploaded_at,
            owner=owner,
        )


@strawberry.type(description="Points spent on a (new) shop order.")
class Withdrawal:
    order: str = strawberry.field(description="The number of the order the points paid for.")
    sum: Decimal
    processed_at: datetime

    @classmethod
    def from_record(cls, record: WithdrawalRecord) -> Withdrawal:
        return cls(
            order=record.order, sum=kopecks_to_decimal(record.sum), processed_at=record.processed_at
        )


async def _transaction_order(root: Transaction, info: Info) -> Order | None:
    record = await info.context.loaders.order.load((root.owner, root.order_number))
    return Order.from_record(record, owner=root.owner) if record is not None else None


@strawberry.type(description="A row of the points ledger: an accrual or a withdrawal.")
class Transaction:
    type: TransactionTypeValue
    amount: Decimal
    order_number: str
    created_at: datetime
    owner: strawberry.Private[Principal]
    order: Order | None = strawberry.field(
        resolver=_transaction_order,
        description="The uploaded order with this number, if the user uploaded one.",
    )

    @classmethod
    def from_record(cls, record: TransactionRecord, *, owner: Principal) -> Transaction:
        return cls(
            type=TransactionTypeValue.from_type(record.type),
            amount=kopecks_to_decimal(record.amount),
            order_number=record.order_number,
            created_at=record.created_at,
            owner=owner,
        )


@strawberry.type
class Edge:
    """An item's place in a list; its cursor is encoded only when a query asks for it."""

    key: strawberry.Private[PageKey]

    @strawberry.field
    def cursor(self) -> str:
        return encode_cursor(self.key)


@strawberry.type
class OrderEdge(Edge):
    node: Order


async def _count_orders(root: OrderConnection, info: Info) -> int:
    return await order_service.count_orders(
        db=info.context.db, principal=root.owner, filter=root.filter
    )


@strawberry.type(description="A page of orders, newest upload first.")
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo
    owner: strawberry.Private[Principal]
    filter: strawberry.Private[OrderFilter]
    total_count: int = strawberry.field(
        resolver=_count_orders, description="How many orders match the filters, over all pages."
    )

    @classmethod
    def from_page(
        cls,
        page: Page[OrderRecord],
        *,
        owner: Principal,
        after: PageKey | None,
        filter: OrderFilter,
    ) -> OrderConnection:
        return cls(
            edges=[
                OrderEdge(
                    key=entry.key,
                    node=Order.from_record(entry.record, owner=owner),
                )
                for entry in page.entries
            ],
            page_info=PageInfo.from_page(page, after=after),
            owner=owner,
            filter=filter,
        )


@strawberry.type
class WithdrawalEdge(Edge):
    node: Withdrawal


async def _count_withdrawals(root: WithdrawalConnection, info: Info) -> int:
    return await balance_service.count_withdrawals(db=info.context.db, principal=root.owner)


@strawberry.type(description="A page of withdrawals, newest first.")
class WithdrawalConnection:
    edges: list[WithdrawalEdge]
    page_info: PageInfo
    owner: strawberry.Private[Principal]
    total_count: int = strawberry.field(
        resolver=_count_withdrawals, description="How many withdrawals there are, over all pages."
    )

    @classmethod
    def from_page(
        cls, page: Page[WithdrawalRecord], *, owner: Principal, after: PageKey | None
    ) -> WithdrawalConnection:
        return cls(
            edges=[
                WithdrawalEdge(key=entry.key, node=Withdrawal.from_record(entry.record))
                for entry in page.entries
            ],
            page_info=PageInfo.from_page(page, after=after),
            owner=owner,
        )


@strawberry.type
class TransactionEdge(Edge):
    node: Transaction


async def _count_transactions(root: TransactionConnection, info: Info) -> int:
    return await balance_service.count_transactions(
        db=info.context.db, principal=root.owner, types=root.types
    )


@strawberry.type(description="A page of the ledger, newest first.")
class TransactionConnection:
    edges: list[TransactionEdge]
    page_info: PageInfo
    owner: strawberry.Private[Principal]
    types: strawberry.Private[frozenset[enums.TransactionType] | None]
    total_count: int = strawberry.field(
        resolver=_count_transactions, description="How many ledger rows match, over all pages."
    )

    @classmethod
    def from_page(
        cls,
        page: Page[TransactionRecord],
        *,
        owner: Principal,
        after: PageKey | None,
        types: frozenset[enums.TransactionType] | None,
    ) -> TransactionConnection:
        return cls(
            edges=[
                TransactionEdge(
                    key=entry.key,
                    node=Transaction.from_record(entry.record, owner=owner),
                )
                for entry in page.entries
            ],
            page_info=PageInfo.from_page(page, after=after),
            owner=owner,
            types=types,
        )


async def _user_login(root: User, info: Info) -> str:
    if root.known_login is not None:
        return root.known_login
    login = await info.context.loaders.login.load(root.principal.user_id)
    if login is None:
        raise domain.Unauthenticated("the user named by the token does not exist")
    return login


async def _user_balance(root: User, info: Info) -> Balance:
    record = await info.context.loaders.balance.load(root.principal.account_id)
    if record is None:
        raise domain.Unauthenticated("the account named by the token does not exist")
    return Balance.from_record(record)


async def _user_order(root: User, info: Info, number: str) -> Order | None:
    record = await info.context.loaders.order.load((root.principal, number.strip()))
    return Order.from_record(record, owner=root.principal) if record is not None else None


async def _user_orders(
    root: User,
    info: Info,
    first: First = DEFAULT_PAGE_SIZE,
    after: After = None,
    status: Annotated[
        list[OrderStatusValue] | None,
        strawberry.argument(description="Only orders in one of these statuses."),
    ] = None,
    uploaded_after: Annotated[
        datetime | None, strawberry.argument(description="Only orders uploaded at or after.")
    ] = None,
    uploaded_before: Annotated[
        datetime | None, strawberry.argument(description="Only orders uploaded before.")
    ] = None,
) -> OrderConnection:
    key = _after(after)
    filter = OrderFilter(
        statuses=frozenset(s.to_status() for s in status) if status is not None else None,
        uploaded_after=uploaded_after,
        uploaded_before=uploaded_before,
    )
    page = await order_service.page_orders(
        db=info.context.db,
        principal=root.principal,
        first=_page_size(first),
        after=key,
        filter=filter,
    )
    return OrderConnection.from_page(page, owner=root.principal, after=key, filter=filter)


async def _user_withdrawals(
    root: User, info: Info, first: First = DEFAULT_PAGE_SIZE, after: After = None
) -> WithdrawalConnection:
    key = _after(after)
    page = await balance_service.page_withdrawals(
        db=info.context.db, principal=root.principal, first=_page_size(first), after=key
    )
    return WithdrawalConnection.from_page(page, owner=root.principal, after=key)


async def _user_transactions(
    root: User,
    info: Info,
    first: First = DEFAULT_PAGE_SIZE,
    after: After = None,
    type: Annotated[
        list[TransactionTypeValue] | None,
        strawberry.argument(description="Only rows of these types."),
    ] = None,
) -> TransactionConnection:
    key = _after(after)
    types = frozenset(t.to_type() for t in type) if type is not None else None
    page = await balance_service.page_transactions(
        db=info.context.db,
        principal=root.principal,
        first=_page_size(first),
        after=key,
        types=types,
    )
    return TransactionConnection.from_page(page, owner=root.principal, after=key, types=types)


@strawberry.type(description="A registered user; everything under it is theirs alone.")
class User:
    principal: strawberry.Private[Principal]
    # Known when the user has just signed in, which saves the lookup.
    known_login: strawberry.Private[str | None] = None
    login: str = strawberry.field(resolver=_user_login)
    balance: Balance = strawberry.field(resolver=_user_balance)
    order: Order | None = strawberry.field(
        resolver=_user_order,
        description="One of the user's orders by number; null when they have none by it.",
    )
    orders: OrderConnection = strawberry.field(
        resolver=_user_orders, description="The user's orders, newest upload first."
    )
    withdrawals: WithdrawalConnection = strawberry.field(
        resolver=_user_withdrawals, description="The user's withdrawals, newest first."
    )
    transactions: TransactionConnection = strawberry.field(
        resolver=_user_transactions, description="The user's points ledger, newest first."
    )

    @classmethod
    def from_principal(cls, principal: Principal) -> User:
        return cls(principal=principal)

    @classmethod
    def from_session(cls, session: AuthSession) -> User:
        return cls(principal=session.principal, known_login=session.login)


# Expected outcomes that are not successes: union members of the mutation results.


@strawberry.interface(description="An expected failure; `message` says what went wrong.")
class Error:
    message: str

    @classmethod
    def from_error(cls, error: domain.DomainError) -> Error:
        return cls(message=error.message)


@strawberry.type(description="The login is taken (logins are compared case-insensitively).")
class LoginTaken(Error):
    pass


@strawberry.type(description="Wrong login or password.")
class InvalidCredentials(Error):
    pass


@strawberry.type(description="An argument breaks a documented limit; `field` names it.")
class ValidationError(Error):
    field: str | None

    @classmethod
    def from_error(cls, error: domain.DomainError) -> ValidationError:
        return cls(message=error.message, field=getattr(error, "field", None))


@strawberry.type(description="The order number is not digits or fails the Luhn check.")
class InvalidOrderNumber(Error):
    pass


@strawberry.type(description="Another user uploaded this order number.")
class OrderUploadedByAnotherUser(Error):
    pass


@strawberry.type(description="Not enough points on the balance.")
class InsufficientFunds(Error):
    pass


@strawberry.type(
    description="A withdrawal for this order number exists with a different sum or user."
)
class WithdrawalConflict(Error):
    pass


@strawberry.type(description="Signed in; the token is also set as a cookie over HTTP.")
class AuthSuccess:
    token: str = strawberry.field(description="Send as `Authorization: Bearer <token>`.")
    expires_at: datetime
    user: User

    @classmethod
    def from_session(cls, session: AuthSession) -> AuthSuccess:
        return cls(
            token=session.token.token,
            expires_at=session.token.expires_at,
            user=User.from_session(session),
        )


@strawberry.type(description="A new order number, accepted for processing.")
class OrderAccepted:
    order: Order


@strawberry.type(description="This user had uploaded this number already; nothing changed.")
class OrderAlreadyUploaded:
    order: Order


async def _balance_after_withdrawal(root: WithdrawalAccepted, info: Info) -> Balance:
    # Read now, not through the loader: one request may run several withdrawals.
    record = await balance_service.get_balance(db=info.context.db, principal=root.owner)
    return Balance.from_record(record)


@strawberry.type(description="Points withdrawn (or the very same withdrawal, repeated).")
class WithdrawalAccepted:
    withdrawal: Withdrawal
    owner: strawberry.Private[Principal]
    balance: Balance = strawberry.field(
        resolver=_balance_after_withdrawal, description="The balance right after the withdrawal."
    )


AuthResult = Annotated[
    AuthSuccess | LoginTaken | InvalidCredentials | ValidationError,
    strawberry.union("AuthResult"),
]
UploadOrderResult = Annotated[
    OrderAccepted
    | OrderAlreadyUploaded
    | OrderUploadedByAnotherUser
    | InvalidOrderNumber
    | ValidationError,
    strawberry.union("UploadOrderResult"),
]
WithdrawResult = Annotated[
    WithdrawalAccepted
    | InsufficientFunds
    | InvalidOrderNumber
    | WithdrawalConflict
    | ValidationError,
    strawberry.union("WithdrawResult"),
]

# The one table of this interface: which domain error becomes which union member.
ERROR_TYPES: dict[type[domain.DomainError], type[Error]] = {
    domain.LoginTaken: LoginTaken,
    domain.InvalidCredentials: InvalidCredentials,
    domain.ValidationError: ValidationError,
    domain.InvalidOrderNumber: InvalidOrderNumber,
    domain.OrderUploadedByAnotherUser: OrderUploadedByAnotherUser,
    domain.InsufficientFunds: InsufficientFunds,
    domain.WithdrawalConflict: WithdrawalConflict,
}
