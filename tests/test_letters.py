"""Responsibility and commitment letters through the service layer: generation, signing, digests, board."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DatabaseError

from app import clock
from app.errors import Conflict, DomainError, Forbidden, ValidationFailed
from app.extensions import db
from app.models import Case, HumanTask, Letter, LetterSignature, RoleAssignment, TargetVersion
from app.services import letter_board, letter_signing, letters, org, steps
from app.services.letter_text import digest
from tests.conftest import is_postgres
from tests.factories import PASSWORD, IssuedUnit, build_issued_unit
from tests.test_concurrency import race

requires_pg = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL only (row locks)")


def generate(iu: IssuedUnit) -> list[Letter]:
    out = letters.generate_for_unit(iu.cycle_unit, iu.version, iu.county.users["office"])
    db.session.commit()
    return out


def task_of(letter: Letter, user_id: int) -> HumanTask:
    return db.session.scalars(
        select(HumanTask).where(HumanTask.case_id == letter.case_id, HumanTask.assignee_id == user_id)
    ).one()


def sign(letter: Letter, user, data=None) -> None:
    task = task_of(letter, user.id)
    steps.submit(task, user, data if data is not None else {"agree": True})
    db.session.commit()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


# --------------------------------------------------------------------------- generation


def test_one_responsibility_letter_per_department_and_one_commitment_per_staff_member():
    iu = build_issued_unit(staff_per_department=3, departments=3)
    db.session.commit()
    out = generate(iu)
    resp = [x for x in out if x.kind == "responsibility"]
    commit = [x for x in out if x.kind == "commitment"]
    assert len(resp) == 3 and len(commit) == 9
    by_dept = {x.department_id: x for x in resp}
    assert {x.party_a_id for x in resp} == {iu.head.id}
    assert {x.party_b_id for x in resp} == {u.id for u in iu.dept_heads}
    for dept, head in zip(iu.departments, iu.dept_heads, strict=True):
        mine = [x for x in commit if x.department_id == dept.id]
        assert {x.party_b_id for x in mine} == {u.id for u in iu.staff[dept.id]}
        assert {x.party_a_id for x in mine} == {head.id}
        assert {x.parent_letter_id for x in mine} == {by_dept[dept.id].id}
    first, second = resp[0], resp[1]
    assert "高考本科上线率" in first.body and "学生体质健康达标率" in first.body
    assert "校园安全事故零发生" not in first.body and "校园安全事故零发生" in second.body
    assert "党风廉政建设" in first.body  # common indicators listed in 责任书
    for letter in out:
        assert letter.sha256 == digest(letter.body) and letter.status == "pending"
        case = db.session.get(Case, letter.case_id)
        assert case.process_key == "responsibility_letter" and case.subject_id == letter.id
        open_tasks = db.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open")
        ).all()
        assert sorted(t.assignee_id for t in open_tasks) == sorted([letter.party_a_id, letter.party_b_id])
        assert {t.form_key for t in open_tasks} == {"letter.sign"}


def test_generation_is_idempotent_and_adds_only_new_staff():
    iu = build_issued_unit()
    db.session.commit()
    first = generate(iu)
    cases_before = count(Case)
    again = generate(iu)
    assert [x.id for x in again] == [x.id for x in first]
    assert count(Letter) == len(first) and count(Case) == cases_before
    dept = iu.departments[1]
    newcomer = org.create_user("newbie", "德育处新同志", PASSWORD, unit=iu.county.school, department=dept)
    org.assign_role(newcomer, "staff", iu.county.school)
    db.session.commit()
    third = generate(iu)
    added = [x for x in third if x.id not in {y.id for y in first}]
    assert len(added) == 1 and added[0].party_b_id == newcomer.id and added[0].kind == "commitment"
    assert count(Case) == cases_before + 1


def test_missing_unit_head_is_a_clear_error_and_nothing_is_generated():
    iu = build_issued_unit()
    db.session.execute(text("DELETE FROM role_assignment WHERE role = 'unit_head'"))
    db.session.commit()
    cases_before = count(Case)
    with pytest.raises(DomainError, match="县第一中学 没有单位主要负责人"):
        letters.generate_for_unit(iu.cycle_unit, iu.version, iu.county.users["office"])
    db.session.rollback()
    assert count(Letter) == 0 and count(Case) == cases_before


def test_missing_department_head_names_the_department():
    iu = build_issued_unit()
    head = iu.dept_heads[1]
    db.session.execute(
        RoleAssignment.__table__.delete().where(RoleAssignment.user_id == head.id, RoleAssignment.role == "dept_head")
    )
    db.session.commit()
    with pytest.raises(DomainError, match="德育处") as info:
        letters.generate_for_unit(iu.cycle_unit, iu.version, iu.county.users["office"])
    assert "教务处" not in info.value.message
    db.session.rollback()
    assert count(Letter) == 0


def test_due_dates_come_from_the_cycle():
    iu = build_issued_unit(staff_per_department=1)
    iu.county.cycle.letters_due_on = dt.date(2025, 3, 31)
    db.session.commit()
    out = generate(iu)
    assert {x.due_on for x in out} == {dt.date(2025, 3, 31)}
    dues = set(db.session.scalars(select(HumanTask.due_at).where(HumanTask.status == "open", HumanTask.form_key
                                                                 == "letter.sign")))
    assert dues == {dt.datetime(2025, 3, 31, 15, 59, 59)}  # 23:59:59 China time


# --------------------------------------------------------------------------- signing


def test_both_parties_sign_and_the_letter_becomes_signed_and_verifies():
    iu = build_issued_unit(staff_per_department=1)
    db.session.commit()
    letter = generate(iu)[0]
    sign(letter, iu.dept_heads[0], {"agree": True, "comment": "同意"})
    db.session.refresh(letter)
    assert letter.status == "pending" and len(letter.signatures) == 1
    sign(letter, iu.head)
    db.session.refresh(letter)
    assert letter.status == "signed" and letter.signed_at is not None
    assert {(s.party, s.user_id) for s in letter.signatures} == {("a", iu.head.id), ("b", iu.dept_heads[0].id)}
    assert all(s.digest == letter.sha256 == digest(letter.body) for s in letter.signatures)
    assert db.session.get(Case, letter.case_id).status == "completed"
    result = letter_signing.verify(letter)
    assert result.ok and result.message.startswith("验证通过") and len(result.signatures) == 2


def test_signing_twice_is_refused():
    iu = build_issued_unit(staff_per_department=1)
    db.session.commit()
    letter = generate(iu)[0]
    task = task_of(letter, iu.head.id)
    steps.submit(task, iu.head, {"agree": True})
    db.session.commit()
    with pytest.raises(Conflict):
        steps.submit(task, iu.head, {"agree": True})
    db.session.rollback()
    assert count(LetterSignature) == 1


def test_signing_someone_elses_letter_is_forbidden():
    iu = build_issued_unit(staff_per_department=1)
    db.session.commit()
    letter = generate(iu)[0]
    outsider = iu.dept_heads[1]  # head of another department, same unit
    with pytest.raises(Forbidden):
        steps.submit(task_of(letter, iu.head.id), outsider, {"agree": True})
    db.session.rollback()
    with pytest.raises(Forbidden):  # party B cannot sign in party A's place either
        steps.submit(task_of(letter, iu.head.id), iu.dept_heads[0], {"agree": True})
    db.session.rollback()
    assert count(LetterSignature) == 0


def test_signing_needs_explicit_agreement():
    iu = build_issued_unit(staff_per_department=1)
    db.session.commit()
    letter = generate(iu)[0]
    with pytest.raises(ValidationFailed) as info:
        steps.submit(task_of(letter, iu.head.id), iu.head, {"agree": False})
    assert "agree" in info.value.fields
    db.session.rollback()


# --------------------------------------------------------------------------- digests and immutability


def test_a_changed_text_is_detected_and_cannot_be_signed():
    iu = build_issued_unit(staff_per_department=1)
    db.session.commit()
    letter = generate(iu)[0]
    sign(letter, iu.head)
    tampered = letter.body.replace("高考本科上线率", "高考专科上线率")
    db.session.execute(update(Letter).where(Letter.id == letter.id).values(body=tampered))
    db.session.commit()
    db.session.refresh(letter)
    result = letter_signing.verify(letter)
    assert not result.ok
    assert any("与生成时的摘要" in p for p in result.problems)
    assert any("甲方" in p for p in result.problems)  # the head's signature no longer matches
    with pytest.raises(Conflict, match="摘要不一致"):
        steps.submit(task_of(letter, iu.dept_heads[0].id), iu.dept_heads[0], {"agree": True})
    db.session.rollback()


def test_a_signed_letter_cannot_change():
    iu = build_issued_unit(staff_per_department=1)
    db.session.commit()
    letter = generate(iu)[0]
    sign(letter, iu.head)
    sign(letter, iu.dept_heads[0])
    copy = letter.body + "补充条款：乙方另行承担……\n"
    assert not letter_signing.verify(letter, body=copy).ok  # a tampered copy is detected
    assert letter_signing.verify(letter).ok
    with pytest.raises(DatabaseError):  # the trigger
        db.session.execute(update(Letter).where(Letter.id == letter.id).values(body=copy))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(DatabaseError):
        db.session.execute(update(Letter).where(Letter.id == letter.id).values(status="void"))
        db.session.flush()
    db.session.rollback()
    letter = db.session.get(Letter, letter.id)
    with pytest.raises(Conflict, match="不得更改"):  # the service refuses too
        letters.void_letter(letter, iu.county.users["office"], "试图作废")
    db.session.rollback()
    assert db.session.get(Letter, letter.id).status == "signed"


def test_reissuing_another_version_voids_pending_letters():
    iu = build_issued_unit(staff_per_department=1)
    db.session.commit()
    old = generate(iu)
    newer = TargetVersion(
        case_id=iu.version.case_id, cycle_id=iu.version.cycle_id, unit_id=iu.version.unit_id, number=7,
        stage="down3", items=iu.version.items, tier="II", sha256="f" * 64, created_by_id=iu.county.users["office"].id,
    )
    db.session.add(newer)
    db.session.flush()
    iu.cycle_unit.issued_version_id = newer.id
    db.session.commit()
    fresh = letters.generate_for_unit(iu.cycle_unit, newer, iu.county.users["office"])
    db.session.commit()
    assert len(fresh) == len(old) and not {x.id for x in fresh} & {x.id for x in old}
    assert {db.session.get(Letter, x.id).status for x in old} == {"void"}
    assert {db.session.get(Case, x.case_id).status for x in old} == {"cancelled"}


# --------------------------------------------------------------------------- board


def test_board_counts_and_overdue():
    iu = build_issued_unit(staff_per_department=2)
    iu.county.cycle.letters_due_on = (clock.now() + dt.timedelta(days=3)).date()
    db.session.commit()
    out = generate(iu)
    done = out[0]
    sign(done, iu.head)
    sign(done, iu.dept_heads[0])
    half = out[1]
    sign(half, iu.head)
    cycle = iu.county.cycle
    rows = {r.unit.code: r for r in letter_board.overview(cycle)}
    assert (rows["SCH1"].total, rows["SCH1"].signed, rows["SCH1"].overdue) == (len(out), 1, 0)
    assert rows["FIN"].total == 0 and not rows["FIN"].issued and rows["SCH1"].issued
    clock.advance(dt.timedelta(days=5))
    rows = {r.unit.code: r for r in letter_board.overview(cycle)}
    assert (rows["SCH1"].signed, rows["SCH1"].overdue) == (1, len(out) - 1)
    board = letter_board.unit_board(cycle, iu.county.school.id)
    assert (board.total, board.signed, board.overdue) == (len(out), 1, len(out) - 1)
    by_id = {r.letter.id: r for r in board.rows}
    assert by_id[done.id].signed_a and by_id[done.id].signed_b and not by_id[done.id].overdue
    assert by_id[half.id].signed_a and by_id[half.id].signed_b is None and by_id[half.id].overdue


# --------------------------------------------------------------------------- both parties at once


def _sign_action(task_id: int, user_id: int, case_id: int):
    def action(barrier) -> None:
        from app.models import User

        task = db.session.get(HumanTask, task_id)
        user = db.session.get(User, user_id)
        form_letter = letter_signing.letter_of_case(case_id)  # like the web form: loaded (and held) before the lock
        barrier.wait(timeout=30)
        steps.submit(task, user, {"agree": True})
        assert form_letter.id == task.case.subject_id

    return action


@requires_pg
def test_both_parties_signing_at_the_same_moment_both_count(app):
    iu = build_issued_unit(staff_per_department=3, departments=2)
    db.session.commit()
    out = generate(iu)
    for letter in out:
        a, b = task_of(letter, letter.party_a_id), task_of(letter, letter.party_b_id)
        outcomes = race(app, _sign_action(a.id, letter.party_a_id, letter.case_id),
                        _sign_action(b.id, letter.party_b_id, letter.case_id))
        assert all(o.ok for o in outcomes), outcomes
    db.session.expire_all()
    assert {x.status for x in db.session.scalars(select(Letter))} == {"signed"}
    assert count(LetterSignature) == 2 * len(out)
