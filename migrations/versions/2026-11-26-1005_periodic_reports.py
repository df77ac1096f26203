"""periodic reports

Revision ID: c8d9e0f1a2b3
Revises: b7a1c2d3e4f5
Create Date: 2026-11-26 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "c8d9e0f1a2b3"
down_revision: str | None = "b7a1c2d3e4f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reports_periodic_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("figures", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'superseded')",
            name=op.f("ck_reports_periodic_report_status"),
        ),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_reports_periodic_report_revision")),
        sa.CheckConstraint(
            "(revision = 1) = (supersedes_id IS NULL)",
            name=op.f("ck_reports_periodic_report_supersedes"),
        ),
        sa.CheckConstraint(
            "(status = 'draft') = (submitted_at IS NULL) "
            "AND (submitted_at IS NULL) = (submitted_by_id IS NULL) "
            "AND (submitted_at IS NULL) = (figures IS NULL)",
            name=op.f("ck_reports_periodic_report_submission"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_reports_periodic_report_organization_id_accounts_organization"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_reports_periodic_report_created_by_id_accounts_user"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_reports_periodic_report_submitted_by_id_accounts_user"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["reports_periodic_report.id"],
            name=op.f("fk_reports_periodic_report_supersedes_id_reports_periodic_report"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports_periodic_report")),
        sa.UniqueConstraint(
            "organization_id",
            "period",
            "revision",
            name=op.f("uq_reports_periodic_report_organization_id_period_revision"),
        ),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_reports_periodic_report_supersedes_id")),
    )
    with op.batch_alter_table("reports_periodic_report", schema=None) as batch_op:
        # At most one open draft and one current submitted report per school and period.
        batch_op.create_index(
            "ix_reports_periodic_report_one_draft",
            ["organization_id", "period"],
            unique=True,
            sqlite_where=sa.text("status = 'draft'"),
            postgresql_where=sa.text("status = 'draft'"),
        )
        batch_op.create_index(
            "ix_reports_periodic_report_one_submitted",
            ["organization_id", "period"],
            unique=True,
            sqlite_where=sa.text("status = 'submitted'"),
            postgresql_where=sa.text("status = 'submitted'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("reports_periodic_report", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_periodic_report_one_submitted")
        batch_op.drop_index("ix_reports_periodic_report_one_draft")
    op.drop_table("reports_periodic_report")
