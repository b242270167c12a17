"""Initial schema: the six entities of SPEC §7 plus app_setting (shared service values).

Revision ID: 0001
Revises:
Create Date: 2026-12-03

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "app_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_setting")),
    )
    op.create_table(
        "loyalty_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_loyalty_account_balance_nonnegative")),
        sa.CheckConstraint("withdrawn >= 0", name=op.f("ck_loyalty_account_withdrawn_nonnegative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_account")),
    )
    op.create_table(
        "user",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("loyalty_account_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["loyalty_account_id"],
            ["loyalty_account.id"],
            name=op.f("fk_user_loyalty_account_id_loyalty_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("loyalty_account_id", name=op.f("uq_user_loyalty_account_id")),
    )
    op.create_table(
        "order",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accrual", sa.BigInteger(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "status IN ('NEW', 'PROCESSING', 'INVALID', 'PROCESSED')", name=op.f("ck_order_status")
        ),
        sa.CheckConstraint(
            "accrual IS NULL OR accrual > 0", name=op.f("ck_order_accrual_positive")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_order_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order")),
        sa.UniqueConstraint("number", name=op.f("uq_order_number")),
    )
    op.create_index(
        "ix_order_pending",
        "order",
        ["next_poll_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('NEW', 'PROCESSING')"),
        sqlite_where=sa.text("status IN ('NEW', 'PROCESSING')"),
    )
    op.create_index(
        "ix_order_user_uploaded",
        "order",
        ["user_id", sa.literal_column("uploaded_at DESC")],
        unique=False,
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("login_key", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_user_account_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("login_key", name=op.f("uq_user_account_login_key")),
        sa.UniqueConstraint("user_id", name=op.f("uq_user_account_user_id")),
    )
    op.create_table(
        "bonus_calculation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("loyalty_status", sa.String(length=16), nullable=False),
        sa.Column("accrual", sa.BigInteger(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "loyalty_status IN ('NEW', 'REGISTERED', 'PROCESSING', 'INVALID', 'PROCESSED')",
            name=op.f("ck_bonus_calculation_loyalty_status"),
        ),
        sa.CheckConstraint(
            "accrual IS NULL OR accrual >= 0", name=op.f("ck_bonus_calculation_accrual_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["order.id"], name=op.f("fk_bonus_calculation_order_id_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonus_calculation")),
        sa.UniqueConstraint("order_id", name=op.f("uq_bonus_calculation_order_id")),
    )
    op.create_table(
        "loyalty_account_transaction",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("loyalty_account_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("order_number", sa.String(length=255), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('ACCRUAL', 'WITHDRAWAL')", name=op.f("ck_loyalty_account_transaction_type")
        ),
        sa.CheckConstraint(
            "amount > 0", name=op.f("ck_loyalty_account_transaction_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["loyalty_account_id"],
            ["loyalty_account.id"],
            name=op.f("fk_loyalty_account_transaction_loyalty_account_id_loyalty_account"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["order.id"], name=op.f("fk_loyalty_account_transaction_order_id_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_account_transaction")),
        sa.UniqueConstraint("type", "order_number", name="uq_transaction_type_order_number"),
    )
    op.create_index(
        "ix_transaction_account_created",
        "loyalty_account_transaction",
        ["loyalty_account_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index(
        "ix_transaction_account_type_created",
        "loyalty_account_transaction",
        ["loyalty_account_id", "type", sa.literal_column("created_at DESC")],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""

    op.drop_index("ix_transaction_account_type_created", table_name="loyalty_account_transaction")
    op.drop_index("ix_transaction_account_created", table_name="loyalty_account_transaction")
    op.drop_table("loyalty_account_transaction")
    op.drop_table("bonus_calculation")
    op.drop_table("user_account")
    op.drop_index("ix_order_user_uploaded", table_name="order")
    op.drop_index(
        "ix_order_pending",
        table_name="order",
        postgresql_where=sa.text("status IN ('NEW', 'PROCESSING')"),
        sqlite_where=sa.text("status IN ('NEW', 'PROCESSING')"),
    )
    op.drop_table("order")
    op.drop_table("user")
    op.drop_table("loyalty_account")
    op.drop_table("app_setting")
