"""Every path of assessment.bpmn through the service layer."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Appeal, Case, CaseEvent, HumanTask, Timer
from app.services import assessment, cases
from tests.factories import start_assessment
from tests.helpers import do, open_task, run_to_publicity, scoring_data, self_assessment_data


def _events(case_id: int) -> list[str]:
    return list(db.session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def _fire_after(days: int) -> int:
    clock.advance(dt.timedelta(days=days))
    fired = cases.fire_due_timers()
    db.session.commit()
    return fired


def test_straight_approval_and_publicity_timer(county):
    case_id = start_assessment(county)
    task = open_task(case_id, "self_assessment")
    assert task.role == "unit_officer" and task.unit_id == county.school.id
    assert task.due_at is not None and task.due_at > clock.now()
    run_to_publicity(county, case_id)
    case = db.session.get(Case, case_id)
    assert case.status == "running"
    assert (
        db.session.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open")).all()
        == []
    )
    timer = db.session.scalar(select(Timer).where(Timer.case_id == case_id, Timer.status == "pending"))
    assert timer is not None and timer.due_at > clock.now() + dt.timedelta(days=4)
    assert _fire_after(1) == 0  # window still open
    assert _fire_after(10) == 1
    db.session.refresh(case)
    assert case.status == "completed"
    assert _events(case_id)[-2:] == ["timer", "end"]
    assert assessment.total_of(case) is not None


def test_review_returned_twice_keeps_every_round(county):
    case_id = start_assessment(county)
    u = county.users
    for n in range(2):
        do(case_id, "self_assessment", u["officer"], self_assessment_data(case_id))
        do(case_id, "supervisor_review", u["supervisor"], {"decision": "return", "reason": f"佐证不足{n}"})
    do(case_id, "self_assessment", u["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", u["supervisor"], {"decision": "approve"})
    assert open_task(case_id).step == "audit"
    case = db.session.get(Case, case_id)
    assert {e.round for e in assessment.latest_entries(case)} == {3}
    returns = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "return")
    ).all()
    assert [r.comment for r in returns] == ["佐证不足0", "佐证不足1"]


def test_return_without_reason_is_refused_and_nothing_changes(county):
    case_id = start_assessment(county)
    do(case_id, "self_assessment", county.users["officer"], self_assessment_data(case_id))
    before = _events(case_id)
    with pytest.raises(ValidationFailed) as err:
        do(case_id, "supervisor_review", county.users["supervisor"], {"decision": "return", "reason": "  "})
    db.session.rollback()
    assert "reason" in err.value.fields
    assert _events(case_id) == before
    assert open_task(case_id).step == "supervisor_review"


def test_audit_return_monitor_flag_and_committee_return(county):
    u = county.users
    case_id = start_assessment(county)
    do(case_id, "self_assessment", u["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", u["supervisor"], {"decision": "approve"})
    do(case_id, "audit", u["auditor"], {"decision": "return", "reason": "证据与自评不符"})
    do(case_id, "self_assessment", u["officer"], self_assessment_data(case_id))
    do(case_id, "supervisor_review", u["supervisor"], {"decision": "approve"})
    do(case_id, "audit", u["auditor"], {"decision": "approve"})
    do(case_id, "scoring", u["assessor"], scoring_data(case_id))
    do(case_id, "monitoring", u["monitor"], {"flagged": True, "note": "评分时被考核单位人员在场"})
    assert open_task(case_id).role == "office"
    do(case_id, "irregularity_review", u["office"], {"decision": "rescore", "reason": "重新评分"})
    do(case_id, "scoring", u["assessor"], scoring_data(case_id, "0.8"))
    do(case_id, "monitoring", u["monitor"], {"flagged": False})
    do(case_id, "committee_approval", u["committee"], {"decision": "return", "reason": "分数偏低需复核"})
    do(case_id, "scoring", u["assessor"], scoring_data(case_id, "0.85"))
    do(case_id, "monitoring", u["monitor"], {"flagged": False})
    do(case_id, "committee_approval", u["committee"], {"decision": "approve"})
    case = db.session.get(Case, case_id)
    assert {s.round for s in assessment.latest_scores(case)} == {3}
    assert str(assessment.total_of(case)) == "68.00"  # 80 points * 0.85


@pytest.mark.parametrize("upheld", [True, False])
def test_appeal_upheld_or_rejected_then_final(county, upheld):
    u = county.users
    case_id = start_assessment(county)
    run_to_publicity(county, case_id)
    appeal = assessment.file_appeal(case_id, user=u["head"], kind="unit", reason="扣分事项已整改")
    db.session.commit()
    assert open_task(case_id).step == "appeal_review"
    # a second appeal while one is under review is refused clearly
    with pytest.raises(Conflict):
        assessment.file_appeal(case_id, user=u["head"], kind="unit", reason="再次申诉")
    db.session.rollback()
    do(case_id, "appeal_review", u["office"], {"finding": "核查了整改记录"})
    decision = {"upheld": upheld, "note": "理由", "corrected_total": "75.5" if upheld else ""}
    do(case_id, "appeal_decision", u["committee"], decision)
    do(case_id, "appeal_answer", u["office"], {"answer": "经复核，答复如下……"})
    db.session.refresh(appeal)
    assert appeal.status == "answered" and appeal.upheld is upheld and appeal.answer
    case = db.session.get(Case, case_id)
    expected = "75.50" if upheld else "72.00"
    assert f"{assessment.total_of(case):.2f}" == expected
    assert case.status == "running"  # window still open: not final yet
    assert _fire_after(10) == 1
    db.session.refresh(case)
    assert case.status == "completed"


def test_appeal_after_window_closed_is_refused(county):
    case_id = start_assessment(county)
    run_to_publicity(county, case_id)
    _fire_after(10)
    with pytest.raises(Conflict) as err:
        assessment.file_appeal(case_id, user=county.users["head"], kind="unit", reason="迟到的申诉")
    assert "公示期已结束" in err.value.message
    assert db.session.scalar(select(Appeal.id)) is None


def test_history_is_append_only(county):
    case_id = start_assessment(county)
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case_id))
    event.comment = "篡改"
    with pytest.raises(Exception, match="append-only"):
        db.session.commit()
    db.session.rollback()
