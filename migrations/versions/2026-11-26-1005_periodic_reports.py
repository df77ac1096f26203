"""periodic reports

Revision ID: c8d9e0f1a2b3
Revises: b7a1c2d3e4f5
Create Date: 2026-11-26 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "c8d9e0f1a2b3"
down_revision: str | None = "b7a1c2d3e4f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by the change that owns this migration


def downgrade() -> None:
    pass
