"""What the services return: plain immutable records, never table rows or API payloads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from gophermart.models.enums import OrderStatus, TransactionType

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user as the token names them; enough for every hot path without a lookup."""

    user_id: uuid.UUID
    account_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuthSession:
    principal: Principal
    login: str
    token: IssuedToken


@dataclass(frozen=True, slots=True)
class OrderRecord:
    number: str
    status: OrderStatus
    accrual: int | None  # kopecks credited; None unless PROCESSED with points
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class UploadResult:
    order: OrderRecord
    created: bool  # False: this user had uploaded the number before


@dataclass(frozen=True, slots=True)
class BalanceRecord:
    current: int
    withdrawn: int

    @property
    def accrued(self) -> int:
        return self.current + self.withdrawn


@dataclass(frozen=True, slots=True)
class WithdrawalRecord:
    order: str
    sum: int
    processed_at: datetime


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    type: TransactionType
    amount: int
    order_number: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where an item sits in a newest-first listing: its timestamp, then its id.

    The id breaks ties between equal timestamps (UUIDv7 ids are time-ordered too), so a key
    names one position exactly and keyset pages neither skip nor repeat rows.
    """

    at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class PageEntry(Generic[T]):
    key: PageKey
    record: T


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Up to ``first`` entries after a key, newest first; ``has_next`` when more follow."""

    entries: list[PageEntry[T]]
    has_next: bool


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """Which of a user's orders a listing shows; None means "any"."""

    statuses: frozenset[OrderStatus] | None = None
    uploaded_after: datetime | None = None  # inclusive
    uploaded_before: datetime | None = None  # exclusive
