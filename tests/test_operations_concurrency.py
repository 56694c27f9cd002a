"""Races between approval operations and completions on one task: never both applied, never half applied.

Uses the racing harness of tests/test_concurrency.py (threads with their own sessions, released by a
barrier). PostgreSQL serialises on the case's row lock; the SQLite variant relies on serialised
writers plus the case's ``lock_version`` (the loser gets a 409).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from app.models import CaseEvent, HumanTask, User
from app.services import operations, steps
from tests.conftest import is_postgres
from tests.factories import start_assessment
from tests.helpers import do, open_task, self_assessment_data
from tests.ops_support import add_people, deploy_ops_processes, open_rows, start
from tests.test_concurrency import Action, complete_task, race

requires_pg = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL only (row locks)")
TRIALS = 15
APPROVE = {"decision": "approve"}


def transfer(task_id: int, user_id: int, to_user_id: int) -> Action:
    def action(barrier: threading.Barrier) -> Any:
        db.session.get(HumanTask, task_id)
        user = db.session.get(User, user_id)
        barrier.wait(timeout=30)
        return operations.transfer(task_id, user, to_user_id, "出差").id

    return action


def approve_cosign(task_id: int, user_id: int) -> Action:
    def action(barrier: threading.Barrier) -> Any:
        task = db.session.get(HumanTask, task_id)
        user = db.session.get(User, user_id)
        barrier.wait(timeout=30)
        return steps.submit(task, user, {"decision": "approve"}).id

    return action


def _actions(task_id: int) -> list[str]:
    return list(db.session.scalars(select(CaseEvent.action).where(CaseEvent.task_id == task_id)
                                   .order_by(CaseEvent.id)))


def _transfer_vs_complete(app, county, trials: int) -> dict[str, int]:
    people = add_people(county)
    supervisor, other = county.users["supervisor"], people["supervisor2"]
    seen = {"transfer": 0, "complete": 0, "sqlite_conflict": 0}
    for trial in range(trials):
        case_id = start_assessment(county)
        do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
        task_id = open_task(case_id, "supervisor_review").id
        db.session.commit()
        moved, done = race(app, transfer(task_id, supervisor.id, other.id), complete_task(task_id, supervisor.id,
                                                                                           APPROVE))
        db.session.expire_all()
        label = f"trial {trial}: transfer={moved} complete={done}"
        task = db.session.get(HumanTask, task_id)
        for out in (moved, done):
            assert out.ok or isinstance(out.error, DomainError), label
        if moved.ok and not done.ok:  # transferred first: the old owner is no candidate any more
            seen["transfer"] += 1
            assert isinstance(done.error, Forbidden | Conflict), label
            assert task.status == "open" and task.assignee_id == other.id, label
            assert _actions(task_id) == ["transfer"], label
        elif done.ok and not moved.ok:  # completed first: nothing left to transfer
            seen["complete"] += 1
            assert isinstance(moved.error, Conflict), label
            assert task.status == "completed" and task.completed_by_id == supervisor.id, label
            assert task.assignee_id is None and _actions(task_id) == ["approve"], label
            assert open_task(case_id, "audit"), label
        else:
            raise AssertionError(label)
        db.session.commit()
    print(f"transfer vs complete: {seen}")
    return seen


@pytest.mark.pg
@requires_pg
def test_transfer_races_completion_postgres(app, county):
    seen = _transfer_vs_complete(app, county, TRIALS)
    assert seen["transfer"] + seen["complete"] == TRIALS


@pytest.mark.skipif(is_postgres(), reason="SQLite variant")
def test_transfer_races_completion_sqlite(app, county):
    seen = _transfer_vs_complete(app, county, 5)
    assert seen["transfer"] + seen["complete"] == 5


@pytest.mark.pg
@requires_pg
def test_two_countersign_approvals_at_once_advance_the_step_exactly_once(app, county):
    people = add_people(county)
    deploy_ops_processes()
    for trial in range(TRIALS):
        case_id = start(county, "ops_countersign")
        do(case_id, "prepare", county.users["officer"], APPROVE)
        rows = {r.assignee_id: r.id for r in open_rows(case_id, "review")}
        db.session.commit()
        first, second = race(
            app,
            complete_task(rows[county.users["supervisor"].id], county.users["supervisor"].id, APPROVE),
            complete_task(rows[people["supervisor2"].id], people["supervisor2"].id, APPROVE),
        )
        db.session.expire_all()
        label = f"trial {trial}: {first} {second}"
        assert first.ok and second.ok, label  # the row lock serialises them; both approvals count
        assert open_rows(case_id, "review") == [], label
        assert len(open_rows(case_id, "final")) == 1, label
        db.session.commit()


@pytest.mark.pg
@requires_pg
def test_cosign_approval_races_main_completion(app, county):
    for trial in range(TRIALS):
        case_id = start_assessment(county)
        do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
        review = open_task(case_id, "supervisor_review").id
        [cosign] = operations.add_cosigner(review, county.users["supervisor"], [county.users["auditor"].id], "把关")
        cosign_id, auditor_id, supervisor_id = cosign.id, county.users["auditor"].id, county.users["supervisor"].id
        db.session.commit()
        signed, main = race(app, approve_cosign(cosign_id, auditor_id), complete_task(review, supervisor_id, APPROVE))
        db.session.expire_all()
        label = f"trial {trial}: cosign={signed} main={main}"
        assert signed.ok, label
        task = db.session.get(HumanTask, review)
        if main.ok:  # the co-sign went first
            assert task.status == "completed" and open_task(case_id, "audit"), label
        else:  # the main completion went first and was refused: co-signer pending
            assert isinstance(main.error, Conflict) and "加签" in main.error.message, label
            assert task.status == "open", label
        db.session.commit()
