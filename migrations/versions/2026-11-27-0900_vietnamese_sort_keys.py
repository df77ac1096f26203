"""accounts: Vietnamese sort keys for user and organisation names

Revision ID: b2b3b4b5b6b7
Revises: a1a2a3a4a5a6
Create Date: 2026-11-27 09:00:00+00:00

``sort_name`` on accounts_user (given name first, ``vi_name_key``) and accounts_organization
(``vi_sort_key``), compared in binary order (COLLATE "C" on PostgreSQL), so lists can be paged
in SQL in Vietnamese order (decision 10). Existing rows are filled in from Python, in batches.

The server default '' only lets SQLite add a NOT NULL column without copying the table (which,
with foreign keys on, would touch every referencing row); the models always set the key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from app.core.collation import SORT_KEY_LENGTH, vi_name_key, vi_sort_key

revision: str = "b2b3b4b5b6b7"
down_revision: str | None = "a1a2a3a4a5a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

# table, the column the key is made from, how
_KEYED: list[tuple[str, str, Callable[[str], str]]] = [
    ("accounts_user", "full_name", vi_name_key),
    ("accounts_organization", "name", vi_sort_key),
]


def _sort_name_type() -> sa.types.TypeEngine[str]:
    return sa.String(length=SORT_KEY_LENGTH).with_variant(
        sa.String(length=SORT_KEY_LENGTH, collation="C"), "postgresql"
    )


def _backfill(table_name: str, source: str, key: Callable[[str], str]) -> None:
    conn = op.get_bind()
    table = sa.table(table_name, sa.column("id", sa.Integer()), sa.column(source, sa.String()))
    sort_name = sa.table(table_name, sa.column("id", sa.Integer()), sa.column("sort_name"))
    update = (
        sa.update(sort_name)
        .where(sort_name.c.id == sa.bindparam("row_id"))
        .values(sort_name=sa.bindparam("key"))
    )
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c[source])
            .where(table.c.id > last_id)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            update,
            [{"row_id": row_id, "key": key(value)[:SORT_KEY_LENGTH]} for row_id, value in rows],
        )
        last_id = rows[-1][0]


def upgrade() -> None:
    for table_name, source, key in _KEYED:
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("sort_name", _sort_name_type(), server_default="", nullable=False)
            )
            batch_op.create_index(batch_op.f(f"ix_{table_name}_sort_name"), ["sort_name"])
        _backfill(table_name, source, key)


def downgrade() -> None:
    for table_name, _source, _key in _KEYED:
        op.drop_index(op.f(f"ix_{table_name}_sort_name"), table_name=table_name)
        # Not in batch mode: SQLite (3.35+) drops a column in place, without copying the table.
        op.drop_column(table_name, "sort_name")
