"""三上三下 through the service layer: every path, every return point, versions, issue, refusals."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.models import Case, CaseEvent, CycleUnit, HumanTask, Indicator, Letter, TargetVersion
from app.services import catalogue, negotiation, steps, targets
from tests.factories import build_negotiation_county, run_negotiation
from tests.negotiation_support import act, open_step, unlink_issued  # noqa: F401


@pytest.fixture
def county():
    built = build_negotiation_county()
    db.session.commit()
    return built


def _stages(case: Case) -> list[str]:
    return [v.stage for v in targets.versions(case)]


def _participant(county, unit=None) -> CycleUnit:
    unit = unit or county.school
    return db.session.scalars(
        select(CycleUnit).where(CycleUnit.cycle_id == county.cycle.id, CycleUnit.unit_id == unit.id)
    ).one()


def _to_office_review(county) -> Case:
    u = county.users
    case = negotiation.start_negotiation(county.cycle, county.school, u["office"])
    db.session.commit()
    act(case.id, "propose", u["officer"], {"items": county.items()})
    act(case.id, "submit_proposal", u["head"], {"decision": "approve"})
    return case


def _to_finalize(county) -> Case:
    u = county.users
    case = _to_office_review(county)
    act(case.id, "office_review", u["office"], {"decision": "comment", "comment": "细化评分细则"})
    act(case.id, "revise", u["officer"], {"items": county.items()})
    act(case.id, "supervisor_opinion", u["supervisor"], {"opinion": "同意，建议Ⅱ档", "suggested_tier": "II"})
    return case


# --------------------------------------------------------------------------- the three paths


@pytest.mark.parametrize(
    ("returns", "stages"),
    [
        (0, ["up1", "down1", "up2", "down2", "up3", "down3"]),
        (1, ["up1", "up1", "down1", "up2", "down2", "up3", "down3"]),
        (2, ["up1", "up1", "down1", "up2", "up2", "down2", "up3", "down3"]),
    ],
)
def test_negotiation_with_returns(county, returns, stages):
    case = run_negotiation(county, returns=returns, tier="II")
    assert case.status == "completed"
    assert _stages(case) == stages
    returned = db.session.scalars(
        select(CaseEvent.comment).where(CaseEvent.case_id == case.id, CaseEvent.action == "return")
    ).all()
    assert len(returned) == returns and all(returned)
    participant = _participant(county)
    final = targets.latest_version(case)
    assert final is not None and final.stage == "down3"
    assert participant.issued_version_id == final.id and participant.issued_at is not None
    assert participant.tier == "II" == final.tier
    rows = catalogue.individual_indicators(county.cycle, county.school.id)
    assert [r.code for r in rows] == [i["code"] for i in final.items] == ["G01", "G02", "G03"]
    assert all(r.version_id == final.id and r.issued_at is not None for r in rows)
    assert sum(r.points for r in rows) == 50
    assert rows[0].department_id == county.departments["SCH1"][0].id and rows[0].lead_name == "分管副职"
    # issuing generated the responsibility letters (H2): one per department head at least
    letters = db.session.scalar(select(func.count()).select_from(Letter).where(Letter.unit_id == county.school.id))
    assert letters >= len(county.departments["SCH1"])


def test_tier_set_in_down2_is_stored_on_every_later_version(county):
    case = _to_finalize(county)
    u = county.users
    act(case.id, "finalize", u["office"], {"decision": "finalize", "tier": "III", "comment": "难度较低"})
    down2 = targets.latest_version(case)
    assert down2.stage == "down2" and down2.tier == "III"
    act(case.id, "confirm", u["head"], {})  # decision defaults to confirm
    act(case.id, "committee_approval", u["committee"], {"decision": "approve"})
    act(case.id, "issue", u["office"], {})
    assert [v.tier for v in targets.versions(case)][-3:] == ["III", "III", "III"]
    assert _participant(county).tier == "III"


def test_finalize_may_edit_the_set(county):
    case = _to_finalize(county)
    items = county.items(points=("25", "25"))
    act(case.id, "finalize", county.users["office"], {"decision": "finalize", "tier": "I", "items": items})
    latest = targets.latest_version(case)
    assert [i["points"] for i in latest.items] == ["25.00", "25.00"]
    change = targets.diff(targets.version_number(case, latest.number - 1), latest)
    assert [i["code"] for i in change.removed] == ["G03"]
    assert {f.field for c in change.changed for f in c.changes} == {"points"}
    assert change.tier == (None, "I")


# --------------------------------------------------------------------------- every return point


def test_unit_head_returns_to_officer(county):
    u = county.users
    case = negotiation.start_negotiation(county.cycle, county.school, u["office"])
    db.session.commit()
    act(case.id, "propose", u["officer"], {"items": county.items()})
    act(case.id, "submit_proposal", u["head"], {"decision": "return", "reason": "第二项目标值偏低"})
    assert open_step(case.id).step == "propose"
    assert db.session.scalar(select(CaseEvent.comment).where(CaseEvent.action == "return")) == "第二项目标值偏低"


def test_office_returns_at_down1_to_up1(county):
    case = _to_office_review(county)
    act(case.id, "office_review", county.users["office"], {"decision": "return", "reason": "请按统一模板重新申报"})
    task = open_step(case.id)
    assert (task.step, task.role) == ("propose", "unit_officer")
    view = targets.view(case)
    assert view.last_return is not None and view.last_return.text == "请按统一模板重新申报"


def test_office_returns_at_down2_to_up2(county):
    case = _to_finalize(county)
    act(case.id, "finalize", county.users["office"], {"decision": "return", "reason": "责任人不明确"})
    assert open_step(case.id).step == "revise"
    assert _stages(case) == ["up1", "down1", "up2"]


def test_unit_head_objects_at_up3(county):
    case = _to_finalize(county)
    u = county.users
    act(case.id, "finalize", u["office"], {"decision": "finalize", "tier": "I"})
    act(case.id, "confirm", u["head"], {"decision": "object", "reason": "Ⅰ档难度过高"})
    assert open_step(case.id).step == "finalize"


def test_committee_returns_to_down2(county):
    case = _to_finalize(county)
    u = county.users
    act(case.id, "finalize", u["office"], {"decision": "finalize", "tier": "I"})
    act(case.id, "confirm", u["head"], {"decision": "confirm"})
    act(case.id, "committee_approval", u["committee"], {"decision": "return", "reason": "档次偏高，重新核定"})
    assert open_step(case.id).step == "finalize"
    act(case.id, "finalize", u["office"], {"decision": "finalize", "tier": "II"})
    assert targets.latest_version(case).tier == "II"


@pytest.mark.parametrize(
    ("step", "data"),
    [
        ("submit_proposal", {"decision": "return"}),
        ("office_review", {"decision": "return", "reason": "   "}),
        ("finalize", {"decision": "return"}),
        ("confirm", {"decision": "object"}),
        ("committee_approval", {"decision": "return", "reason": ""}),
    ],
)
def test_a_return_without_reason_is_refused_and_nothing_saved(county, step, data):
    u = county.users
    case = _to_finalize(county)
    users = {"submit_proposal": u["head"], "office_review": u["office"], "finalize": u["office"],
             "confirm": u["head"], "committee_approval": u["committee"]}
    if step in ("submit_proposal", "office_review"):
        case = negotiation.start_negotiation(county.cycle, county.other, u["office"])
        db.session.commit()
        act(case.id, "propose", u["other_officer"], {"items": county.items(county.other)})
        if step == "office_review":
            act(case.id, "submit_proposal", u["other_head"], {"decision": "approve"})
        users["submit_proposal"] = u["other_head"]
    elif step in ("confirm", "committee_approval"):
        act(case.id, "finalize", u["office"], {"decision": "finalize", "tier": "I"})
        if step == "committee_approval":
            act(case.id, "confirm", u["head"], {"decision": "confirm"})
    before = (db.session.scalar(select(func.count()).select_from(CaseEvent)),
              db.session.scalar(select(func.count()).select_from(TargetVersion)))
    task = open_step(case.id, step)
    with pytest.raises(ValidationFailed) as info:
        steps.submit(task, users[step], data)
    db.session.rollback()
    assert "reason" in info.value.fields
    after = (db.session.scalar(select(func.count()).select_from(CaseEvent)),
             db.session.scalar(select(func.count()).select_from(TargetVersion)))
    assert after == before
    assert open_step(case.id, step).id == task.id


def test_finalize_needs_a_tier(county):
    case = _to_finalize(county)
    with pytest.raises(ValidationFailed) as info:
        steps.submit(open_step(case.id, "finalize"), county.users["office"], {"decision": "finalize", "tier": "IV"})
    assert "tier" in info.value.fields


# --------------------------------------------------------------------------- bad input


def test_bad_targets_are_refused_with_field_errors(county):
    u = county.users
    case = negotiation.start_negotiation(county.cycle, county.school, u["office"])
    db.session.commit()
    task = open_step(case.id, "propose")
    with pytest.raises(ValidationFailed) as empty:
        steps.submit(task, u["officer"], {"items": []})
    assert "items" in empty.value.fields
    items = county.items()
    items[0]["deadline"] = f"{county.cycle.year + 1}-01-15"
    items[1]["points"] = "abc"
    items[2]["name"] = ""
    with pytest.raises(ValidationFailed) as bad:
        steps.submit(task, u["officer"], {"items": items})
    fields = bad.value.fields
    assert "考核期间" in fields["items-0-deadline"][0] and "第 1 项" in fields["items-0-deadline"][0]
    assert "数字" in fields["items-1-points"][0]
    assert "请填写指标名称" in fields["items-2-name"][0]
    items = county.items(points=("20", "15", "10"))
    with pytest.raises(ValidationFailed) as total:
        steps.submit(task, u["officer"], {"items": items})
    assert "45.00" in total.value.fields["items"][0] and "50.00" in total.value.fields["items"][0]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TargetVersion)) == 0


# --------------------------------------------------------------------------- starting


def test_start_rules(county):
    u = county.users
    with pytest.raises(Forbidden):
        negotiation.start_negotiation(county.cycle, county.school, u["officer"])
    with pytest.raises(NotFound):
        negotiation.start_negotiation(county.cycle, county.bureau, u["office"])
    case = negotiation.start_negotiation(county.cycle, county.school, u["office"])
    db.session.commit()
    assert (case.subject_type, case.subject_id) == ("cycle_unit", _participant(county).id)
    assert case.cycle_id == county.cycle.id and case.group_id == _participant(county).group_id
    with pytest.raises(Conflict):
        negotiation.start_negotiation(county.cycle, county.school, u["office"])
    started = negotiation.start_all(county.cycle, u["office"])
    db.session.commit()
    assert [c.unit_id for c in started] == [county.other.id]
    assert negotiation.start_all(county.cycle, u["office"]) == []


def test_a_completed_negotiation_cannot_be_restarted(county):
    run_negotiation(county)
    with pytest.raises(Conflict):
        negotiation.start_negotiation(county.cycle, county.school, county.users["office"])


# --------------------------------------------------------------------------- immutability


def test_issued_targets_cannot_be_edited(county):
    case = run_negotiation(county)
    row = catalogue.individual_indicators(county.cycle, county.school.id)[0]
    with pytest.raises(Conflict):
        catalogue.update_indicator(row, county.users["office"], {"name": "改名", "points": "20"})
    with pytest.raises(Conflict):
        catalogue.delete_common(row, county.users["office"])
    version = targets.latest_version(case)
    version.note = "改一下"
    with pytest.raises(sa.exc.DBAPIError):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.delete(TargetVersion).where(TargetVersion.id == version.id))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TargetVersion).where(TargetVersion.case_id == case.id))


def test_digest_verifies_and_detects_changes(county):
    case = run_negotiation(county)
    for version in targets.versions(case):
        assert targets.verify(version)
    version = targets.latest_version(case)
    assert version.sha256 == targets.digest(version.items, version.tier)
    copy = TargetVersion(items=[dict(version.items[0], points="99.00"), *version.items[1:]], tier=version.tier,
                         sha256=version.sha256)
    assert not targets.verify(copy)


def test_diff_between_rounds(county):
    u = county.users
    case = negotiation.start_negotiation(county.cycle, county.school, u["office"])
    db.session.commit()
    first = county.items()
    act(case.id, "propose", u["officer"], {"items": first})
    v1 = targets.latest_version(case)
    second = [dict(i, code=c["code"]) for i, c in zip(county.items(points=("25", "25")), v1.items, strict=False)]
    second[0]["target_value"] = "98"
    second[1]["department_id"] = county.departments["SCH1"][2].id
    second.append(dict(first[2], name="新增：家校共育", code="", points="0.5"))
    second[0]["points"] = "24.5"
    act(case.id, "submit_proposal", u["head"], {"decision": "return", "reason": "调整"})
    act(case.id, "propose", u["officer"], {"items": second})
    v2 = targets.latest_version(case)
    change = targets.diff(v1, v2)
    assert [i["code"] for i in change.removed] == ["G03"]
    assert [(i["code"], i["name"]) for i in change.added] == [("G04", "新增：家校共育")]
    fields = {c.code: {f.field: (f.old, f.new) for f in c.changes} for c in change.changed}
    assert fields["G01"] == {"target_value": ("90", "98"), "points": ("20.00", "24.50")}
    assert fields["G02"] == {
        "points": ("15.00", "25.00"),
        "department_id": (county.departments["SCH1"][1].id, county.departments["SCH1"][2].id),
    }
    assert change.unchanged == 0 and change.tier is None
    assert targets.diff(v2, v2).empty


# --------------------------------------------------------------------------- permissions


def test_other_units_officer_cannot_complete(county):
    u = county.users
    case = negotiation.start_negotiation(county.cycle, county.school, u["office"])
    db.session.commit()
    task = open_step(case.id, "propose")
    with pytest.raises(Forbidden):
        steps.submit(task, u["other_officer"], {"items": county.items()})
    with pytest.raises(Forbidden):
        steps.submit(task, u["sch_dh1"], {"items": county.items()})
    db.session.rollback()
    assert db.session.get(HumanTask, task.id).status == "open"


def test_board_shows_each_stage(county):
    u = county.users
    case = _to_office_review(county)
    rows = {r.participant.unit_id: r for r in targets.board(county.cycle)}
    assert rows[county.school.id].stage == "down1" and rows[county.school.id].versions == 1
    assert rows[county.other.id].case is None and rows[county.other.id].stage_label == "未启动"
    act(case.id, "office_review", u["office"], {"decision": "comment"})
    assert {r.participant.unit_id: r.stage for r in targets.board(county.cycle)}[county.school.id] == "up2"
    assert db.session.scalar(select(func.count()).select_from(Indicator).where(Indicator.part == "individual")) == 0


# --------------------------------------------------------------------------- API and atomic issue


def test_api_describes_and_completes_the_proposal(app, client, county):
    case = negotiation.start_negotiation(county.cycle, county.school, county.users["office"])
    db.session.commit()
    task_id = open_step(case.id, "propose").id

    def call(method, url, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with app.app_context():
            response = client.open(url, method=method, headers=headers, **kwargs)
        db.session.expire_all()
        return response

    from tests.factories import PASSWORD

    token = call("POST", "/api/v1/auth/token", json={"username": "officer", "password": PASSWORD}).get_json()["token"]
    detail = call("GET", f"/api/v1/tasks/{task_id}", token).get_json()
    items = next(f for f in detail["fields"] if f["name"] == "items")
    assert items["type"] == "entries"
    assert {f["name"] for f in items["item_fields"]} >= {"points", "department_id", "deadline", "lead_name"}
    department = next(f for f in items["item_fields"] if f["name"] == "department_id")
    assert [c[1] for c in department["choices"]] == ["教务处", "德育处", "总务处"]
    bad = call("POST", f"/api/v1/tasks/{task_id}/complete", token, json={"data": {"items": [{"name": "x"}]}})
    assert bad.status_code == 422 and "items-0-points" in bad.get_json()["error"]["fields"]
    done = call("POST", f"/api/v1/tasks/{task_id}/complete", token, json={"data": {"items": county.items()}})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["current_step"] == "一上：单位负责人审核上报"


def test_issue_is_atomic_when_letters_cannot_be_generated(county):
    from app.errors import DomainError
    from app.models import RoleAssignment

    u = county.users
    case = _to_finalize(county)
    act(case.id, "finalize", u["office"], {"decision": "finalize", "tier": "I"})
    act(case.id, "confirm", u["head"], {"decision": "confirm"})
    act(case.id, "committee_approval", u["committee"], {"decision": "approve"})
    head_role = db.session.scalars(select(RoleAssignment).where(RoleAssignment.user_id == u["head"].id)).one()
    db.session.delete(head_role)  # no unit head: the letters cannot be generated
    db.session.commit()
    versions = db.session.scalar(select(func.count()).select_from(TargetVersion))
    with pytest.raises(DomainError):
        steps.submit(open_step(case.id, "issue"), u["office"], {})
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TargetVersion)) == versions
    assert catalogue.individual_indicators(county.cycle, county.school.id) == []
    assert _participant(county).issued_at is None and open_step(case.id).step == "issue"
