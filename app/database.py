"""Per-connection database settings, Core statements on the session's connection (``core``), a
statement count per connection (``STATEMENT_COUNT``:
how ``case_state.open_tasks`` knows nothing ran since a step), rows inserted with Core adopted as
persistent objects (``adopt``), and read-only requests without a transaction.

A view marked ``@read_only`` only reads. On PostgreSQL its request runs on a connection in
autocommit mode: no BEGIN before the first statement and no ROLLBACK when the session closes,
i.e. one network round trip per statement instead of two more per request (READ COMMITTED gives
each statement its own snapshot either way, so a read sees exactly what it saw in a transaction).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, make_transient_to_detached

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


def core(statement: Any, params: Any = None) -> Any:
    """Run a Core statement on the session's connection, after flushing pending ORM changes (what
    ``Session.execute`` would do, without its ORM dispatch and result handling: for prebuilt
    writes and for column selects, whose rows come back as plain rows either way)."""
    session = db.session()
    session.flush()  # returns at once when nothing is pending
    return session.connection().execute(statement, params)


def _count_statement(conn: Any, *_args: Any) -> None:
    conn.info[STATEMENT_COUNT] = conn.info.get(STATEMENT_COUNT, 0) + 1


_ADOPTED = "adopted_rows"  # Session.info key: (transaction, object) of rows made persistent by ``adopt``


def adopt(obj: Any) -> None:
    """Make ``obj`` — a row just inserted with Core, every column set — a persistent object of the
    session without a unit-of-work flush. Should the (sub)transaction of the INSERT roll back, the
    object leaves the session with it (a plain persistent object would stay, loaded, after a
    savepoint rollback: a case whose row does not exist)."""
    session = db.session()
    make_transient_to_detached(obj)
    session.add(obj)
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_ADOPTED, []).append((transaction, obj))


def _within(transaction: Any, ancestor: Any) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_adopted(session: Session, previous_transaction: Any) -> None:
    adopted = session.info.get(_ADOPTED)
    if not adopted:
        return
    kept = []
    for transaction, obj in adopted:
        if _within(transaction, previous_transaction):
            if obj in session:
                session.expunge(obj)
        else:
            kept.append((transaction, obj))
    session.info[_ADOPTED] = kept


@event.listens_for(Session, "after_commit")
def _forget_adopted(session: Session) -> None:
    session.info.pop(_ADOPTED, None)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


SQLITE_MINIMUM = (3, 30)  # NULLS LAST (the 待办 list's deadline order)


def _require_sqlite(version: tuple[int, ...]) -> None:
    if tuple(version[:2]) < SQLITE_MINIMUM:
        found = ".".join(map(str, version))
        raise RuntimeError(f"SQLite {found} is too old: this app needs SQLite ≥ 3.30 (NULLS LAST), "
                           "or use PostgreSQL (DATABASE_URL)")


def init_app(app: Flask) -> None:
    with app.app_context():
        engine: Engine = db.engine
        event.listen(engine, "before_cursor_execute", _count_statement)
        if engine.dialect.name == "sqlite":
            _require_sqlite(sqlite3.sqlite_version_info)
            event.listen(engine, "connect", _sqlite_pragmas)
        elif engine.dialect.name == "postgresql":
            app.before_request(_autocommit_reads)  # before any hook that loads the user
