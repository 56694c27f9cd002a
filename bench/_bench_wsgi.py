"""Gunicorn entry point of the bench server: ``gunicorn bench._bench_wsgi:app`` (cwd = repo root).

The app exactly as ``wsgi.py`` builds it (configuration from the environment: DATABASE_URL,
SECRET_KEY, UPLOAD_DIR), plus the bench-only handlers, endpoints and statement counter of
``bench/_bench_app.py``. Nothing here is imported by ``app/``.
"""

from app import create_app
from bench import _bench_app

app = create_app()
_bench_app.install(app)
