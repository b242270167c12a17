"""The query root."""

from __future__ import annotations

import strawberry

from gophermart.graphql.context import Info
from gophermart.graphql.types import User


def me(info: Info) -> User | None:
    principal = info.context.principal
    return User.from_principal(principal) if principal is not None else None


@strawberry.type
class Query:
    me: User | None = strawberry.field(
        resolver=me, description="The signed-in user; null when nobody is signed in."
    )
