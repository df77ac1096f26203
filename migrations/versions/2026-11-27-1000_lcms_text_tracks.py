"""lcms: text tracks (captions, subtitles, transcripts) of audio and video versions

Revision ID: c2c3c4c5c6c7
Revises: b2b3b4b5b6b7
Create Date: 2026-11-27 10:00:00+00:00

One row per track of a content version, its bytes a blob like any file; one track per
(version, kind, language) (decision 11).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "c2c3c4c5c6c7"
down_revision: str | None = "b2b3b4b5b6b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lcms_text_track",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('captions', 'subtitles', 'transcript')",
            name=op.f("ck_lcms_text_track_kind"),
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_lcms_text_track_size")),
        sa.ForeignKeyConstraint(
            ["blob_sha256"],
            ["lcms_blob.sha256"],
            name=op.f("fk_lcms_text_track_blob_sha256_lcms_blob"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["accounts_user.id"],
            name=op.f("fk_lcms_text_track_created_by_id_accounts_user"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["lcms_content_version.id"],
            name=op.f("fk_lcms_text_track_version_id_lcms_content_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lcms_text_track")),
        sa.UniqueConstraint(
            "version_id",
            "kind",
            "language",
            name=op.f("uq_lcms_text_track_version_id_kind_language"),
        ),
    )
    op.create_index(
        op.f("ix_lcms_text_track_blob_sha256"), "lcms_text_track", ["blob_sha256"], unique=False
    )
    op.create_index(
        op.f("ix_lcms_text_track_version_id"), "lcms_text_track", ["version_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_lcms_text_track_version_id"), table_name="lcms_text_track")
    op.drop_index(op.f("ix_lcms_text_track_blob_sha256"), table_name="lcms_text_track")
    op.drop_table("lcms_text_track")
