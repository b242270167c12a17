"""Core ``Table`` handles of the SQLModel tables, typed for statement building."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from gophermart.models import (
    AppSetting,
    BonusCalculation,
    LoyaltyAccount,
    LoyaltyAccountTransaction,
    Order,
    User,
    UserAccount,
)

app_setting = cast(Table, AppSetting.__table__)
bonus_calculation = cast(Table, BonusCalculation.__table__)
loyalty_account = cast(Table, LoyaltyAccount.__table__)
ledger = cast(Table, LoyaltyAccountTransaction.__table__)
order = cast(Table, Order.__table__)
user = cast(Table, User.__table__)
user_account = cast(Table, UserAccount.__table__)
