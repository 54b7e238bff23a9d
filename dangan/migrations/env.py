"""Alembic environment: runs on the engine the application hands over."""

from alembic import context

import dangan.ingest.models  # noqa: F401  (ingest tables share the metadata)
from dangan.archive.models import Base
from dangan.web import models as _web_models  # noqa: F401

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
