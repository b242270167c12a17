"""How failures reach GraphQL clients.

- A domain error that the field's result union has a member for becomes that member
  (``ERROR_TYPES`` in types.py, applied by Strawberry's exception handlers).
- Other expected failures are GraphQL errors with a stable ``extensions.code``:
  ``UNAUTHENTICATED`` (nobody signed in), ``BAD_USER_INPUT`` (e.g. a page size out of range),
  ``SUBSCRIPTION_LOST`` (subscribe again). Parse and validation errors pass as they are.
- Anything else is a bug or an outage: logged with the request id and the traceback, and
  shown to the client only as ``INTERNAL_SERVER_ERROR`` with that request id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext
from strawberry.types.field import StrawberryField

from gophermart.graphql.context import GraphQLContext, Info
from gophermart.graphql.types import ERROR_TYPES, Error
from gophermart.server.pubsub import SubscriptionLost
from gophermart.services import errors as domain

logger = logging.getLogger("gophermart.graphql")

# Ours, and Strawberry's for a request that names no runnable operation (the client's mistake).
_EXPECTED = (
    GraphQLError,
    domain.DomainError,
    SubscriptionLost,
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
    MissingQueryError,
)


class UnionMemberHandler:
    """Turns one domain error into its union member, wherever a field's union has one."""

    def __init__(self, exception_type: type[domain.DomainError], error_type: type[Error]) -> None:
        self.exception_type = exception_type
        self.error_type = error_type

    def handle(
        self, exception: domain.DomainError, *, field: StrawberryField, info: Info
    ) -> Error | Awaitable[Error] | None:
        return self.error_type.from_error(exception)


def union_member_handlers() -> list[UnionMemberHandler]:
    return [UnionMemberHandler(exc, member) for exc, member in ERROR_TYPES.items()]


def is_unexpected(error: GraphQLError) -> bool:
    """Raised by our own code (or a library under it) for no reason the API documents."""
    original = error.original_error
    return original is not None and not isinstance(original, _EXPECTED)


def _request_id(execution_context: ExecutionContext | None) -> str:
    context = execution_context.context if execution_context is not None else None
    return context.request_id if isinstance(context, GraphQLContext) else "-"


def log_unexpected(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    """Log what the client will only see masked (runs before the masking)."""
    for error in errors:
        if is_unexpected(error):
            logger.error(
                "unexpected error in GraphQL %s at %s [request_id=%s]",
                execution_context.operation_name if execution_context else None,
                ".".join(str(part) for part in error.path or ()) or "-",
                _request_id(execution_context),
                exc_info=error.original_error,
            )


def _code(original: Exception) -> str:
    if isinstance(original, domain.Unauthenticated):
        return "UNAUTHENTICATED"
    if isinstance(original, domain.ValidationError):
        return "BAD_USER_INPUT"
    if isinstance(original, SubscriptionLost):
        return "SUBSCRIPTION_LOST"
    if isinstance(original, domain.DomainError):
        return original.code.upper()
    return "BAD_REQUEST"


class ErrorPolicy(MaskErrors):
    """Gives expected errors their code and hides the details of unexpected ones."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=self._needs_rewriting)

    @staticmethod
    def _needs_rewriting(error: GraphQLError) -> bool:
        original = error.original_error
        return original is not None and not isinstance(original, GraphQLError)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        assert original is not None
        if is_unexpected(error):
            request_id = _request_id(self.execution_context)
            message = f"internal error; quote request id {request_id} when reporting it"
            extensions: dict[str, object] = {
                "code": "INTERNAL_SERVER_ERROR",
                "requestId": request_id,
            }
        else:
            message = error.message  # the domain error's own message
            extensions = {"code": _code(original)}
            field = getattr(original, "field", None)
            if isinstance(original, domain.ValidationError) and field is not None:
                extensions["field"] = field
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )
