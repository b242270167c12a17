"""The ledger: one row per accrual or withdrawal. The truth the cached totals follow."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

from gophermart.models.enums import TransactionType, check_in
from gophermart.models.order import ORDER_NUMBER_TYPE
from gophermart.models.types import UTCDateTime


class LoyaltyAccountTransaction(SQLModel, table=True):
    """``(type, order_number)`` is unique: one accrual per order, one withdrawal per number."""

    __tablename__ = "loyalty_account_transaction"
    __table_args__ = (
        CheckConstraint(check_in("type", TransactionType), name="type"),
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("type", "order_number", name="uq_transaction_type_order_number"),
        Index(
            "ix_transaction_account_type_created",
            "loyalty_account_id",
            "type",
            text("created_at DESC"),
        ),
        Index("ix_transaction_account_created", "loyalty_account_id", text("created_at DESC")),
    )

    id: uuid.UUID = Field(primary_key=True)
    loyalty_account_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("loyalty_account.id"), nullable=False)
    )
    type: str = Field(sa_type=String(16), nullable=False)
    amount: int = Field(sa_type=BigInteger, nullable=False)
    order_number: str = Field(sa_type=ORDER_NUMBER_TYPE, nullable=False)
    # Set for accruals only: a withdrawal's order number is not an uploaded order.
    order_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("order.id"), nullable=True)
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
