"""audit log

Revision ID: b7a1c2d3e4f5
Revises: f32fb14dc16d
Create Date: 2026-11-26 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "b7a1c2d3e4f5"
down_revision: str | None = "f32fb14dc16d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # filled in by the change that owns this migration


def downgrade() -> None:
    pass
