"""四性检测 state and runs; handover packages and their records

Revision ID: 0006
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0002'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('verify_state',
    sa.Column('record_id', sa.String(length=32), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('content', sa.Text(), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('run_id', BIGINT, nullable=True),
    sa.PrimaryKeyConstraint('record_id')
    )
    op.create_index('ix_verify_state_checked_at', 'verify_state', ['checked_at'])
    op.create_table('verify_runs',
    sa.Column('id', BIGINT, autoincrement=True, nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('checked', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('handover_packages',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('handover_items',
    sa.Column('id', BIGINT, autoincrement=True, nullable=False),
    sa.Column('package_id', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.String(length=32), nullable=False),
    sa.Column('archive_no', sa.String(length=120), nullable=True),
    sa.Column('source_no', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['package_id'], ['handover_packages.id']),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_handover_items_package_id', 'handover_items', ['package_id'])
    op.create_index('ix_handover_items_record_id', 'handover_items', ['record_id'])


def downgrade() -> None:
    op.drop_table('handover_items')
    op.drop_table('handover_packages')
    op.drop_table('verify_runs')
    op.drop_index('ix_verify_state_checked_at', 'verify_state')
    op.drop_table('verify_state')
