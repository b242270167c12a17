"""Gophermart: a loyalty-points service (REST + GraphQL, accrual poller, accrual simulator)."""

__version__ = "0.1.0"
