"""Views marked ``@read_only`` run without a transaction on PostgreSQL; everything else in one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from app.database import _autocommit_reads
from app.extensions import db
from tests.conftest import is_postgres
from tests.factories import PASSWORD, start_assessment
from tests.helpers import open_task, self_assessment_data


@pytest.fixture
def autocommit_seen(app):
    """The DBAPI connection's autocommit flag at every statement of a request."""
    seen: list[bool] = []

    def record(conn: Any, *_args: Any) -> None:
        seen.append(bool(getattr(conn.connection.dbapi_connection, "autocommit", False)))

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def _token(client, username: str) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    return response.get_json()["token"]


def test_reads_skip_the_transaction_on_postgres_only(app, county, autocommit_seen):
    start_assessment(county)
    db.session.commit()
    client = app.test_client(use_cookies=False)
    headers = {"Authorization": f"Bearer {_token(client, 'officer')}"}
    autocommit_seen.clear()
    for url in ("/api/v1/me", "/api/v1/tasks", "/tasks"):
        with app.app_context():
            assert client.get(url, headers=headers).status_code == 200
    assert autocommit_seen, "the requests ran statements"
    if is_postgres():
        assert all(autocommit_seen)  # no BEGIN/ROLLBACK around a read-only request
    else:  # SQLite has no round trips to save: its requests are left as they are
        assert _autocommit_reads not in app.before_request_funcs[None]


def test_a_completion_runs_in_one_transaction(app, county, autocommit_seen):
    case_id = start_assessment(county)
    db.session.commit()
    client = app.test_client(use_cookies=False)
    headers = {"Authorization": f"Bearer {_token(client, 'officer')}"}
    task_id = open_task(case_id).id
    data = self_assessment_data(case_id)
    db.session.remove()
    autocommit_seen.clear()
    with app.app_context():
        response = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data}, headers=headers)
    assert response.status_code == 200, response.get_json()
    if is_postgres():
        assert autocommit_seen and not any(autocommit_seen)
