"""derived keys: generations of the blind-index and classifier-cache keys

Revision ID: 0010
Revises: 0002

Existing blind-index tokens are generation 1 (today's derivation from the audit key), so an
archive upgraded by this migration needs no other change.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'derived_keys',
        sa.Column('purpose', sa.String(length=32), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('suite', sa.String(length=32), nullable=True),
        sa.Column('kek_id', sa.String(length=32), nullable=True),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=True),
        sa.Column('current_at', sa.DateTime(), nullable=True),
        sa.Column('retired_at', sa.DateTime(), nullable=True),
        sa.Column('created_by', sa.String(length=64), nullable=True),
        sa.Column('cursor', sa.String(length=32), nullable=True),
        sa.Column('done', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('purpose', 'generation'),
    )
    # generation 1 of each purpose is current from the start (writers lock this row)
    op.bulk_insert(table, [{'purpose': 'blind-index', 'generation': 1, 'state': 'current', 'done': 0},
                           {'purpose': 'classifier-cache', 'generation': 1, 'state': 'current', 'done': 0}])
    with op.batch_alter_table('blind_index', schema=None) as batch_op:
        batch_op.add_column(sa.Column('generation', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_index('ix_blind_index_record_generation', ['record_id', 'generation'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('blind_index', schema=None) as batch_op:
        batch_op.drop_index('ix_blind_index_record_generation')
        batch_op.drop_column('generation')
    op.drop_table('derived_keys')
