"""SQLModel tables (one module per aggregate), enums and money rules."""

from sqlmodel import SQLModel

from gophermart.models.enums import LoyaltyStatus, OrderStatus, TransactionType
from gophermart.models.ledger import LoyaltyAccountTransaction
from gophermart.models.order import BonusCalculation, Order
from gophermart.models.setting import AppSetting
from gophermart.models.user import LoyaltyAccount, User, UserAccount

metadata = SQLModel.metadata

__all__ = [
    "AppSetting",
    "BonusCalculation",
    "LoyaltyAccount",
    "LoyaltyAccountTransaction",
    "LoyaltyStatus",
    "Order",
    "OrderStatus",
    "TransactionType",
    "User",
    "UserAccount",
    "metadata",
]
