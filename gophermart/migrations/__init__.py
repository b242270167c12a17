"""Alembic migrations, run at start-up and by ``gophermart migrate``.

Several instances may start at once on one PostgreSQL: the whole upgrade runs in one
transaction holding an advisory lock, so the second instance waits, then finds nothing to do.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from gophermart.store.database import Backend, Database

# Any constant shared by all instances; spells "gophermart" in hex-ish, for recognisability.
MIGRATION_LOCK_KEY = 0x60F3E5_4A57


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "gophermart:migrations")
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(db: Database) -> None:
    """Bring the schema to the newest revision; safe to call on every start."""
    async with db.transaction() as conn:
        if db.backend is Backend.POSTGRESQL:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(_upgrade)
