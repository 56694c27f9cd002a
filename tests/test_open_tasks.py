"""``cases.open_tasks`` right after a step knows the case's open rows without a query, and is exact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select, update

from app.extensions import db
from app.models import HumanTask
from app.services import cases, steps
from tests.factories import start_assessment
from tests.helpers import open_task, self_assessment_data


def _fresh(case_id: int) -> list[tuple[Any, ...]]:
    rows = db.session.execute(
        select(HumanTask.id, HumanTask.step, HumanTask.name, HumanTask.role, HumanTask.due_at, HumanTask.status)
        .where(HumanTask.case_id == case_id, HumanTask.status == "open").order_by(HumanTask.id)
    ).all()
    return [tuple(r) for r in rows]


def _view(tasks: list[HumanTask]) -> list[tuple[Any, ...]]:
    return [(t.id, t.step, t.name, t.role, t.due_at, t.status) for t in tasks]


def test_after_a_step_the_open_rows_come_without_a_query_and_match_the_table(county):
    case_id = start_assessment(county)
    db.session.commit()
    case = steps.submit(open_task(case_id, "self_assessment"), county.users["officer"], self_assessment_data(case_id))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        known = cases.open_tasks(case)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []
    assert [t.step for t in known] == ["supervisor_review"]
    assert _view(known) == _fresh(case_id)
    assert cases.open_tasks(case) == known  # asked again: the same objects


def test_a_later_change_or_the_commit_falls_back_to_the_table(county):
    case_id = start_assessment(county)
    db.session.commit()
    case = steps.submit(open_task(case_id, "self_assessment"), county.users["officer"], self_assessment_data(case_id))
    cases.touch(case)  # a task operation: the version moves on, what sync saw may be stale
    assert _view(cases.open_tasks(case)) == _fresh(case_id)
    db.session.commit()
    assert "open_tasks_after_sync" not in db.session.info
    assert _view(cases.open_tasks(case)) == _fresh(case_id)


def test_any_statement_after_the_step_falls_back_to_the_table(county):
    case_id = start_assessment(county)
    db.session.commit()
    case = steps.submit(open_task(case_id, "self_assessment"), county.users["officer"], self_assessment_data(case_id))
    # a write that changes task rows without moving the case's version (like an announcement note)
    db.session.execute(
        update(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open").values(note="已转告"),
        execution_options={"synchronize_session": False},
    )
    [task] = cases.open_tasks(case)
    assert task.note == "已转告"
    assert _view([task]) == _fresh(case_id)
