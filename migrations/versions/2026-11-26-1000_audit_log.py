"""audit log

Revision ID: b7a1c2d3e4f5
Revises: f32fb14dc16d
Create Date: 2026-11-26 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "b7a1c2d3e4f5"
down_revision: str | None = "f32fb14dc16d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts_audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=500), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("target_type", sa.String(length=30), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("target_label", sa.String(length=300), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "via IN ('web', 'api', 'cli')", name=op.f("ck_accounts_audit_entry_via")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["accounts_user.id"],
            name=op.f("fk_accounts_audit_entry_actor_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_accounts_audit_entry_organization_id_accounts_organization"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts_audit_entry")),
    )
    with op.batch_alter_table("accounts_audit_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_accounts_audit_entry_action"), ["action"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_accounts_audit_entry_actor_id"), ["actor_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_accounts_audit_entry_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_accounts_audit_entry_organization_id"), ["organization_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts_audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_audit_entry_organization_id"))
        batch_op.drop_index(batch_op.f("ix_accounts_audit_entry_at"))
        batch_op.drop_index(batch_op.f("ix_accounts_audit_entry_actor_id"))
        batch_op.drop_index(batch_op.f("ix_accounts_audit_entry_action"))

    op.drop_table("accounts_audit_entry")
