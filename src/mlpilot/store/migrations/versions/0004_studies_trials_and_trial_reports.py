"""studies, trials and trial reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:53:21.546347
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("directions", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("sampler", sa.JSON(), nullable=False),
        sa.Column("pruner", sa.JSON(), nullable=False),
        sa.Column("budget", sa.JSON(), nullable=False),
        sa.Column("trial_resources", sa.JSON(), nullable=False),
        sa.Column("executor", sa.String(length=32), nullable=False),
        sa.Column("spent_s", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_studies_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_studies")),
    )
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_studies_name"), ["name"], unique=False)

    op.create_table(
        "trials",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_trials_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.run_id"],
            name=op.f("fk_trials_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_trials")),
        sa.UniqueConstraint("study_id", "number", name=op.f("uq_trials_study_id_number")),
    )
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trials_study_id_state"), ["study_id", "state"], unique=False
        )

    op.create_table(
        "trial_reports",
        sa.Column("trial_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.run_id"],
            name=op.f("fk_trial_reports_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "step", name=op.f("pk_trial_reports")),
    )
    with op.batch_alter_table("trial_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trial_reports_study_id_rung"), ["study_id", "rung"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trial_reports_study_id_step"), ["study_id", "step"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("trial_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trial_reports_study_id_step"))
        batch_op.drop_index(batch_op.f("ix_trial_reports_study_id_rung"))

    op.drop_table("trial_reports")
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trials_study_id_state"))

    op.drop_table("trials")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_studies_name"))

    op.drop_table("studies")
