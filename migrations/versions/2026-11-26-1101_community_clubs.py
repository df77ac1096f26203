"""community: clubs and discussion

Revision ID: f0f1f2f3f4f5
Revises: e0e1e2e3e4e5
Create Date: 2026-11-26 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "f0f1f2f3f4f5"
down_revision: str | None = "e0e1e2e3e4e5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by the change that owns this migration


def downgrade() -> None:
    pass
