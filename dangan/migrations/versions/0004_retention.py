"""retention: retention state, appraisals, legal holds, destruction batches and register

Revision ID: 0004 (retention)
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'retention_state',
        sa.Column('record_id', sa.String(32), sa.ForeignKey('records.id'), primary_key=True),
        sa.Column('event_date', sa.Date(), nullable=True),
        sa.Column('until', sa.Date(), nullable=True),
        sa.Column('permanent', sa.Boolean(), nullable=False),
        sa.Column('decision', sa.String(16), nullable=True),
        sa.Column('decided_by', sa.String(64), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True))
    op.create_index('ix_retention_state_until', 'retention_state', ['until'])
    op.create_index('ix_retention_state_decision', 'retention_state', ['decision'])
    op.create_table(
        'appraisals',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('record_id', sa.String(32), sa.ForeignKey('records.id'), nullable=False),
        sa.Column('decision', sa.String(16), nullable=False),
        sa.Column('years', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('until_before', sa.Date(), nullable=True),
        sa.Column('until_after', sa.Date(), nullable=True),
        sa.Column('decided_by', sa.String(64), nullable=False),
        sa.Column('decided_at', sa.DateTime(), nullable=False))
    op.create_index('ix_appraisals_record_id', 'appraisals', ['record_id'])
    op.create_table(
        'legal_holds',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(100), nullable=False, unique=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('case_ref', sa.String(200), nullable=True),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('released_by', sa.String(64), nullable=True),
        sa.Column('released_at', sa.DateTime(), nullable=True),
        sa.Column('release_reason', sa.Text(), nullable=True))
    op.create_table(
        'legal_hold_items',
        sa.Column('hold_id', sa.Integer(), sa.ForeignKey('legal_holds.id'), primary_key=True),
        sa.Column('record_id', sa.String(32), sa.ForeignKey('records.id'), primary_key=True),
        sa.Column('added_by', sa.String(64), nullable=False),
        sa.Column('added_at', sa.DateTime(), nullable=False))
    op.create_index('ix_legal_hold_items_record_id', 'legal_hold_items', ['record_id'])
    op.create_table(
        'destruction_batches',
        sa.Column('id', sa.String(32), primary_key=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('approved_by', sa.String(64), nullable=True),
        sa.Column('approved_at', sa.DateTime(), nullable=True),
        sa.Column('voided', sa.Text(), nullable=True),
        sa.Column('executed_by', sa.String(64), nullable=True),
        sa.Column('supervisor', sa.String(64), nullable=True),
        sa.Column('place', sa.String(200), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('executed_at', sa.DateTime(), nullable=True))
    op.create_index('ix_destruction_batches_state', 'destruction_batches', ['state'])
    op.create_table(
        'destruction_items',
        sa.Column('batch_id', sa.String(32), sa.ForeignKey('destruction_batches.id'), primary_key=True),
        sa.Column('record_id', sa.String(32), sa.ForeignKey('records.id'), primary_key=True),
        sa.Column('archive_no', sa.String(120), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('paper', sa.Boolean(), nullable=False),
        sa.Column('box', sa.String(200), nullable=True))
    op.create_index('ix_destruction_items_record_id', 'destruction_items', ['record_id'])
    op.create_table(
        'destruction_register',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('batch_id', sa.String(32), sa.ForeignKey('destruction_batches.id'), nullable=False),
        sa.Column('record_id', sa.String(32), sa.ForeignKey('records.id'), nullable=False, unique=True),
        sa.Column('archive_no', sa.String(120), nullable=False),
        sa.Column('title', sa.String(500), nullable=False),
        sa.Column('category', sa.String(32), nullable=True),
        sa.Column('location', sa.String(40), nullable=True),
        sa.Column('doc_date', sa.Date(), nullable=True),
        sa.Column('retention_period', sa.String(32), nullable=True),
        sa.Column('retention_until', sa.Date(), nullable=True),
        sa.Column('sha256', sa.String(64), nullable=True),
        sa.Column('paper', sa.Boolean(), nullable=False),
        sa.Column('box', sa.String(200), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('maker', sa.String(64), nullable=False),
        sa.Column('approver', sa.String(64), nullable=False),
        sa.Column('executor', sa.String(64), nullable=False),
        sa.Column('supervisor', sa.String(64), nullable=False),
        sa.Column('place', sa.String(200), nullable=False),
        sa.Column('destroyed_at', sa.DateTime(), nullable=False))
    op.create_index('ix_destruction_register_batch_id', 'destruction_register', ['batch_id'])
    op.create_index('ix_destruction_register_archive_no', 'destruction_register', ['archive_no'])
    # covering index for the due list: its counts and pages are read from the index alone
    op.create_index('ix_records_status_retention_until', 'records',
                    ['status', 'retention_until', 'doc_date', 'category', 'location', 'year', 'security'])
    op.create_index('ix_records_no_doc_date', 'records', ['status'], sqlite_where=sa.text('doc_date IS NULL'),
                    postgresql_where=sa.text('doc_date IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_records_no_doc_date', table_name='records')
    op.drop_index('ix_records_status_retention_until', table_name='records')
    for table in ('destruction_register', 'destruction_items', 'destruction_batches',
                  'legal_hold_items', 'legal_holds', 'appraisals', 'retention_state'):
        op.drop_table(table)
