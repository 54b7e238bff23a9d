"""worker: scheduled tasks (verify, retention report, reminders) with their claims

Revision ID: 0009_schedule
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

# A unique id (not a bare '0009'), as 0008_web: every slice adds its own head after 0002.
revision = '0009_schedule'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('worker_schedule',
                    sa.Column('name', sa.String(length=32), nullable=False),
                    sa.Column('plan', sa.String(length=32), nullable=False),
                    sa.Column('next_due', sa.DateTime(), nullable=True),
                    sa.Column('retry_at', sa.DateTime(), nullable=True),
                    sa.Column('claimed_by', sa.String(length=128), nullable=True),
                    sa.Column('claimed_at', sa.DateTime(), nullable=True),
                    sa.Column('lease_until', sa.DateTime(), nullable=True),
                    sa.Column('last_started', sa.DateTime(), nullable=True),
                    sa.Column('last_finished', sa.DateTime(), nullable=True),
                    sa.Column('last_outcome', sa.String(length=16), nullable=True),
                    sa.Column('last_detail', sa.Text(), nullable=True),
                    sa.Column('last_actor', sa.String(length=64), nullable=True),
                    sa.Column('last_worker', sa.String(length=128), nullable=True),
                    sa.Column('runs', sa.Integer(), nullable=False),
                    sa.Column('failures', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('worker_schedule')
