"""WSGI entry for production servers: `gunicorn -w 4 -b 0.0.0.0:8000 dangan.web.wsgi:app`.

Reads the archive from $DANGAN_HOME (and the usual DANGAN_* settings), like the CLI.
"""

from dangan.system import open_dangan
from dangan.web.app import create_app

app = create_app(open_dangan(), start_drain=True)
