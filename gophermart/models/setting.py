"""Service-wide values that every instance must share (e.g. the generated token secret)."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlmodel import Field, SQLModel


class AppSetting(SQLModel, table=True):
    __tablename__ = "app_setting"

    key: str = Field(sa_type=String(64), primary_key=True)
    value: str = Field(sa_type=Text, nullable=False)
