"""community: contests, judging, awards

Revision ID: a1a2a3a4a5a6
Revises: f0f1f2f3f4f5
Create Date: 2026-11-26 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "a1a2a3a4a5a6"
down_revision: str | None = "f0f1f2f3f4f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by the change that owns this migration


def downgrade() -> None:
    pass
