"""The user aggregate: a user, the credentials they sign in with, and their loyalty account."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, String, Uuid
from sqlmodel import Field, SQLModel

from gophermart.models.types import UTCDateTime


class LoyaltyAccount(SQLModel, table=True):
    """Cached totals of the ledger; the CHECK makes an overdraft impossible in SQL itself."""

    __tablename__ = "loyalty_account"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_nonnegative"),
        CheckConstraint("withdrawn >= 0", name="withdrawn_nonnegative"),
    )

    id: uuid.UUID = Field(primary_key=True)
    balance: int = Field(default=0, sa_type=BigInteger, nullable=False)
    withdrawn: int = Field(default=0, sa_type=BigInteger, nullable=False)


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: uuid.UUID = Field(primary_key=True)
    loyalty_account_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("loyalty_account.id"), nullable=False, unique=True)
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class UserAccount(SQLModel, table=True):
    """Credentials. ``login_key`` (the lower-cased login) makes logins unique case-insensitively."""

    __tablename__ = "user_account"

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("user.id"), nullable=False, unique=True)
    )
    login: str = Field(sa_type=String(64), nullable=False)
    login_key: str = Field(sa_type=String(255), nullable=False, unique=True)
    password_hash: str = Field(sa_type=String(255), nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
