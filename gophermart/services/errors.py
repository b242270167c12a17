"""The domain's error family. Each interface maps these to its own shape, in one table."""

from __future__ import annotations


class DomainError(Exception):
    """Root of every expected failure of a use case. ``code`` is stable and machine-readable."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DomainError):
    """Input that breaks a documented limit (login length, amount format, …)."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Unauthenticated(DomainError):
    code = "unauthenticated"


class LoginTaken(DomainError):
    code = "login_taken"


class InvalidCredentials(DomainError):
    code = "invalid_credentials"


class InvalidOrderNumber(DomainError):
    code = "invalid_order_number"


class OrderUploadedByAnotherUser(DomainError):
    code = "order_uploaded_by_another_user"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"


class WithdrawalConflict(DomainError):
    code = "withdrawal_conflict"
