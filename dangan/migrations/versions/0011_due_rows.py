"""due list rows from the index: the covering index also holds what a listed row shows

Revision ID: 0011_due_rows
Revises: 0004

The full due list of a million-record archive lists 261k rows; read through the old index
(status, due date, document date, category, location, year, security) every row cost a
lookup in the records table, most of the list's time on SQLite. The new index leads with
the same columns (counts and pages read it as before), adds the id so the list's order has
no ties, and carries archive number, title, period and paper box, so a row is read from
the index alone.
"""

from alembic import op

revision = '0011_due_rows'
down_revision = '0004'
branch_labels = None
depends_on = None

OLD = ['status', 'retention_until', 'doc_date', 'category', 'location', 'year', 'security']
NEW = ['status', 'retention_until', 'doc_date', 'category', 'location', 'year', 'id', 'security',
       'archive_no', 'title', 'retention_period', 'custody']


def upgrade() -> None:
    op.create_index('ix_records_due_rows', 'records', NEW)
    op.drop_index('ix_records_status_retention_until', table_name='records')


def downgrade() -> None:
    op.create_index('ix_records_status_retention_until', 'records', OLD)
    op.drop_index('ix_records_due_rows', table_name='records')
