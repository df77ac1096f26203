"""accounts: a folded search name for users

Revision ID: e2e3e4e5e6e7
Revises: d2d3d4d5d6d7
Create Date: 2026-11-29 09:00:00+00:00

``search_name`` on accounts_user: ``full_name`` without accents, in lower case, single-spaced
(``app.core.text.fold``). The user search matches on it, so "nguyen van an" and "Đỗ" find
"Nguyễn Văn An" and "Đỗ Thị Ánh" on every database: SQLite's lower(), and PostgreSQL's in the C
locale, only fold ASCII. Existing rows are filled in from Python, in batches; the server
default '' only lets SQLite add the NOT NULL column in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.text import fold

revision: str = "e2e3e4e5e6e7"
down_revision: str | None = "d2d3d4d5d6d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
LENGTH = 200


def upgrade() -> None:
    with op.batch_alter_table("accounts_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_name", sa.String(length=LENGTH), server_default="", nullable=False)
        )
    conn = op.get_bind()
    users = sa.table(
        "accounts_user",
        sa.column("id", sa.Integer()),
        sa.column("full_name", sa.String()),
        sa.column("search_name", sa.String()),
    )
    update = (
        sa.update(users)
        .where(users.c.id == sa.bindparam("row_id"))
        .values(search_name=sa.bindparam("folded"))
    )
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(users.c.id, users.c.full_name)
            .where(users.c.id > last_id)
            .order_by(users.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            update, [{"row_id": row_id, "folded": fold(name)[:LENGTH]} for row_id, name in rows]
        )
        last_id = rows[-1][0]


def downgrade() -> None:
    # Not in batch mode: SQLite (3.35+) drops a column in place, without copying the table.
    op.drop_column("accounts_user", "search_name")
