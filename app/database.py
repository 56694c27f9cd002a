"""Per-connection database settings, a statement count per connection (``STATEMENT_COUNT``:
how ``case_state.open_tasks`` knows nothing ran since a step), and read-only requests without a
transaction.

A view marked ``@read_only`` only reads. On PostgreSQL its request runs on a connection in
autocommit mode: no BEGIN before the first statement and no ROLLBACK when the session closes,
i.e. one network round trip per statement instead of two more per request (READ COMMITTED gives
each statement its own snapshot either way, so a read sees exactly what it saw in a transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import db

View = TypeVar("View", bound=Callable[..., Any])


def read_only(view: View) -> View:
    """Mark a view that never writes (put it below ``login_required`` and the route decorator)."""
    view._read_only = True  # type: ignore[attr-defined]  # copied onto wrappers by functools.wraps
    return view


def _autocommit_reads() -> None:
    if request.method not in ("GET", "HEAD") or request.endpoint is None:
        return
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "_read_only", False):
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


STATEMENT_COUNT = "statements"  # Connection.info key: statements run on the connection so far


def _count_statement(conn: Any, *_args: Any) -> None:
    conn.info[STATEMENT_COUNT] = conn.info.get(STATEMENT_COUNT, 0) + 1


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def init_app(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
        event.listen(engine, "before_cursor_execute", _count_statement)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        elif engine.dialect.name == "postgresql":
            app.before_request(_autocommit_reads)  # before any hook that loads the user
