"""The schema, its limits, and the ``schema.graphql`` export.

Regenerate the committed SDL with ``python -m gophermart.graphql.schema > schema.graphql``
(a test fails when it drifts from the code).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.printer import print_schema
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from gophermart.graphql.errors import ErrorPolicy, log_unexpected, union_member_handlers
from gophermart.graphql.mutations import Mutation
from gophermart.graphql.queries import Query
from gophermart.graphql.scalars import SCALARS
from gophermart.graphql.subscriptions import Subscription

# The deepest useful operation (register → user → orders → edges → node → user → balance) is
# 7 levels; Order.user makes the graph cyclic, so depth is what bounds an abusive query.
MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000
CACHE_SIZE = 256

# Built once: the validation cache is keyed by the rule classes, and a limiter built per
# request would make fresh classes every time (and never hit the cache).
_LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


def _limit_rules() -> AddValidationRules:
    return AddValidationRules(_LIMIT_RULES)


def _max_tokens() -> MaxTokensLimiter:
    return MaxTokensLimiter(max_token_count=MAX_TOKENS)


def _parser_cache() -> ParserCache:
    return ParserCache(maxsize=CACHE_SIZE)


def _validation_cache() -> ValidationCache:
    return ValidationCache(maxsize=CACHE_SIZE)


class GophermartSchema(Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # execute() answers one request with one result (HTTP). A subscription streams, and
        # is served over WebSocket only (graphql-transport-ws, through subscribe()): over
        # HTTP it would run as a query and fail inside; refused, it is a clear 400.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed - {OperationType.SUBSCRIPTION},
            operation_extensions=operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error here, expected ones too; we log only the unexpected,
        # with the request id, before ErrorPolicy masks them.
        log_unexpected(errors, execution_context)


def build_schema() -> Schema:
    return GophermartSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Factories: Strawberry makes fresh extension instances per operation.
        extensions=[
            _max_tokens,
            _limit_rules,
            _parser_cache,
            _validation_cache,
            ErrorPolicy,
        ],
        config=StrawberryConfig(scalar_map=SCALARS),
        exception_handlers=union_member_handlers(),
    )


if __name__ == "__main__":
    print(print_schema(build_schema()))
