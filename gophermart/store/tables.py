"""Core ``Table`` handles of the SQLModel tables, typed for statement building."""

from __future__ import annotations

from gophermart.models import metadata

app_setting = metadata.tables["app_setting"]
bonus_calculation = metadata.tables["bonus_calculation"]
loyalty_account = metadata.tables["loyalty_account"]
ledger = metadata.tables["loyalty_account_transaction"]
order = metadata.tables["order"]
user = metadata.tables["user"]
user_account = metadata.tables["user_account"]
