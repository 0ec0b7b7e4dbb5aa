"""WSGI entry of the pgAdmin stand-in: gunicorn serves `run_pgadmin:app`.

Importing pgAdmin4 in server mode is also what creates the configuration database and
the first user (PGADMIN_SETUP_EMAIL / PGADMIN_SETUP_PASSWORD) when none exists, so the
entrypoint runs this file once on first start.
"""

import builtins

builtins.SERVER_MODE = True

from pgAdmin4 import app  # noqa: E402,F401  (pgAdmin reads SERVER_MODE at import)
