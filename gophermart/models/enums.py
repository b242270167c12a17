"""Statuses and kinds stored as short strings (CHECK-constrained, portable across backends)."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    NEW = "NEW"
    PROCESSING = "PROCESSING"
    INVALID = "INVALID"
    PROCESSED = "PROCESSED"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.INVALID, OrderStatus.PROCESSED)


class LoyaltyStatus(StrEnum):
    """What the accrual system said about an order (SPEC §4.1), plus NEW for "not known yet"."""

    NEW = "NEW"
    REGISTERED = "REGISTERED"
    PROCESSING = "PROCESSING"
    INVALID = "INVALID"
    PROCESSED = "PROCESSED"

    def order_status(self) -> OrderStatus:
        return _ORDER_STATUS[self]


_ORDER_STATUS = {
    LoyaltyStatus.NEW: OrderStatus.NEW,
    LoyaltyStatus.REGISTERED: OrderStatus.PROCESSING,
    LoyaltyStatus.PROCESSING: OrderStatus.PROCESSING,
    LoyaltyStatus.INVALID: OrderStatus.INVALID,
    LoyaltyStatus.PROCESSED: OrderStatus.PROCESSED,
}


class TransactionType(StrEnum):
    ACCRUAL = "ACCRUAL"
    WITHDRAWAL = "WITHDRAWAL"


def check_in(column: str, enum: type[StrEnum]) -> str:
    """SQL text of a CHECK constraint limiting ``column`` to the enum's values."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return f"{column} IN ({values})"
