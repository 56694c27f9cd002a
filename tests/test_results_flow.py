"""Results end to end through the services: committee approval by group, publicity, appeals
(upheld with a structured correction → re-rank and republish; rejected), finalization, archive."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import clock
from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.models import Appeal, ArchiveRecord, CaseEvent, HumanTask, LedgerItem, Publication, Unit, UnitResult
from app.services import archive, assessment, cases, publicity, results, social
from tests.factories import build_results_county
from tests.helpers import do, open_task

SCENARIOS = Path(__file__).resolve().parent / "data" / "scenarios"  # copies of ../shared/scenarios


def as_expected(row: UnitResult | ArchiveRecord, code: str, group: str) -> dict:
    return {"code": code, "group": group, "total": f"{row.total:.2f}", "rank": row.rank, "grade": row.grade,
            "excellent_quota": row.excellent_quota, "flags": sorted(row.flags)}


def approve_all(county) -> dict[str, Publication]:
    out = {}
    for code, group in county.groups.items():
        out[code] = publicity.approve_group(county.cycle, group, county.users["committee"], "审定通过")
        db.session.commit()
    return out


def decide(county, case_id: int, upheld: bool, correction: dict | None = None) -> None:
    u = county.users
    do(case_id, "appeal_review", u["office"], {"finding": "核查了台账与整改记录"})
    data = {"upheld": upheld, "note": "经复核裁定"}
    if correction:
        data["correction"] = correction
    do(case_id, "appeal_decision", u["committee"], data)
    do(case_id, "appeal_answer", u["office"], {"answer": "经复核，答复如下。"})


def finish_publicity() -> dict:
    clock.advance(dt.timedelta(days=10))
    cases.fire_due_timers()
    report = publicity.after_timers()
    db.session.commit()
    return report


def test_example_county_through_the_workflow_matches_expected_file():
    scenario = json.loads((SCENARIOS / "example-county.json").read_text())
    expected = json.loads((SCENARIOS / "example-county.expected.json").read_text())
    county = build_results_county(scenario)
    pubs = approve_all(county)
    assert {p.round for p in pubs.values()} == {1}
    for appeal in scenario["appeals"]:
        case_id = county.cases[appeal["unit"]]
        if appeal["by"] == "public":
            row = results.current_of_case(case_id)
            publicity.file_public_objection(row.id, contact_name="张三", contact_phone="13800000000",
                                            reason=appeal["reason"], client="10.1.1.1")
        else:
            assessment.file_appeal(case_id, user=county.users[f"head-{appeal['unit']}"], kind="unit",
                                   reason=appeal["reason"])
        db.session.commit()
        decide(county, case_id, appeal["upheld"], appeal.get("correction"))
    # T1 was republished (round 2), D1 was not
    t1, d1 = county.groups["T1"], county.groups["D1"]
    assert publicity.current_publication(county.cycle.id, t1.id).round == 2
    assert publicity.current_publication(county.cycle.id, d1.id).round == 1
    assert db.session.scalar(select(Publication.status).where(Publication.group_id == t1.id,
                                                              Publication.round == 1)) == "superseded"
    report = finish_publicity()
    assert report["finalized"] == 2
    codes = {u.id: u.code for u in county.units.values()}
    groups = {u["code"]: u["group"] for u in scenario["units"]}
    current = sorted((as_expected(r, codes[r.unit_id], groups[codes[r.unit_id]])
                      for r in results.current(county.cycle)), key=lambda d: d["code"])
    assert current == expected["units"]
    archived = db.session.scalars(select(ArchiveRecord).where(ArchiveRecord.source == "cycle")).all()
    assert sorted((as_expected(r, codes[r.unit_id], r.group_code) for r in archived),
                  key=lambda d: d["code"]) == expected["units"]
    assert all(archive.verify(r) for r in archived)
    # the correction is a recorded ledger act pointing at the appeal
    t104 = county.units["T1-04"]
    items = db.session.scalars(select(LedgerItem).where(LedgerItem.unit_id == t104.id).order_by(LedgerItem.id)).all()
    assert [(i.status, str(i.points)) for i in items] == [("changed", "2.00"), ("active", "1.00")]
    assert "申诉" in items[1].reason and items[1].replaces_id == items[0].id
    rejected = db.session.scalar(select(Appeal).where(Appeal.upheld.is_(False)))
    assert rejected.answer and rejected.appellant_kind == "public" and rejected.corrected_total is None


@pytest.fixture
def county7():
    return build_results_county()


def test_committee_approval_completes_every_task_and_opens_round_one(county7):
    c = county7
    group = c.groups["R1"]
    pub = publicity.approve_group(c.cycle, group, c.users["committee"], "同意")
    db.session.commit()
    r1_cases = [c.cases[code] for code in ("R1-01", "R1-02", "R1-03", "R1-04")]
    done = db.session.scalars(
        select(HumanTask).where(HumanTask.case_id.in_(r1_cases), HumanTask.step == "committee_approval")
    ).all()
    assert len(done) == 4 and all(t.status == "completed" and t.completed_by_id == c.users["committee"].id
                                  for t in done)
    approve_events = db.session.scalar(
        select(func.count()).select_from(CaseEvent)
        .where(CaseEvent.case_id.in_(r1_cases), CaseEvent.action == "approve", CaseEvent.step == "考核委员会审定")
    )
    assert approve_events == 4
    assert pub.round == 1 and pub.status == "open" and pub.closes_at > clock.now() + dt.timedelta(days=4)
    rows = results.current(c.cycle, group.id)
    assert [r.rank for r in rows] == [1, 2, 3, 4] and all(r.revision == 1 and r.publication_id == pub.id
                                                         for r in rows)
    assert rows[0].unit.code == "R1-01" and rows[0].grade == "A" and "priority_promotion" in rows[0].flags
    # R2 untouched: still at committee approval
    assert open_task(c.cases["R2-01"]).step == "committee_approval"
    with pytest.raises(Conflict, match="不能重复审定"):
        publicity.approve_group(c.cycle, group, c.users["committee"])


def test_group_refused_while_a_unit_is_not_at_committee_approval():
    county = build_results_county(drive=False)
    with pytest.raises(Conflict) as err:
        publicity.approve_group(county.cycle, county.groups["R2"], county.users["committee"])
    assert "县农业农村局" in err.value.message and "单位自评" in err.value.message
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Publication)) == 0


def test_missing_satisfaction_is_listed(county7):
    c = county7
    db.session.execute(
        social.SocialEvaluation.__table__.delete().where(social.SocialEvaluation.unit_id == c.units["R2-02"].id)
    )
    db.session.commit()
    with pytest.raises(ValidationFailed) as err:
        publicity.approve_group(c.cycle, c.groups["R2"], c.users["committee"])
    assert "县交通运输局" in err.value.message and err.value.fields["satisfaction"] == ["县交通运输局"]
    db.session.rollback()
    assert open_task(c.cases["R2-01"]).step == "committee_approval"  # nothing was completed


def test_only_the_committee_approves_a_group(county7):
    c = county7
    for who in ("office", "head-R1-01"):
        with pytest.raises(Forbidden):
            publicity.approve_group(c.cycle, c.groups["R1"], c.users[who])
        db.session.rollback()


def test_vetoed_unit_is_last_and_c(county7):
    c = county7
    publicity.approve_group(c.cycle, c.groups["R2"], c.users["committee"])
    db.session.commit()
    rows = {r.unit.code: r for r in results.current(c.cycle, c.groups["R2"].id)}
    assert rows["R2-03"].veto and rows["R2-03"].grade == "C" and rows["R2-03"].rank == 3
    assert "personnel_action" in rows["R2-03"].flags and "last_place_notice" in rows["R2-03"].flags


def test_upheld_appeal_reranks_and_republishes(county7):
    c = county7
    approve_all(c)
    before = {r.unit.code: r.rank for r in results.current(c.cycle, c.groups["R1"].id)}
    assert before["R1-04"] == 4
    case_id = c.cases["R1-04"]
    appeal = assessment.file_appeal(case_id, user=c.users["head-R1-04"], kind="unit", reason="扣分有误")
    db.session.commit()
    assert appeal.publication_id == publicity.current_publication(c.cycle.id, c.groups["R1"].id).id
    decide(c, case_id, True, {"deductions": [], "common": 30, "individual": 50, "satisfaction": 100})
    rows = {r.unit.code: r for r in results.current(c.cycle, c.groups["R1"].id)}
    assert rows["R1-04"].rank == 1 and rows["R1-04"].revision == 2 and rows["R1-04"].grade == "A"
    assert rows["R1-01"].rank == 2 and rows["R1-01"].grade == "B"
    pub = publicity.current_publication(c.cycle.id, c.groups["R1"].id)
    assert pub.round == 2 and rows["R1-04"].publication_id == pub.id and "申诉" in rows["R1-04"].reason
    db.session.refresh(appeal)
    assert appeal.corrected_total == rows["R1-04"].total and appeal.correction["deductions"] == []
    assert assessment.total_of(db.session.get(cases.Case, case_id)) == rows["R1-04"].total
    old = db.session.scalars(select(UnitResult).where(UnitResult.unit_id == c.units["R1-04"].id,
                                                      UnitResult.revision == 1)).one()
    assert not old.is_current and old.rank == 4  # the first revision is kept
    # R2 is not re-ranked
    assert all(r.revision == 1 for r in results.current(c.cycle, c.groups["R2"].id))


def test_rejected_appeal_keeps_the_ranking(county7):
    c = county7
    approve_all(c)
    case_id = c.cases["R1-02"]
    assessment.file_appeal(case_id, user=c.users["head-R1-02"], kind="unit", reason="有异议")
    db.session.commit()
    decide(c, case_id, False)
    assert publicity.current_publication(c.cycle.id, c.groups["R1"].id).round == 1
    assert all(r.revision == 1 for r in results.current(c.cycle))


def test_upheld_without_correction_is_refused(county7):
    c = county7
    approve_all(c)
    case_id = c.cases["R1-02"]
    assessment.file_appeal(case_id, user=c.users["head-R1-02"], kind="unit", reason="有异议")
    db.session.commit()
    do(case_id, "appeal_review", c.users["office"], {"finding": "核查"})
    with pytest.raises(ValidationFailed) as err:
        do(case_id, "appeal_decision", c.users["committee"], {"upheld": True, "note": "成立"})
    assert "申诉成立时必须填写更正后总分" in err.value.message
    db.session.rollback()
    with pytest.raises(ValidationFailed) as err:
        do(case_id, "appeal_decision", c.users["committee"],
           {"upheld": True, "note": "成立", "correction": {"satisfaction": 120, "deductions": "1"}})
    assert {"correction-satisfaction", "correction-deductions"} <= set(err.value.fields)
    db.session.rollback()


def test_final_only_after_window_and_archive_is_append_only(county7):
    c = county7
    approve_all(c)
    group = c.groups["R1"]
    with pytest.raises(Conflict, match="公示期未满"):
        archive.finalize_group(c.cycle, group, c.users["office"])
    db.session.rollback()
    case_id = c.cases["R1-03"]
    assessment.file_appeal(case_id, user=c.users["head-R1-03"], kind="unit", reason="有异议")
    db.session.commit()
    clock.advance(dt.timedelta(days=10))
    cases.fire_due_timers()
    assert publicity.after_timers()["finalized"] == 1  # R2 final; R1 waits for the open appeal
    db.session.commit()
    assert not archive.is_final(c.cycle, group.id) and archive.is_final(c.cycle, c.groups["R2"].id)
    decide(c, case_id, False)
    cases.fire_due_timers()  # the window is over: the case ends right after the answer
    publicity.after_timers()
    db.session.commit()
    records = archive.finalize_group(c.cycle, group, c.users["office"])  # idempotent
    db.session.commit()
    assert len(records) == 4 and archive.is_final(c.cycle, group.id)
    assert db.session.scalar(select(func.count()).select_from(ArchiveRecord).where(
        ArchiveRecord.source == "cycle")) == 7
    record = records[0]
    record.grade = "C"
    with pytest.raises(Exception, match="append-only"):
        db.session.commit()
    db.session.rollback()
    fixed = archive.correct(db.session.get(ArchiveRecord, record.id), grade="B", note="经复查更正",
                            actor=c.users["office"])
    db.session.commit()
    assert fixed.supersedes_id == record.id and fixed.source == "correction" and archive.verify(fixed)
    with pytest.raises(Conflict):
        archive.correct(db.session.get(ArchiveRecord, record.id), grade="A", note="再改", actor=c.users["office"])
    db.session.rollback()
    history = archive.unit_history(db.session.get(Unit, record.unit_id))
    assert (c.cycle.year, "B") in history.grades


def test_objection_after_the_window_is_refused(county7):
    c = county7
    approve_all(c)
    row = results.current_of_case(c.cases["R1-01"])
    finish_publicity()
    with pytest.raises(Conflict, match="公示期已结束"):
        publicity.file_public_objection(row.id, contact_name="李四", contact_phone="13900000000", reason="异议",
                                        client="10.0.0.9")
    db.session.rollback()
    with pytest.raises(Conflict, match="公示期已结束"):
        assessment.file_appeal(c.cases["R1-01"], user=c.users["head-R1-01"], kind="unit", reason="迟到")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Appeal)) == 0
