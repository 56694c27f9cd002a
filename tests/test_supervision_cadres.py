"""Individual cadres (cadre_monthly.bpmn): monthly self-score → leader approval, quarter ranking."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.models import CadreMonth
from app.services import cadres, inbox, org
from app.services import supervision as sv
from tests.supervision_support import act, actions, build_current, login, task, today


@pytest.fixture
def sc():
    return build_current()


def _months(sc) -> list[str]:
    return sv.months_of_quarter(today().year, sv.quarter_of(today().strftime("%Y-%m")))


def _open(sc, month: str) -> dict[int, CadreMonth]:
    rows = cadres.open_month(sc.county.school, month, sc.county.users["head"], sc.county.cycle)
    db.session.commit()
    return {r.user_id: r for r in rows}


def test_month_goes_to_each_cadre_and_their_department_head(sc):
    month = _months(sc)[0]
    opened = _open(sc, month)
    one, two = sc.staff
    assert set(opened) == {one.id, two.id}
    row = opened[one.id]
    assert row.leader_id == sc.dept_head.id
    self_task = task(row.case_id, "self_score")
    assert self_task.assignee_id == one.id
    assert [t.id for t in inbox.todo(one).items] == [self_task.id]  # in the cadre's own inbox
    with pytest.raises(Forbidden):
        act(row.case_id, "self_score", two, {"self_score": "90", "summary": "代填"})  # only the cadre
    db.session.rollback()
    assert cadres.open_month(sc.county.school, month, sc.county.users["head"], sc.county.cycle) == []
    with pytest.raises(Forbidden):
        cadres.open_month(sc.county.school, month, one, sc.county.cycle)


def test_self_score_return_approve_and_adjust(sc):
    month = _months(sc)[0]
    opened = _open(sc, month)
    one, two = sc.staff
    a, b = opened[one.id], opened[two.id]
    with pytest.raises(ValidationFailed):
        act(a.case_id, "self_score", one, {"self_score": "101", "summary": "超额"})
    db.session.rollback()
    act(a.case_id, "self_score", one, {"self_score": "95", "summary": "完成教学任务"})
    with pytest.raises(ValidationFailed):
        act(a.case_id, "leader_review", sc.dept_head, {"decision": "return"})  # a return needs a reason
    db.session.rollback()
    act(a.case_id, "leader_review", sc.dept_head, {"decision": "return", "note": "自评偏高，请对照考勤"})
    act(a.case_id, "self_score", one, {"self_score": "92", "summary": "完成教学任务，迟到一次"})
    act(a.case_id, "leader_review", sc.dept_head, {"decision": "approve"})
    act(b.case_id, "self_score", two, {"self_score": "88", "summary": "完成"})
    with pytest.raises(ValidationFailed):
        act(b.case_id, "leader_review", sc.dept_head, {"decision": "approve", "final_score": "80"})  # adjust → note
    db.session.rollback()
    act(b.case_id, "leader_review", sc.dept_head, {"decision": "approve", "final_score": "80", "note": "有差错"})
    db.session.expire_all()
    a, b = db.session.get(CadreMonth, a.id), db.session.get(CadreMonth, b.id)
    assert (a.status, a.final_score) == ("approved", Decimal("92.00"))
    assert (b.status, b.final_score) == ("approved", Decimal("80.00"))
    assert [(s.round, s.decision) for s in cadres.rounds(a.id)] == [(2, "approve"), (1, "return")]
    assert {"self_score", "return", "approve", "end"} <= set(actions(a.case_id))


def _approve(sc, person, month, score):
    row = db.session.scalar(select(CadreMonth).where(CadreMonth.user_id == person.id, CadreMonth.month == month))
    act(row.case_id, "self_score", person, {"self_score": score, "summary": "完成"})
    act(row.case_id, "leader_review", sc.dept_head, {"decision": "approve"})


def test_quarter_ranking_inside_the_unit(sc, app):
    months = _months(sc)
    one, two = sc.staff
    three = org.create_user("sv_st3", "教师丙", "Test#2025pass", unit=sc.county.school)
    org.assign_role(three, "staff", sc.county.school)
    db.session.commit()
    for month in months[:2]:
        _open(sc, month)
    _approve(sc, one, months[0], "90")
    _approve(sc, one, months[1], "80")  # average 85
    _approve(sc, two, months[0], "85")  # average 85: shares rank 1
    _approve(sc, three, months[0], "70")
    ranking = cadres.quarter_ranking(sc.county.school, today().year, sv.quarter_of(months[0]))
    got = [(r.user.display_name, r.average, r.rank) for r in ranking]
    assert got[:2] == sorted([("教师甲", Decimal("85.00"), 1), ("教师乙", Decimal("85.00"), 1)])
    assert got[2] == ("教师丙", Decimal("70.00"), 3)
    assert next(r for r in ranking if r.user.id == one.id).total == Decimal("170")
    html = login(app, two).get(f"/supervision/reports/cadres?quarter={sv.quarter_of(months[0])}")
    assert html.status_code == 200 and "教师丙" in html.get_data(as_text=True)


def test_unit_without_staff_or_leader_is_refused(sc):
    with pytest.raises(Conflict):
        cadres.open_month(sc.county.other, _months(sc)[0], sc.county.users["office"], sc.county.cycle)
