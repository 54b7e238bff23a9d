"""Alembic environment: runs on the engine the application hands over."""

from alembic import context

import dangan.ingest.models
import dangan.loans.models  # noqa: F401  (loan and custody tables)
from dangan.archive.models import Base
from dangan.handover import models as _handover_models  # noqa: F401  (handover and verify tables)
from dangan.integrity import models as _integrity_models  # noqa: F401
from dangan.retention import models as _retention_models  # noqa: F401  (retention tables)
from dangan.web import models as _web_models  # noqa: F401
from dangan.worker import models as _worker_models  # noqa: F401  (the worker's schedule)

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
