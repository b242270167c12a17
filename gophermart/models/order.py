"""Orders uploaded by users and what the accrual system said about them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

from gophermart.models.enums import LoyaltyStatus, OrderStatus, check_in
from gophermart.models.types import UTCDateTime

ORDER_NUMBER_TYPE = String(255)


class Order(SQLModel, table=True):
    """An uploaded order. ``accrual`` is the credited amount, set with the final status.

    ``next_poll_at``/``lease_until``/``attempts`` belong to the poller: a claimed order has a
    lease, so another instance skips it until the lease runs out.
    """

    __tablename__ = "order"
    __table_args__ = (
        CheckConstraint(check_in("status", OrderStatus), name="status"),
        CheckConstraint("accrual IS NULL OR accrual > 0", name="accrual_positive"),
        Index("ix_order_user_uploaded", "user_id", text("uploaded_at DESC")),
        Index(
            "ix_order_pending",
            "next_poll_at",
            postgresql_where=text("status IN ('NEW', 'PROCESSING')"),
            sqlite_where=text("status IN ('NEW', 'PROCESSING')"),
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    number: str = Field(sa_type=ORDER_NUMBER_TYPE, nullable=False, unique=True)
    user_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("user.id"), nullable=False))
    status: str = Field(sa_type=String(16), nullable=False)
    accrual: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    uploaded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    next_poll_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class BonusCalculation(SQLModel, table=True):
    """The accrual system's latest answer about an order (one row per order)."""

    __tablename__ = "bonus_calculation"
    __table_args__ = (
        CheckConstraint(check_in("loyalty_status", LoyaltyStatus), name="loyalty_status"),
        CheckConstraint("accrual IS NULL OR accrual >= 0", name="accrual_nonnegative"),
    )

    id: uuid.UUID = Field(primary_key=True)
    order_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("order.id"), nullable=False, unique=True)
    )
    loyalty_status: str = Field(sa_type=String(16), nullable=False)
    accrual: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    checked_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
