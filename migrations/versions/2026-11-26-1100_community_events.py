"""community: events, attendance, partners

Revision ID: e0e1e2e3e4e5
Revises: c8d9e0f1a2b3
Create Date: 2026-11-26 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "e0e1e2e3e4e5"
down_revision: str | None = "c8d9e0f1a2b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by the change that owns this migration


def downgrade() -> None:
    pass
