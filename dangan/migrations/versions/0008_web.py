"""web: login attempts, owners' flats, owner-visible records

Revision ID: 0008_web
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

# A unique id (not a bare '0008'): every feature slice adds its own head after 0002.
revision = '0008_web'
down_revision = '0002'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('web_login_attempts',
                    sa.Column('id', _ID, autoincrement=True, nullable=False),
                    sa.Column('at', sa.DateTime(), nullable=False),
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('address', sa.String(length=64), nullable=False),
                    sa.Column('ok', sa.Boolean(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_web_login_attempts_name_at', 'web_login_attempts', ['name', 'at'])
    op.create_index('ix_web_login_attempts_address_at', 'web_login_attempts', ['address', 'at'])
    op.create_table('web_owner_flats',
                    sa.Column('user_name', sa.String(length=64), nullable=False),
                    sa.Column('location', sa.String(length=40), nullable=False),
                    sa.Column('bound_by', sa.String(length=64), nullable=False),
                    sa.Column('bound_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('user_name', 'location'))
    op.create_table('web_owner_visible',
                    sa.Column('record_id', sa.String(length=32), nullable=False),
                    sa.Column('marked_by', sa.String(length=64), nullable=False),
                    sa.Column('marked_at', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['record_id'], ['records.id']),
                    sa.PrimaryKeyConstraint('record_id'))


def downgrade() -> None:
    op.drop_table('web_owner_visible')
    op.drop_table('web_owner_flats')
    op.drop_index('ix_web_login_attempts_address_at', table_name='web_login_attempts')
    op.drop_index('ix_web_login_attempts_name_at', table_name='web_login_attempts')
    op.drop_table('web_login_attempts')
