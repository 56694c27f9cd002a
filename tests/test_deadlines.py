"""Deadlines: reminders before due and overdue escalation (once per task), set-based, run by ``flask timers run``."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.models import HumanTask, Notification, User
from app.models.notification import DeadlineNotice
from app.services import deadlines, org
from tests.factories import PASSWORD, start_assessment
from tests.helpers import do, open_task, self_assessment_data
from tests.test_inbox_web import count_queries


def _due_in(task_id: int, delta: dt.timedelta) -> None:
    db.session.execute(update(HumanTask).where(HumanTask.id == task_id).values(due_at=clock.now() + delta))
    db.session.commit()


def _notes(kind: str | None = None) -> list[tuple[str, str, str | None]]:
    """(username, kind, link) of every notification, sorted."""
    query = select(User.username, Notification.kind, Notification.link).join(User, User.id == Notification.user_id)
    if kind:
        query = query.where(Notification.kind == kind)
    return sorted((u, k, link) for u, k, link in db.session.execute(query))


def _run() -> dict[str, int]:
    counts = deadlines.run_due_checks(clock.now())
    db.session.commit()
    return counts


def test_reminder_once_within_one_working_day_to_the_candidates(county):
    case_id = start_assessment(county)
    task = open_task(case_id)
    assert _run() == {"reminded": 0, "escalated": 0, "notifications": 0}  # due in 10 days
    _due_in(task.id, dt.timedelta(days=5))  # always more than one working day away
    assert _run()["reminded"] == 0
    _due_in(task.id, dt.timedelta(hours=20))
    assert _run() == {"reminded": 1, "escalated": 0, "notifications": 1}
    assert _notes() == [("officer", "reminder", f"/tasks/{task.id}")]
    row = db.session.scalars(select(Notification)).one()
    assert row.title == "即将到期：县第一中学 2025 年度考核 · 单位自评"
    assert row.case_id == case_id and row.task_id == task.id
    assert _run() == {"reminded": 0, "escalated": 0, "notifications": 0}  # once per task
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1


def test_the_reminder_horizon_counts_working_days(county):
    case_id = start_assessment(county)
    task = open_task(case_id)
    friday_noon = dt.datetime(2025, 3, 14, 4, 0)  # 12:00 CST, a Friday
    due_monday = dt.datetime(2025, 3, 17, 2, 0)  # Monday 10:00 CST: within one working day of Friday noon
    db.session.execute(update(HumanTask).where(HumanTask.id == task.id).values(due_at=due_monday))
    db.session.commit()
    assert deadlines.run_due_checks(friday_noon - dt.timedelta(days=1))["reminded"] == 0  # Thursday: too early
    assert deadlines.run_due_checks(friday_noon)["reminded"] == 1
    db.session.rollback()
    assert deadlines.run_due_checks(friday_noon, reminder_working_days=0)["reminded"] == 0


def test_overdue_escalates_once_to_candidates_and_the_office(county):
    case_id = start_assessment(county)
    task = open_task(case_id)
    _due_in(task.id, -dt.timedelta(hours=1))
    assert _run() == {"reminded": 0, "escalated": 1, "notifications": 2}  # no late reminder
    assert _notes() == [("office", "overdue", f"/cases/{case_id}"), ("officer", "overdue", f"/tasks/{task.id}")]
    assert _run()["notifications"] == 0
    assert db.session.scalar(select(func.count()).select_from(DeadlineNotice)) == 1


def test_an_office_holder_who_is_a_candidate_gets_one_notice(county):
    both = org.create_user("both", "兼任绩效员", PASSWORD, unit=county.region)
    org.assign_role(both, "office", county.region)
    org.assign_role(both, "unit_officer", county.school)
    db.session.commit()
    task = open_task(start_assessment(county))
    _due_in(task.id, -dt.timedelta(minutes=5))
    _run()
    assert [n for n in _notes() if n[0] == "both"] == [("both", "overdue", f"/tasks/{task.id}")]
    assert {n[0] for n in _notes()} == {"both", "office", "officer"}


def test_an_assigned_task_notifies_its_assignee_not_the_role_holders(county):
    task = open_task(start_assessment(county))
    db.session.execute(update(HumanTask).where(HumanTask.id == task.id).values(assignee_id=county.users["head"].id))
    _due_in(task.id, dt.timedelta(hours=2))
    _run()
    assert _notes() == [("head", "reminder", f"/tasks/{task.id}")]


def test_inactive_users_completed_and_undated_tasks_are_skipped(county):
    first = start_assessment(county)
    do(first, "self_assessment", county.users["officer"], self_assessment_data(first))
    review = open_task(first)
    done = db.session.scalar(select(HumanTask).where(HumanTask.case_id == first, HumanTask.status == "completed"))
    assert done is not None
    db.session.execute(update(HumanTask).where(HumanTask.id == done.id).values(due_at=clock.now()))
    undated = open_task(start_assessment(county, county.other))
    db.session.execute(update(HumanTask).where(HumanTask.id == undated.id).values(due_at=None))
    db.session.execute(update(User).where(User.username == "supervisor").values(active=False))
    _due_in(review.id, -dt.timedelta(hours=1))
    assert _run() == {"reminded": 0, "escalated": 1, "notifications": 1}
    assert _notes() == [("office", "overdue", f"/cases/{first}")]


def test_the_pass_is_a_fixed_number_of_statements(county):
    case_id = start_assessment(county)
    task = open_task(case_id)
    _due_in(task.id, -dt.timedelta(hours=1))
    with count_queries() as one:
        assert _run()["escalated"] == 1
    now = clock.now()
    rows = [
        {"case_id": case_id, "spiff_task_id": str(uuid.uuid4()), "step": "self_assessment", "name": "单位自评",
         "role": "unit_officer", "unit_id": county.school.id, "status": "open", "created_at": now,
         "due_at": now + (dt.timedelta(hours=3) if i % 2 else -dt.timedelta(hours=3))}
        for i in range(40)
    ]
    db.session.execute(HumanTask.__table__.insert(), rows)
    db.session.commit()
    with count_queries() as many:
        counts = _run()
    assert counts == {"reminded": 20, "escalated": 20, "notifications": 20 + 40}
    assert many[0] == one[0] + 1  # + the reminder statements, nothing per task


def test_timers_run_once_runs_the_deadline_pass(app, county):
    task = open_task(start_assessment(county))
    _due_in(task.id, -dt.timedelta(hours=1))
    result = app.test_cli_runner().invoke(args=["timers", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "fired 0 timer(s)" in result.output
    assert "deadlines: 0 reminded, 1 escalated, 2 notification(s); 0 e-mail(s) sent" in result.output
    db.session.expire_all()
    assert len(_notes("overdue")) == 2
    again = app.test_cli_runner().invoke(args=["timers", "run", "--once"])
    assert "0 escalated, 0 notification(s)" in again.output


def test_delegates_and_active_proxies_are_candidates_too(county):
    from app.models.workflow import TaskProxy

    first = open_task(start_assessment(county))
    second = open_task(start_assessment(county, county.other))
    head = county.users["head"]
    db.session.execute(update(HumanTask).where(HumanTask.id == first.id).values(delegated_to_id=head.id))
    now = clock.now()
    db.session.add_all([
        TaskProxy(user_id=county.users["other_officer"].id, proxy_id=county.users["monitor"].id, reason="出差",
                  starts_at=now - dt.timedelta(days=1), ends_at=now + dt.timedelta(days=1)),
        TaskProxy(user_id=county.users["other_officer"].id, proxy_id=county.users["auditor"].id, reason="已过期",
                  starts_at=now - dt.timedelta(days=5), ends_at=now - dt.timedelta(days=1)),
    ])
    _due_in(first.id, dt.timedelta(hours=1))
    _due_in(second.id, dt.timedelta(hours=1))
    assert _run() == {"reminded": 2, "escalated": 0, "notifications": 4}
    assert _notes() == sorted([
        ("officer", "reminder", f"/tasks/{first.id}"), ("head", "reminder", f"/tasks/{first.id}"),
        ("other_officer", "reminder", f"/tasks/{second.id}"), ("monitor", "reminder", f"/tasks/{second.id}"),
    ])
