"""community: clubs and discussion

Clubs and academic teams, members, join requests (one pending per user and club: a partial
unique index), threads, posts, library attachments, moderation history, read markers.
References only tables of earlier changes (accounts, lcms).

Revision ID: f0f1f2f3f4f5
Revises: e0e1e2e3e4e5
Create Date: 2026-11-26 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "f0f1f2f3f4f5"
down_revision: str | None = "e0e1e2e3e4e5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "community_club",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("search_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('club', 'academic_team')", name=op.f("ck_community_club_kind")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_club_created_by_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_community_club_organization_id_accounts_organization"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_club")),
        sa.UniqueConstraint(
            "organization_id", "name", name=op.f("uq_community_club_organization_id_name")
        ),
    )
    with op.batch_alter_table("community_club", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_club_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "community_club_join_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("club_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)",
            name=op.f("ck_community_club_join_request_decided_when_not_pending"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')",
            name=op.f("ck_community_club_join_request_status"),
        ),
        sa.ForeignKeyConstraint(
            ["club_id"],
            ["community_club.id"],
            name=op.f("fk_community_club_join_request_club_id_community_club"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_club_join_request_decided_by_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_club_join_request_user_id_accounts_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_club_join_request")),
    )
    with op.batch_alter_table("community_club_join_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_club_join_request_club_id"), ["club_id"], unique=False
        )
        batch_op.create_index(
            "ix_community_club_join_request_one_pending",
            ["club_id", "user_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.create_table(
        "community_club_label",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("club_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=60), nullable=False),
        sa.CheckConstraint("kind IN ('level', 'topic')", name=op.f("ck_community_club_label_kind")),
        sa.ForeignKeyConstraint(
            ["club_id"],
            ["community_club.id"],
            name=op.f("fk_community_club_label_club_id_community_club"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_club_label")),
        sa.UniqueConstraint(
            "club_id", "kind", "value", name=op.f("uq_community_club_label_club_id_kind_value")
        ),
    )
    with op.batch_alter_table("community_club_label", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_club_label_club_id"), ["club_id"], unique=False
        )

    op.create_table(
        "community_club_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("club_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("joined_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('leader', 'member')", name=op.f("ck_community_club_member_role")
        ),
        sa.ForeignKeyConstraint(
            ["club_id"],
            ["community_club.id"],
            name=op.f("fk_community_club_member_club_id_community_club"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_club_member_user_id_accounts_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_club_member")),
        sa.UniqueConstraint(
            "club_id", "user_id", name=op.f("uq_community_club_member_club_id_user_id")
        ),
    )
    with op.batch_alter_table("community_club_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_club_member_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "community_thread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("club_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_post_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(locked_at IS NULL) = (locked_by_id IS NULL)",
            name=op.f("ck_community_thread_locked_by"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_thread_author_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["club_id"],
            ["community_club.id"],
            name=op.f("fk_community_thread_club_id_community_club"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["locked_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_thread_locked_by_id_accounts_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_thread")),
    )
    with op.batch_alter_table("community_thread", schema=None) as batch_op:
        batch_op.create_index(
            "ix_community_thread_club_last_post", ["club_id", "last_post_at"], unique=False
        )

    op.create_table(
        "community_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hidden_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hidden_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(hidden_at IS NULL) = (hidden_by_id IS NULL)", name=op.f("ck_community_post_hidden_by")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_post_author_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["hidden_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_post_hidden_by_id_accounts_user"),
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["community_thread.id"],
            name=op.f("fk_community_post_thread_id_community_thread"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_post")),
    )
    with op.batch_alter_table("community_post", schema=None) as batch_op:
        batch_op.create_index("ix_community_post_thread_id_id", ["thread_id", "id"], unique=False)

    op.create_table(
        "community_thread_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("last_read_post_id", sa.Integer(), nullable=False),
        sa.Column("read_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["community_thread.id"],
            name=op.f("fk_community_thread_read_thread_id_community_thread"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_thread_read_user_id_accounts_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_thread_read")),
        sa.UniqueConstraint(
            "user_id", "thread_id", name=op.f("uq_community_thread_read_user_id_thread_id")
        ),
    )
    with op.batch_alter_table("community_thread_read", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_thread_read_thread_id"), ["thread_id"], unique=False
        )

    op.create_table(
        "community_moderation_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("club_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('hide_post', 'unhide_post', 'lock_thread', 'unlock_thread')",
            name=op.f("ck_community_moderation_entry_action"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_moderation_entry_actor_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["club_id"],
            ["community_club.id"],
            name=op.f("fk_community_moderation_entry_club_id_community_club"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["community_post.id"],
            name=op.f("fk_community_moderation_entry_post_id_community_post"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["community_thread.id"],
            name=op.f("fk_community_moderation_entry_thread_id_community_thread"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_moderation_entry")),
    )
    with op.batch_alter_table("community_moderation_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_moderation_entry_club_id"), ["club_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_moderation_entry_thread_id"), ["thread_id"], unique=False
        )

    op.create_table(
        "community_post_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("content_item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_item_id"],
            ["lcms_content_item.id"],
            name=op.f("fk_community_post_attachment_content_item_id_lcms_content_item"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["community_post.id"],
            name=op.f("fk_community_post_attachment_post_id_community_post"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_post_attachment")),
        sa.UniqueConstraint(
            "post_id",
            "content_item_id",
            name=op.f("uq_community_post_attachment_post_id_content_item_id"),
        ),
    )
    with op.batch_alter_table("community_post_attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_post_attachment_content_item_id"),
            ["content_item_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("community_post_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_post_attachment_content_item_id"))

    op.drop_table("community_post_attachment")
    with op.batch_alter_table("community_moderation_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_moderation_entry_thread_id"))
        batch_op.drop_index(batch_op.f("ix_community_moderation_entry_club_id"))

    op.drop_table("community_moderation_entry")
    with op.batch_alter_table("community_thread_read", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_thread_read_thread_id"))

    op.drop_table("community_thread_read")
    with op.batch_alter_table("community_post", schema=None) as batch_op:
        batch_op.drop_index("ix_community_post_thread_id_id")

    op.drop_table("community_post")
    with op.batch_alter_table("community_thread", schema=None) as batch_op:
        batch_op.drop_index("ix_community_thread_club_last_post")

    op.drop_table("community_thread")
    with op.batch_alter_table("community_club_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_club_member_user_id"))

    op.drop_table("community_club_member")
    with op.batch_alter_table("community_club_label", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_club_label_club_id"))

    op.drop_table("community_club_label")
    with op.batch_alter_table("community_club_join_request", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_community_club_join_request_one_pending",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_community_club_join_request_club_id"))

    op.drop_table("community_club_join_request")
    with op.batch_alter_table("community_club", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_club_organization_id"))

    op.drop_table("community_club")
