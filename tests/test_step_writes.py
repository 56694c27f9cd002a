"""The writes ending a step: one statement on PostgreSQL, one by one on SQLite, the same result."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from app import clock, engine
from app.extensions import db
from app.models import Case, CaseEvent, HumanTask
from app.services import case_state, step_writes, steps
from tests.factories import start_assessment
from tests.helpers import open_task, self_assessment_data


def _writes_seen(run: Any) -> list[str]:
    seen: list[str] = []

    def hit(*args: Any) -> None:
        statement = args[2].lstrip()
        if not statement.startswith("SELECT"):
            seen.append(statement.split("(")[0].split("\n")[0][:40])

    event.listen(db.engine, "before_cursor_execute", hit)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", hit)
    return seen


def test_a_review_step_writes_once_on_postgres_and_in_turn_on_sqlite(county):
    case_id = start_assessment(county)
    steps.submit(open_task(case_id, "self_assessment"), county.users["officer"], self_assessment_data(case_id))
    db.session.commit()
    review = open_task(case_id, "supervisor_review")
    seen = _writes_seen(lambda: steps.submit(review, county.users["supervisor"], {"decision": "approve"}))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        assert len(seen) == 1 and seen[0].startswith("WITH"), seen
    else:
        assert [s.replace("INSERT INTO", "INSERT").split()[:2] for s in seen] == [
            ["UPDATE", "human_task"], ["INSERT", "case_event"], ["INSERT", "human_task"], ["UPDATE", "wf_case"],
        ], seen
    db.session.expire_all()
    done = db.session.get(HumanTask, review.id)
    assert done.status == "completed" and done.outcome == "approve" and done.completed_by_id is not None
    audit = open_task(case_id, "audit")
    assert audit.created_at >= done.completed_at
    last = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()[-1]
    assert (last.action, last.task_id, last.step) == ("approve", review.id, done.name)
    case = db.session.get(Case, case_id)
    assert case.current_step == audit.name and case.lock_version >= 3


def _fresh_case(county: Any) -> tuple[int, Case, HumanTask, Any]:
    """A new assessment case: (id, case, its open self-assessment task, now)."""
    case_id = start_assessment(county)
    db.session.commit()
    return case_id, db.session.get_one(Case, case_id), open_task(case_id, "self_assessment"), clock.now()


def test_run_answers_ids_in_order_and_a_stale_version_stores_nothing_after_the_rollback(county):
    case_id, case, first, now = _fresh_case(county)
    template = case_state.task_row(case.id, case.unit_id, _view(first), now)
    rows = [{**template, "name": "甲"}, {**template, "name": "乙"}, {**template, "name": "丙"}]
    events = [case_state.event_row(case, f"e{i}", user_id=None, task_id=None, step=None, now=now) for i in range(2)]
    writes = step_writes.StepWrites(
        closes=[([first.id], case_state.close_values("cancelled", now))], events=events, new_tasks=rows,
        store={"current_step": "新环节", "lock_version": case.lock_version + 1},
        events_after=[case_state.event_row(case, "after", user_id=None, task_id=None, step=None, now=now)],
    )
    ids, stored = step_writes.run(writes, case.id, case.lock_version + 5)  # a stale version: not stored
    assert stored == 0
    db.session.rollback()
    assert db.session.get(HumanTask, first.id).status == "open"

    ids, stored = step_writes.run(writes, case.id, case.lock_version)
    assert stored == 1 and len(ids) == 3 and ids == sorted(ids)
    names = dict(db.session.execute(select(HumanTask.id, HumanTask.name).where(HumanTask.id.in_(ids))).all())
    assert [names[i] for i in ids] == ["甲", "乙", "丙"]
    actions = db.session.scalars(
        select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    ).all()
    assert actions[-3:] == ["e0", "e1", "after"]
    assert db.session.scalar(select(HumanTask.status).where(HumanTask.id == first.id)) == "cancelled"
    assert db.session.scalar(select(Case.current_step).where(Case.id == case_id)) == "新环节"
    db.session.rollback()


def _view(task: HumanTask) -> engine.UserTaskView:
    return engine.UserTaskView(id=task.spiff_task_id, step=task.step, name=task.name, lane=task.role, properties={})


def test_several_events_and_one_task_keep_their_order(county):
    """On PostgreSQL this shape is one statement (events by INSERT … SELECT … ORDER BY)."""
    case_id, case, first, now = _fresh_case(county)
    events = [case_state.event_row(case, f"e{i}", user_id=None, task_id=first.id, step="甲", comment=f"第{i}条",
                                   data={"n": i}, now=now) for i in range(3)]
    writes = step_writes.StepWrites(
        closes=[([first.id], case_state.close_values("returned", now))], events=events[:2],
        new_tasks=[{**case_state.task_row(case.id, case.unit_id, _view(first), now), "name": "下一步"}],
        store={"current_step": "下一步", "lock_version": case.lock_version + 1}, events_after=events[2:],
    )
    seen = _writes_seen(lambda: _check(step_writes.run(writes, case.id, case.lock_version)))
    if db.engine.dialect.name == "postgresql":
        assert len(seen) == 1 and seen[0].startswith("WITH"), seen
    rows = db.session.execute(
        select(CaseEvent.action, CaseEvent.comment, CaseEvent.data).where(CaseEvent.case_id == case_id)
        .order_by(CaseEvent.id)
    ).all()
    assert [tuple(r) for r in rows[-3:]] == [("e0", "第0条", {"n": 0}), ("e1", "第1条", {"n": 1}),
                                             ("e2", "第2条", {"n": 2})]
    assert db.session.scalar(select(HumanTask.status).where(HumanTask.id == first.id)) == "returned"
    db.session.rollback()


def _check(answer: tuple[list[int], int]) -> None:
    ids, stored = answer
    assert stored == 1 and len(ids) == 1
    assert db.session.scalar(select(HumanTask.name).where(HumanTask.id == ids[0])) == "下一步"
