"""The migrated schema is the schema the models declare, on both databases.

A column, constraint or index added to ``gophermart/models`` without a migration (or a
migration that drifts from the models) fails here, not in production.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, inspect

from gophermart.models import metadata
from gophermart.store.database import Backend, Database


def _differences(sync: Connection) -> list[Any]:
    context = MigrationContext.configure(
        sync, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _index_name(difference: Any) -> str | None:
    if isinstance(difference, tuple) and difference[0] in ("add_index", "remove_index"):
        return str(difference[1].name)
    return None


async def test_migrations_build_exactly_the_models(db: Database) -> None:
    async with db.read() as conn:
        differences = await conn.run_sync(_differences)
    if db.backend is Backend.SQLITE:
        # SQLite does not report an index column's DESC, so alembic sees each
        # (…, created_at DESC) index as removed and re-added under the same name: such pairs
        # cancel out (the index exists under its name; PostgreSQL compares it in full).
        removed = {_index_name(d) for d in differences if d[0] == "remove_index"}
        added = {_index_name(d) for d in differences if d[0] == "add_index"}
        differences = [d for d in differences if _index_name(d) not in removed & added]
    assert differences == []


async def test_every_check_constraint_exists(db: Database) -> None:
    """alembic does not compare CHECK constraints: the money rules (balance >= 0, amount > 0)
    and the status domains are compared by name here."""

    def stored(sync: Connection) -> dict[str, set[str]]:
        inspector = inspect(sync)
        return {
            table: {str(check["name"]) for check in inspector.get_check_constraints(table)}
            for table in metadata.tables
        }

    declared = {  # names as the naming convention made them (ck_<table>_<name>)
        table.name: {
            str(constraint.name)
            for constraint in table.constraints
            if isinstance(constraint, CheckConstraint)
        }
        for table in metadata.tables.values()
    }
    async with db.read() as conn:
        assert await conn.run_sync(stored) == declared
