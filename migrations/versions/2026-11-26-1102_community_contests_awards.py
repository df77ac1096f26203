"""community: contests, judging, awards

Revision ID: a1a2a3a4a5a6
Revises: f0f1f2f3f4f5
Create Date: 2026-11-26 11:00:00+00:00

Contests with levels, a weighted rubric, prizes and a judging panel; entries (one per person
per contest through the members' unique key), their files (content-library blobs), the judges'
reviews and scores; awards to a person or an organisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "a1a2a3a4a5a6"
down_revision: str | None = "f0f1f2f3f4f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "community_contest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("opens_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("entry_mode", sa.String(length=12), nullable=False),
        sa.Column("judges_skip_own_school", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("results_published_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "entry_mode IN ('individual', 'team')", name=op.f("ck_community_contest_entry_mode")
        ),
        sa.CheckConstraint("kind IN ('idea', 'stem')", name=op.f("ck_community_contest_kind")),
        sa.CheckConstraint("closes_at > opens_at", name=op.f("ck_community_contest_dates")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_contest_created_by_id_accounts_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_community_contest_organization_id_accounts_organization"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest")),
    )
    with op.batch_alter_table("community_contest", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_closes_at"), ["closes_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_contest_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_contest_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "community_contest_criterion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("max_score > 0", name=op.f("ck_community_contest_criterion_max_score")),
        sa.CheckConstraint("weight > 0", name=op.f("ck_community_contest_criterion_weight")),
        sa.ForeignKeyConstraint(
            ["contest_id"],
            ["community_contest.id"],
            name=op.f("fk_community_contest_criterion_contest_id_community_contest"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_criterion")),
        sa.UniqueConstraint(
            "contest_id", "name", name=op.f("uq_community_contest_criterion_contest_id_name")
        ),
    )
    with op.batch_alter_table("community_contest_criterion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_criterion_contest_id"), ["contest_id"], unique=False
        )

    op.create_table(
        "community_contest_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("prize", sa.String(length=200), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rank IS NULL OR rank >= 1", name=op.f("ck_community_contest_entry_rank")
        ),
        sa.ForeignKeyConstraint(
            ["contest_id"],
            ["community_contest.id"],
            name=op.f("fk_community_contest_entry_contest_id_community_contest"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_community_contest_entry_organization_id_accounts_organization"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_contest_entry_submitted_by_id_accounts_user"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_entry")),
    )
    with op.batch_alter_table("community_contest_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_entry_contest_id"), ["contest_id"], unique=False
        )
        batch_op.create_index(
            "ix_community_contest_entry_org_created",
            ["organization_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_community_contest_entry_submitted_by_id"),
            ["submitted_by_id"],
            unique=False,
        )

    op.create_table(
        "community_contest_judge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contest_id"],
            ["community_contest.id"],
            name=op.f("fk_community_contest_judge_contest_id_community_contest"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_contest_judge_user_id_accounts_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_judge")),
        sa.UniqueConstraint(
            "contest_id", "user_id", name=op.f("uq_community_contest_judge_contest_id_user_id")
        ),
    )
    with op.batch_alter_table("community_contest_judge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_judge_contest_id"), ["contest_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_contest_judge_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "community_contest_level",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "level IN ('preschool', 'primary', 'lower_secondary')",
            name=op.f("ck_community_contest_level_level"),
        ),
        sa.ForeignKeyConstraint(
            ["contest_id"],
            ["community_contest.id"],
            name=op.f("fk_community_contest_level_contest_id_community_contest"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_level")),
        sa.UniqueConstraint(
            "contest_id", "level", name=op.f("uq_community_contest_level_contest_id_level")
        ),
    )
    with op.batch_alter_table("community_contest_level", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_level_contest_id"), ["contest_id"], unique=False
        )

    op.create_table(
        "community_contest_prize",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("rank_from", sa.Integer(), nullable=False),
        sa.Column("rank_to", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "rank_from >= 1 AND rank_to >= rank_from", name=op.f("ck_community_contest_prize_ranks")
        ),
        sa.ForeignKeyConstraint(
            ["contest_id"],
            ["community_contest.id"],
            name=op.f("fk_community_contest_prize_contest_id_community_contest"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_prize")),
        sa.UniqueConstraint(
            "contest_id", "rank_from", name=op.f("uq_community_contest_prize_contest_id_rank_from")
        ),
    )
    with op.batch_alter_table("community_contest_prize", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_prize_contest_id"), ["contest_id"], unique=False
        )

    op.create_table(
        "community_award",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("scope_organization_id", sa.Integer(), nullable=False),
        sa.Column("issuer_organization_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision_number", sa.String(length=100), nullable=False),
        sa.Column("awarded_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (organization_id IS NULL)",
            name=op.f("ck_community_award_one_recipient"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_award_created_by_id_accounts_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["community_contest_entry.id"],
            name=op.f("fk_community_award_entry_id_community_contest_entry"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["issuer_organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_community_award_issuer_organization_id_accounts_organization"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_community_award_organization_id_accounts_organization"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["scope_organization_id"],
            ["accounts_organization.id"],
            name=op.f("fk_community_award_scope_organization_id_accounts_organization"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_award_user_id_accounts_user"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_award")),
        sa.UniqueConstraint(
            "entry_id", "user_id", name=op.f("uq_community_award_entry_id_user_id")
        ),
    )
    with op.batch_alter_table("community_award", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_community_award_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_community_award_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "ix_community_award_scope_awarded",
            ["scope_organization_id", "awarded_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_community_award_user_id"), ["user_id"], unique=False)

    op.create_table(
        "community_contest_entry_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=120), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_community_contest_entry_file_size")),
        sa.ForeignKeyConstraint(
            ["blob_sha256"],
            ["lcms_blob.sha256"],
            name=op.f("fk_community_contest_entry_file_blob_sha256_lcms_blob"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["community_contest_entry.id"],
            name=op.f("fk_community_contest_entry_file_entry_id_community_contest_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_contest_entry_file_uploaded_by_id_accounts_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_entry_file")),
    )
    with op.batch_alter_table("community_contest_entry_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_entry_file_blob_sha256"), ["blob_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_contest_entry_file_entry_id"), ["entry_id"], unique=False
        )

    op.create_table(
        "community_contest_entry_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.CheckConstraint(
            "role IN ('lead', 'member')", name=op.f("ck_community_contest_entry_member_role")
        ),
        sa.ForeignKeyConstraint(
            ["contest_id"],
            ["community_contest.id"],
            name=op.f("fk_community_contest_entry_member_contest_id_community_contest"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["community_contest_entry.id"],
            name=op.f("fk_community_contest_entry_member_entry_id_community_contest_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_contest_entry_member_user_id_accounts_user"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_entry_member")),
        sa.UniqueConstraint(
            "contest_id",
            "user_id",
            name=op.f("uq_community_contest_entry_member_contest_id_user_id"),
        ),
    )
    with op.batch_alter_table("community_contest_entry_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_entry_member_entry_id"), ["entry_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_contest_entry_member_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "community_contest_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("judge_id", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("scored_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["community_contest_entry.id"],
            name=op.f("fk_community_contest_review_entry_id_community_contest_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["judge_id"],
            ["accounts_user.id"],
            name=op.f("fk_community_contest_review_judge_id_accounts_user"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_review")),
        sa.UniqueConstraint(
            "entry_id", "judge_id", name=op.f("uq_community_contest_review_entry_id_judge_id")
        ),
    )
    with op.batch_alter_table("community_contest_review", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_review_entry_id"), ["entry_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_contest_review_judge_id"), ["judge_id"], unique=False
        )

    op.create_table(
        "community_contest_review_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("criterion_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.CheckConstraint("value >= 0", name=op.f("ck_community_contest_review_score_value")),
        sa.ForeignKeyConstraint(
            ["criterion_id"],
            ["community_contest_criterion.id"],
            name=op.f("fk_community_contest_review_score_criterion_id_community_contest_criterion"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["community_contest_review.id"],
            name=op.f("fk_community_contest_review_score_review_id_community_contest_review"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_contest_review_score")),
        sa.UniqueConstraint(
            "review_id",
            "criterion_id",
            name=op.f("uq_community_contest_review_score_review_id_criterion_id"),
        ),
    )
    with op.batch_alter_table("community_contest_review_score", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_contest_review_score_criterion_id"),
            ["criterion_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_community_contest_review_score_review_id"), ["review_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("community_contest_review_score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_review_score_review_id"))
        batch_op.drop_index(batch_op.f("ix_community_contest_review_score_criterion_id"))

    op.drop_table("community_contest_review_score")
    with op.batch_alter_table("community_contest_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_review_judge_id"))
        batch_op.drop_index(batch_op.f("ix_community_contest_review_entry_id"))

    op.drop_table("community_contest_review")
    with op.batch_alter_table("community_contest_entry_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_entry_member_user_id"))
        batch_op.drop_index(batch_op.f("ix_community_contest_entry_member_entry_id"))

    op.drop_table("community_contest_entry_member")
    with op.batch_alter_table("community_contest_entry_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_entry_file_entry_id"))
        batch_op.drop_index(batch_op.f("ix_community_contest_entry_file_blob_sha256"))

    op.drop_table("community_contest_entry_file")
    with op.batch_alter_table("community_award", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_award_user_id"))
        batch_op.drop_index("ix_community_award_scope_awarded")
        batch_op.drop_index(batch_op.f("ix_community_award_organization_id"))
        batch_op.drop_index(batch_op.f("ix_community_award_entry_id"))

    op.drop_table("community_award")
    with op.batch_alter_table("community_contest_prize", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_prize_contest_id"))

    op.drop_table("community_contest_prize")
    with op.batch_alter_table("community_contest_level", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_level_contest_id"))

    op.drop_table("community_contest_level")
    with op.batch_alter_table("community_contest_judge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_judge_user_id"))
        batch_op.drop_index(batch_op.f("ix_community_contest_judge_contest_id"))

    op.drop_table("community_contest_judge")
    with op.batch_alter_table("community_contest_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_entry_submitted_by_id"))
        batch_op.drop_index("ix_community_contest_entry_org_created")
        batch_op.drop_index(batch_op.f("ix_community_contest_entry_contest_id"))

    op.drop_table("community_contest_entry")
    with op.batch_alter_table("community_contest_criterion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_criterion_contest_id"))

    op.drop_table("community_contest_criterion")
    with op.batch_alter_table("community_contest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_contest_organization_id"))
        batch_op.drop_index(batch_op.f("ix_community_contest_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_community_contest_closes_at"))

    op.drop_table("community_contest")
