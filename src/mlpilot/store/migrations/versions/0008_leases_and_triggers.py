"""leases: roles one process plays at a time (the controller); triggers: pipelines
the controller starts on a schedule or on a new dataset version

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("holder", sa.String(length=250), nullable=False),
        sa.Column("acquired_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "triggers",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("pipeline", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("last_key", sa.Text(), nullable=True),
        sa.Column("last_fired_ms", sa.BigInteger(), nullable=True),
        sa.Column("claim_key", sa.Text(), nullable=True),
        sa.Column("claim_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_triggers")),
    )


def downgrade() -> None:
    op.drop_table("triggers")
    op.drop_table("leases")
