"""``cases.begin_task`` called twice for the same task with nothing run in between answers the same
context (the API view begins the task, then the step handler does); otherwise it reads again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from app.extensions import db
from app.models import HumanTask
from app.services import cases
from tests.factories import PASSWORD, start_assessment
from tests.helpers import open_task, self_assessment_data


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def hit(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", hit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", hit)


def _begun(county: Any) -> tuple[int, Any, cases.TaskContext]:
    """A new case's self-assessment task, begun by the officer: (task id, officer, context)."""
    task_id = open_task(start_assessment(county), "self_assessment").id
    officer = county.users["officer"]
    db.session.commit()
    return task_id, officer, cases.begin_task(task_id, officer)


def test_the_same_begin_twice_is_answered_without_statements(county):
    task_id, officer, first = _begun(county)
    with _statements() as seen:
        again = cases.begin_task(task_id, officer)
    assert again is first and seen == []
    with _statements() as other_purpose:
        operation = cases.begin_task(task_id, officer, for_completion=False)
    assert operation is not first and len(other_purpose) == 2  # lock + rows again


def test_a_statement_in_between_or_the_transaction_end_reads_again(county):
    task_id, officer, first = _begun(county)
    db.session.execute(select(HumanTask.id).where(HumanTask.id == task_id))
    with _statements() as seen:
        second = cases.begin_task(task_id, officer)
    assert second is not first and len(seen) == 2
    db.session.commit()
    with _statements() as after_commit:
        third = cases.begin_task(task_id, officer)
    assert third is not second and sum("FROM wf_case" in s for s in after_commit) == 1  # locked again
    db.session.rollback()


def test_a_different_user_is_checked_afresh(county):
    case_id = start_assessment(county)
    task_id = open_task(case_id, "self_assessment").id
    db.session.commit()
    cases.begin_task(task_id, county.users["officer"])
    try:
        cases.begin_task(task_id, county.users["supervisor"])
    except Exception as exc:  # the supervisor is not a candidate of the self-assessment
        assert type(exc).__name__ == "Forbidden"
    else:
        raise AssertionError("a non-candidate began the task")
    db.session.rollback()


def test_an_api_completion_loads_the_task_once(app, client, county):
    case_id = start_assessment(county)
    task_id = open_task(case_id, "self_assessment").id
    db.session.commit()
    token = client.post("/api/v1/auth/token", json={"username": "officer", "password": PASSWORD}).get_json()["token"]
    data = self_assessment_data(case_id)
    with _statements() as seen:
        answer = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data},
                             headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_json()
    review = answer.get_json()["next_tasks"][0]["id"]
    assert review == open_task(case_id, "supervisor_review").id
    # token user, lock, rows, and the step's writes; the task is not loaded a second time
    task_selects = [s for s in seen if s.lstrip().startswith("SELECT human_task.id, human_task.case_id")]
    assert len(task_selects) == 1, seen


def test_finishing_the_task_forgets_its_context(county):
    from app.services import case_state, steps

    case_id = start_assessment(county)
    task = open_task(case_id, "self_assessment")
    db.session.commit()
    officer = county.users["officer"]
    cases.begin_task(task.id, officer)
    assert case_state.BEGUN_TASK in db.session.info
    steps.submit(task, officer, self_assessment_data(case_id))  # the handler's begin_task reuses it, then finishes
    assert case_state.BEGUN_TASK not in db.session.info
    db.session.commit()


def test_sqlite_older_than_3_30_is_refused_with_a_clear_message():
    import pytest

    from app.database import _require_sqlite

    _require_sqlite((3, 30, 0))
    _require_sqlite((3, 46, 1))
    with pytest.raises(RuntimeError, match="3.26.0 is too old"):
        _require_sqlite((3, 26, 0))
