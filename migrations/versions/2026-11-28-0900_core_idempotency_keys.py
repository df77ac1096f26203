"""core: idempotency keys of page forms

Revision ID: d2d3d4d5d6d7
Revises: c2c3c4c5c6c7
Create Date: 2026-11-28 09:00:00+00:00

One row per (browser session digest, key) of a form sent with an ``Idempotency-Key`` header:
in progress, or done with the answer a retry gets again (decision 12).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "d2d3d4d5d6d7"
down_revision: str | None = "c2c3c4c5c6c7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_idempotency_key",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=36), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "state IN ('in_progress', 'done')", name=op.f("ck_core_idempotency_key_state")
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_core_idempotency_key")),
    )
    op.create_index(
        op.f("ix_core_idempotency_key_created_at"),
        "core_idempotency_key",
        ["created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_core_idempotency_key_created_at"), table_name="core_idempotency_key")
    op.drop_table("core_idempotency_key")
