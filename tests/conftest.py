"""Test fixtures: one schema per run (built by the real Alembic migrations), wiped between tests.

SQLite by default; set TEST_DATABASE_URL (postgresql+psycopg://...) to run on PostgreSQL.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from app import clock, create_app
from app.extensions import db
from app.services import definitions, inbox_facets

KEEP_TABLES = {"process_definition", "alembic_version"}
_TMP = tempfile.mkdtemp(prefix="jixiao-tests-")


def _database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{Path(_TMP) / 'test.sqlite3'}"


def is_postgres() -> bool:
    return _database_url().startswith("postgresql")


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    url = _database_url()
    if url.startswith("postgresql"):
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "test-secret",
            "UPLOAD_DIR": str(Path(_TMP) / "uploads"),
            "MAX_UPLOAD_MB": 1,
        "PASSWORD_HASH_TIME_COST": 1,  # cheap Argon2id in tests only
        "PASSWORD_HASH_MEMORY_KIB": 1024,
            "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        }
    )
    application.test_client_class = IsolatedClient
    with application.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"), revision="heads")
        definitions.deploy_directory(application.config["WORKFLOWS_DIR"])
        db.session.commit()
    yield application


def _wipe() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    else:
        triggers = db.session.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type='trigger'")
        ).all()
        db.session.execute(text("UPDATE cycle_unit SET issued_version_id = NULL"))  # the one FK cycle
        for name, _ in triggers:
            db.session.execute(text(f"DROP TRIGGER {name}"))
        for table in tables:
            db.session.execute(table.delete())
        db.session.execute(text("DELETE FROM sqlite_sequence")) if db.session.execute(
            text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
        ).first() else None
        for _, sql in triggers:
            db.session.execute(text(sql))
    db.session.commit()


@pytest.fixture(autouse=True)
def _clean(app: Flask) -> Iterator[None]:
    clock.reset()
    with app.app_context():
        yield
        db.session.rollback()
        _wipe()
        inbox_facets.clear_cache()  # the ids restart with the next test: cached choices would not fit it
    clock.reset()


class IsolatedClient(FlaskClient):
    """Runs every request in its own app context, as in production.

    ``_clean`` keeps one app context open for the whole test (so tests can use ``db.session``);
    without this, ``g`` (Flask-Login's cached user, Flask-WTF's CSRF token) and the request's
    session would leak from one request into the next and into the test.
    """

    def open(self, *args, **kwargs):  # type: ignore[override]
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def county():
    """The small county of tests/factories.py, committed."""
    from tests.factories import build_county

    built = build_county()
    db.session.commit()
    return built
