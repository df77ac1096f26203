"""community: events, attendance, partners

Revision ID: e0e1e2e3e4e5
Revises: c8d9e0f1a2b3
Create Date: 2026-11-26 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "e0e1e2e3e4e5"
down_revision: str | None = "c8d9e0f1a2b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "community_partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("website", sa.String(length=2000), nullable=True),
        sa.Column("contact", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('agency', 'institute', 'business', 'ngo', 'other')",
            name=op.f("ck_community_partner_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_partner")),
        sa.UniqueConstraint("name", name=op.f("uq_community_partner_name")),
    )
    op.create_table(
        "community_calendar_feed",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_calendar_feed_user_id_accounts_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_community_calendar_feed")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_community_calendar_feed_token_digest")),
    )
    op.create_table(
        "community_partner_content",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("content_item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_item_id"],
            ["lcms_content_item.id"],
            name=op.f("fk_community_partner_content_content_item_id_lcms_content_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["community_partner.id"],
            name=op.f("fk_community_partner_content_partner_id_community_partner"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "partner_id", "content_item_id", name=op.f("pk_community_partner_content")
        ),
    )
    with op.batch_alter_table("community_partner_content", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_partner_content_content_item_id"),
            ["content_item_id"],
            unique=False,
        )

    op.create_table(
        "community_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("online_url", sa.String(length=2000), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("lesson_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("checkin_nonce", sa.String(length=64), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('seminar', 'workshop', 'training', 'conference', 'extracurricular', 'meeting')",
            name=op.f("ck_community_event_kind"),
        ),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity >= 1", name=op.f("ck_community_event_capacity")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_community_event_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_event_created_by_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"],
            ["lms_lesson.id"],
            name=op.f("fk_community_event_lesson_id_lms_lesson"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_community_event_organization_id_accounts_organization"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_event")),
        sa.UniqueConstraint("lesson_id", name=op.f("uq_community_event_lesson_id")),
        sa.UniqueConstraint("uuid", name=op.f("uq_community_event_uuid")),
    )
    with op.batch_alter_table("community_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_event_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_event_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index("ix_community_event_starts_at", ["starts_at"], unique=False)

    op.create_table(
        "community_checkin_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("failed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_event.id"],
            name=op.f("fk_community_checkin_failure_event_id_community_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_checkin_failure_user_id_accounts_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_checkin_failure")),
    )
    with op.batch_alter_table("community_checkin_failure", schema=None) as batch_op:
        batch_op.create_index(
            "ix_community_checkin_failure_lookup", ["user_id", "failed_at"], unique=False
        )

    op.create_table(
        "community_event_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('code', 'organiser', 'import')",
            name=op.f("ck_community_event_attendance_source"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_event.id"],
            name=op.f("fk_community_event_attendance_event_id_community_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_event_attendance_recorded_by_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_event_attendance_user_id_accounts_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_event_attendance")),
        sa.UniqueConstraint(
            "event_id", "user_id", name=op.f("uq_community_event_attendance_event_id_user_id")
        ),
    )
    with op.batch_alter_table("community_event_attendance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_event_attendance_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "community_event_audience",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_event.id"],
            name=op.f("fk_community_event_audience_event_id_community_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["accounts_organization.id"],
            name="fk_community_event_audience_organization_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "event_id", "organization_id", name=op.f("pk_community_event_audience")
        ),
    )
    with op.batch_alter_table("community_event_audience", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_event_audience_organization_id"),
            ["organization_id"],
            unique=False,
        )

    op.create_table(
        "community_event_label",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=30), nullable=False),
        sa.CheckConstraint("kind IN ('level', 'role')", name=op.f("ck_community_event_label_kind")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_event.id"],
            name=op.f("fk_community_event_label_event_id_community_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_event_label")),
        sa.UniqueConstraint(
            "event_id", "kind", "value", name=op.f("uq_community_event_label_event_id_kind_value")
        ),
    )
    with op.batch_alter_table("community_event_label", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_event_label_event_id"), ["event_id"], unique=False
        )

    op.create_table(
        "community_event_material",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("content_item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_item_id"],
            ["lcms_content_item.id"],
            name=op.f("fk_community_event_material_content_item_id_lcms_content_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_event.id"],
            name=op.f("fk_community_event_material_event_id_community_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "event_id", "content_item_id", name=op.f("pk_community_event_material")
        ),
    )
    with op.batch_alter_table("community_event_material", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_event_material_content_item_id"),
            ["content_item_id"],
            unique=False,
        )

    op.create_table(
        "community_event_partner",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_event.id"],
            name=op.f("fk_community_event_partner_event_id_community_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["community_partner.id"],
            name=op.f("fk_community_event_partner_partner_id_community_partner"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "partner_id", name=op.f("pk_community_event_partner")),
    )
    with op.batch_alter_table("community_event_partner", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_event_partner_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "community_event_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('registered', 'waitlisted', 'cancelled')",
            name=op.f("ck_community_event_registration_status"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_event.id"],
            name=op.f("fk_community_event_registration_event_id_community_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_event_registration_user_id_accounts_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_event_registration")),
        sa.UniqueConstraint(
            "event_id", "user_id", name=op.f("uq_community_event_registration_event_id_user_id")
        ),
    )
    with op.batch_alter_table("community_event_registration", schema=None) as batch_op:
        batch_op.create_index(
            "ix_community_event_registration_queue",
            ["event_id", "status", "requested_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_community_event_registration_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("community_event_registration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_event_registration_user_id"))
        batch_op.drop_index("ix_community_event_registration_queue")

    op.drop_table("community_event_registration")
    with op.batch_alter_table("community_event_partner", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_event_partner_partner_id"))

    op.drop_table("community_event_partner")
    with op.batch_alter_table("community_event_material", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_event_material_content_item_id"))

    op.drop_table("community_event_material")
    with op.batch_alter_table("community_event_label", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_event_label_event_id"))

    op.drop_table("community_event_label")
    with op.batch_alter_table("community_event_audience", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_event_audience_organization_id"))

    op.drop_table("community_event_audience")
    with op.batch_alter_table("community_event_attendance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_event_attendance_user_id"))

    op.drop_table("community_event_attendance")
    with op.batch_alter_table("community_checkin_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_community_checkin_failure_lookup")

    op.drop_table("community_checkin_failure")
    with op.batch_alter_table("community_event", schema=None) as batch_op:
        batch_op.drop_index("ix_community_event_starts_at")
        batch_op.drop_index(batch_op.f("ix_community_event_organization_id"))
        batch_op.drop_index(batch_op.f("ix_community_event_created_by_id"))

    op.drop_table("community_event")
    with op.batch_alter_table("community_partner_content", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_partner_content_content_item_id"))

    op.drop_table("community_partner_content")
    op.drop_table("community_calendar_feed")
    op.drop_table("community_partner")
