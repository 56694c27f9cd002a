"""Races on one case: two requests acting at the same moment must never both apply.

Each contender runs in its own thread with its own app context (so its own session and
connection), prepares (loads the task and the user), waits on a barrier, then calls the
service and commits. A ``DomainError`` is rolled back and recorded as that thread's outcome;
anything else (a deadlock, "database is locked", ...) is recorded too and fails the test.

The PostgreSQL tests rely on row locks (``SELECT ... FOR UPDATE``); the SQLite test checks that
SQLite's serialised writers plus the case's optimistic ``lock_version`` give the same result.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import clock
from app.errors import Conflict
from app.extensions import db
from app.models import Appeal, Case, CaseEvent, HumanTask, SelfAssessmentEntry, Timer, User
from app.services import assessment, cases, steps
from tests.conftest import is_postgres
from tests.factories import start_assessment
from tests.helpers import open_task, run_to_publicity, self_assessment_data

requires_pg = pytest.mark.skipif(
    not is_postgres(),
    reason="PostgreSQL only (row locks: SELECT ... FOR UPDATE [SKIP LOCKED]); "
    "set TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/<db>",
)

TRIALS = 50
APPEAL_TRIALS = 20
SQLITE_TRIALS = 20
Action = Callable[[threading.Barrier], Any]


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __repr__(self) -> str:
        return "ok" if self.ok else f"{type(self.error).__name__}({self.error})"


def race(app: Flask, *actions: Action) -> list[Outcome]:
    """Run ``actions`` in threads released together by a barrier; each commits on success."""
    barrier = threading.Barrier(len(actions))
    outcomes = [Outcome(error=RuntimeError("thread did not finish")) for _ in actions]

    passed = [False] * len(actions)

    class Gate:
        def __init__(self, index: int) -> None:
            self.index = index

        def wait(self, timeout: float | None = None) -> int:
            result = barrier.wait(timeout)
            passed[self.index] = True
            return result

    def run(index: int, action: Action) -> None:
        with app.app_context():
            try:
                value = action(Gate(index))  # type: ignore[arg-type]
                db.session.commit()
                outcomes[index] = Outcome(value=value)
            except BaseException as exc:  # every outcome, expected or not, is reported to the test
                if not passed[index]:
                    barrier.abort()  # never leave the other contender waiting at the start line
                db.session.rollback()
                outcomes[index] = Outcome(error=exc)

    threads = [threading.Thread(target=run, args=(i, a), name=f"racer-{i}") for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a racer hung (lock wait?)"
    return outcomes


def complete_task(task_id: int, user_id: int, data: dict[str, Any]) -> Action:
    def action(barrier: threading.Barrier) -> int:
        task = db.session.get(HumanTask, task_id)
        user = db.session.get(User, user_id)
        assert task is not None and user is not None
        barrier.wait(timeout=30)
        return steps.submit(task, user, data).id

    return action


def fire_timers() -> Action:
    def action(barrier: threading.Barrier) -> int:
        db.session.execute(select(1))  # check out a connection before the start, like the other racer
        barrier.wait(timeout=30)
        return cases.fire_due_timers()

    return action


def file_appeal(case_id: int, user_id: int) -> Action:
    def action(barrier: threading.Barrier) -> int:
        user = db.session.get(User, user_id)
        barrier.wait(timeout=30)
        return assessment.file_appeal(case_id, user=user, kind="unit", reason="扣分依据有误").id

    return action




def _lock_version(case_id: int) -> int:
    return db.session.scalar(select(Case.lock_version).where(Case.id == case_id))


def _actions(case_id: int, task_id: int | None = None) -> list[str]:
    query = select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    if task_id is not None:
        query = query.where(CaseEvent.task_id == task_id)
    return list(db.session.scalars(query))


def _double_complete_trials(app: Flask, county, trials: int) -> Counter[str]:
    """Race two completions of one self-assessment per trial; return the losers' messages."""
    officer_id = county.users["officer"].id
    losers: Counter[str] = Counter()
    for trial in range(trials):
        case_id = start_assessment(county)
        task = open_task(case_id, "self_assessment")
        task_id, data = task.id, self_assessment_data(case_id)
        version = _lock_version(case_id)
        db.session.commit()  # end the main session's transaction before the racers start

        outcomes = race(app, complete_task(task_id, officer_id, data), complete_task(task_id, officer_id, data))

        db.session.expire_all()
        label = f"trial {trial}: {outcomes}"
        assert sorted(o.ok for o in outcomes) == [False, True], label
        loser = next(o.error for o in outcomes if not o.ok)
        assert isinstance(loser, Conflict) and loser.status == 409, label
        losers[loser.message] += 1
        assert _actions(case_id, task_id) == ["submit"], label
        assert open_task(case_id).step == "supervisor_review", label
        assert _lock_version(case_id) == version + 1, label
        rounds = db.session.scalars(
            select(SelfAssessmentEntry.round).where(SelfAssessmentEntry.case_id == case_id)
        ).all()
        assert rounds and set(rounds) == {1} and len(rounds) == len(data["entries"]), label
        raced = db.session.get(HumanTask, task_id)
        assert raced.status == "completed" and raced.completed_by_id == officer_id, label
        db.session.commit()
    print(f"losers' conflicts: {dict(losers)}")
    return losers


@pytest.mark.pg
@requires_pg
def test_double_complete_same_task_postgres(app, county):
    """The loser blocks on the case's row lock, then finds the task completed: 409."""
    assert sum(_double_complete_trials(app, county, TRIALS).values()) == TRIALS


@pytest.mark.skipif(is_postgres(), reason="SQLite variant; PostgreSQL runs test_double_complete_same_task_postgres")
def test_double_complete_same_task_sqlite(app, county):
    """SQLite serialises writers; the case's ``lock_version`` (or the task's status) makes the loser a 409."""
    assert sum(_double_complete_trials(app, county, SQLITE_TRIALS).values()) == SQLITE_TRIALS


def _appeal_vs_timer_trials(app: Flask, county, trials: int) -> dict[str, int]:
    head_id = county.users["head"].id
    seen = {"timer_first": 0, "appeal_first": 0, "timer_worker_conflict": 0}
    for trial in range(trials):
        case_id = start_assessment(county)
        run_to_publicity(county, case_id)
        timer = db.session.scalar(select(Timer).where(Timer.case_id == case_id, Timer.status == "pending"))
        assert timer is not None
        clock.advance(timer.due_at - clock.now() + dt.timedelta(minutes=1))  # just past the window
        version = _lock_version(case_id)
        db.session.commit()

        timer_out, appeal_out = race(app, fire_timers(), file_appeal(case_id, head_id))

        db.session.expire_all()
        label = f"trial {trial}: timer={timer_out} appeal={appeal_out}"
        case = db.session.get(Case, case_id)
        events = _actions(case_id)
        appeals = db.session.scalar(select(func.count(Appeal.id)).where(Appeal.case_id == case_id))
        db.session.refresh(timer)
        for out in (timer_out, appeal_out):  # a refusal is a 409, never a deadlock or a lock error
            assert out.ok or isinstance(out.error, Conflict), label
        if appeal_out.ok:  # appeal won: the message cancelled the publicity timer
            seen["appeal_first"] += 1
            # the worker either skipped the cancelled timer or lost on lock_version (SQLite) and rolled back
            assert (timer_out.ok and timer_out.value == 0) or not timer_out.ok, label
            if not timer_out.ok:
                seen["timer_worker_conflict"] += 1
            assert case.status == "running", label
            assert appeals == 1 and events.count("message:appeal_filed") == 1, label
            assert "timer" not in events and "end" not in events, label
            assert timer.status == "cancelled", label
            assert open_task(case_id).step == "appeal_review", label
            assert cases.fire_due_timers() == 0, label  # the worker's next run finds nothing to fire
            db.session.commit()
        else:  # timer won: the case is final and the appeal was refused with a clear 409
            seen["timer_first"] += 1
            assert timer_out.ok and timer_out.value == 1, label
            assert "公示期已结束" in str(appeal_out.error), label
            assert case.status == "completed", label
            assert appeals == 0 and "message:appeal_filed" not in events, label
            assert events[-2:] == ["timer", "end"], label
            assert timer.status == "fired", label
            assert (
                db.session.scalar(
                    select(func.count(HumanTask.id)).where(HumanTask.case_id == case_id, HumanTask.status == "open")
                )
                == 0
            ), label
        assert _lock_version(case_id) == version + 1, label
        db.session.commit()
    print(f"appeal vs timer: {seen}")
    return seen


@pytest.mark.pg
@requires_pg
def test_appeal_races_publicity_timer_postgres(app, county):
    seen = _appeal_vs_timer_trials(app, county, APPEAL_TRIALS)
    # the window has closed on the clock: the appeal is refused whoever runs first
    assert seen["timer_first"] == APPEAL_TRIALS and seen["appeal_first"] == 0


@pytest.mark.skipif(is_postgres(), reason="SQLite variant; PostgreSQL runs test_appeal_races_publicity_timer_postgres")
def test_appeal_races_publicity_timer_sqlite(app, county):
    seen = _appeal_vs_timer_trials(app, county, SQLITE_TRIALS // 2)
    assert seen["timer_first"] == SQLITE_TRIALS // 2 and seen["appeal_first"] == 0


def test_two_timer_workers_fire_each_timer_once(app, county):
    """Several `flask timers run` workers may run at once: each due timer fires exactly once."""
    for trial in range(5):
        case_id = start_assessment(county)
        run_to_publicity(county, case_id)
        clock.advance(dt.timedelta(days=10))
        db.session.commit()
        first, second = race(app, fire_timers(), fire_timers())
        fired = [o.value for o in (first, second) if o.ok]
        for out in (first, second):
            assert out.ok or isinstance(out.error, Conflict), f"trial {trial}: {first} {second}"
        assert sum(fired) == 1, f"trial {trial}: {first} {second}"
        db.session.expire_all()
        assert _actions(case_id).count("timer") == 1
        assert db.session.get(Case, case_id).status == "completed"
        db.session.commit()
