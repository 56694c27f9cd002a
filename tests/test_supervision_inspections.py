"""Inspections, spot-check draws, the public deductions ledger and deduction appeals."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.models import CycleUnit, DeductionAppeal, Finding, LedgerItem, SpotCheckDraw, SupervisionFile
from app.services import deduction_appeals, inspections, ledger, org
from tests.supervision_support import Browser, act, actions, build_current, login, pdf, set_today, task, today


@pytest.fixture
def sc():
    return build_current()


def _finding(sc, **overrides):
    data = {"unit_id": sc.county.school.id, "kind": "open", "category": "environment",
            "description": "办公区卫生脏乱，垃圾未清理", "found_on": today().isoformat(), "points": "0.5"}
    data.update(overrides)
    finding = inspections.record_finding(sc.county.cycle, sc.inspector, data, overrides.pop("files", None))
    db.session.commit()
    return finding


def test_finding_records_a_published_deduction(sc, app):
    finding = _finding(sc, indicator_id=sc.targets[0].id)
    item = db.session.get(LedgerItem, finding.ledger_item_id)
    assert item.kind == "deduction" and item.points == Decimal("0.5") and item.source == "inspection"
    assert item.source_id == finding.id and item.unit_id == sc.county.school.id
    assert item.month == today().strftime("%Y-%m") and item.indicator_id == sc.targets[0].id
    assert "明查·环境卫生" in item.reason
    assert ledger.totals(sc.county.cycle.id, sc.county.school.id).deductions == Decimal("0.5")
    page = app.test_client().get(f"/public/ledger?month={item.month}")  # no login
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "办公区卫生脏乱" in html and "县第一中学" in html and "0.50" in html


def test_finding_without_points_records_no_ledger_item(sc):
    finding = _finding(sc, points="0", kind="covert")
    assert finding.ledger_item_id is None
    assert db.session.scalar(select(LedgerItem.id)) is None


def test_finding_evidence_is_stored_and_visible_to_the_unit_not_others(sc, app):
    finding = inspections.record_finding(
        sc.county.cycle, sc.inspector,
        {"unit_id": sc.county.school.id, "kind": "open", "category": "attendance", "description": "迟到",
         "found_on": today().isoformat(), "points": "1"}, [pdf("考勤照片.pdf")],
    )
    db.session.commit()
    row = db.session.scalar(select(SupervisionFile).where(SupervisionFile.owner_id == finding.id))
    assert row.owner_type == "finding" and row.original_name == "考勤照片.pdf" and len(row.sha256) == 64
    own = login(app, sc.county.users["officer"]).get(f"/supervision/files/{row.id}")
    assert own.status_code == 200 and own.data.startswith(b"%PDF")
    assert login(app, sc.county.users["other_officer"]).get(f"/supervision/files/{row.id}").status_code == 404


@pytest.mark.parametrize("overrides,field", [
    ({"found_on": "2099-01-01"}, "found_on"),
    ({"found_on": "2001-05-05"}, "found_on"),
    ({"category": "gossip"}, "category"),
    ({"description": ""}, "description"),
    ({"points": "-1"}, "points"),
    ({"points": "abc"}, "points"),
])
def test_bad_finding_input_is_refused(sc, overrides, field):
    with pytest.raises(ValidationFailed) as info:
        _finding(sc, **overrides)
    assert field in info.value.fields
    db.session.rollback()
    assert db.session.scalar(select(Finding.id)) is None


def test_only_inspectors_in_scope_record_and_spot_checks_need_a_draw(sc):
    with pytest.raises(Forbidden):
        inspections.record_finding(sc.county.cycle, sc.county.users["officer"], {
            "unit_id": sc.county.school.id, "kind": "open", "category": "other", "description": "x",
            "found_on": today().isoformat(), "points": "1"})
    db.session.rollback()
    with pytest.raises(ValidationFailed) as info:
        _finding(sc, kind="spot")
    assert "draw_id" in info.value.fields


def _more_units(sc, n: int = 6):
    c = sc.county
    group = c.school.group
    for i in range(n):
        unit = org.create_unit(f"TWN{i}", f"第{i}镇", kind="township", parent=c.region, group=group)
        db.session.add(CycleUnit(cycle_id=c.cycle.id, unit_id=unit.id, group_id=group.id, tier="I"))
    db.session.commit()


def test_spot_check_draw_is_reproducible_from_its_seed(sc):
    _more_units(sc)
    cycle = sc.county.cycle
    draw = inspections.draw_spot_check(cycle, sc.inspector, period="第二季度", size=3, seed="2025-Q2-环境")
    db.session.commit()
    pool = sorted(u.unit_id for u in db.session.scalars(select(CycleUnit).where(CycleUnit.cycle_id == cycle.id)))
    assert draw.pool == pool and len(draw.drawn) == 3
    assert draw.drawn == sorted(random.Random("2025-Q2-环境").sample(pool, 3))  # independent recomputation
    again = inspections.draw_spot_check(cycle, sc.inspector, period="复核", size=3, seed="2025-Q2-环境")
    assert again.drawn == draw.drawn
    check = inspections.verify_draw(draw.id)
    assert check.matches and check.recomputed == draw.drawn
    # a tampered record no longer verifies
    others = [u for u in pool if u not in draw.drawn][:3]
    db.session.execute(update(SpotCheckDraw).where(SpotCheckDraw.id == draw.id).values(drawn=others))
    db.session.commit()
    db.session.expire_all()
    assert not inspections.verify_draw(draw.id).matches


def test_draw_without_seed_records_a_generated_one_and_checks_size(sc):
    _more_units(sc, 2)
    draw = inspections.draw_spot_check(sc.county.cycle, sc.inspector, period="五月", size=2)
    assert draw.seed.isdigit() and inspections.verify_draw(draw.id).matches
    with pytest.raises(ValidationFailed):
        inspections.draw_spot_check(sc.county.cycle, sc.inspector, period="五月", size=99)
    with pytest.raises(Forbidden):
        inspections.draw_spot_check(sc.county.cycle, sc.county.users["officer"], period="五月", size=1)


def test_spot_check_finding_must_name_a_draw_that_picked_the_unit(sc):
    draw = inspections.draw_spot_check(sc.county.cycle, sc.inspector, period="四月", size=1, seed="s")
    db.session.commit()
    drawn, = draw.drawn
    not_drawn = sc.county.other.id if drawn == sc.county.school.id else sc.county.school.id
    with pytest.raises(ValidationFailed):
        _finding(sc, kind="spot", draw_id=draw.id, unit_id=not_drawn)
    db.session.rollback()
    assert _finding(sc, kind="spot", draw_id=draw.id, unit_id=drawn).draw_id == draw.id


def test_verify_page_recomputes(sc, app):
    draw = inspections.draw_spot_check(sc.county.cycle, sc.inspector, period="四月", size=1, seed="abc")
    db.session.commit()
    html = login(app, sc.county.users["monitor"]).get(f"/supervision/draws/{draw.id}").get_data(as_text=True)
    assert "复核一致" in html and "abc" in html


# --------------------------------------------------------------------------- deduction appeals


def test_deduction_appeal_upheld_changes_the_item(sc, app):
    c = sc.county
    finding = _finding(sc, points="2")
    item = db.session.get(LedgerItem, finding.ledger_item_id)
    appeal = deduction_appeals.file_appeal(item.id, c.users["officer"], "当天为校运会，属正常停课清扫")
    db.session.commit()
    assert appeal.status == "filed" and appeal.case_id
    review = task(appeal.case_id, "review")
    assert review.role == "office"
    with pytest.raises(ValidationFailed):
        act(appeal.case_id, "review", c.users["office"], {"decision": "upheld", "action": "change", "answer": "减半"})
    db.session.rollback()
    act(appeal.case_id, "review", c.users["office"],
        {"decision": "upheld", "action": "change", "new_points": "1", "answer": "情况属实，减半扣分"})
    db.session.expire_all()
    appeal = db.session.get(DeductionAppeal, appeal.id)
    old = db.session.get(LedgerItem, item.id)
    new = db.session.get(LedgerItem, appeal.replacement_item_id)
    assert appeal.status == "upheld" and appeal.answer == "情况属实，减半扣分"
    assert old.status == "changed" and new.status == "active" and new.replaces_id == old.id
    assert new.points == Decimal("1") and "KF" in new.reason
    assert ledger.totals(c.cycle.id, c.school.id).deductions == Decimal("1")
    assert {"deduction_appeal", "upheld", "end"} <= set(actions(appeal.case_id))
    html = app.test_client().get("/public/ledger").get_data(as_text=True)
    assert "已更正" in html and "<s>2.00</s>" in html


def test_deduction_appeal_upheld_withdraws(sc):
    c = sc.county
    item = db.session.get(LedgerItem, _finding(sc, points="1").ledger_item_id)
    appeal = deduction_appeals.file_appeal(item.id, c.users["head"], "检查对象错误")
    db.session.commit()
    act(appeal.case_id, "review", c.users["office"], {"decision": "upheld", "action": "withdraw", "answer": "撤销"})
    assert db.session.get(LedgerItem, item.id).status == "withdrawn"
    assert ledger.totals(c.cycle.id, c.school.id).deductions == Decimal("0")


def test_deduction_appeal_rejected_keeps_the_item_and_answers(sc):
    c = sc.county
    item = db.session.get(LedgerItem, _finding(sc, points="1").ledger_item_id)
    appeal = deduction_appeals.file_appeal(item.id, c.users["officer"], "不服")
    db.session.commit()
    act(appeal.case_id, "review", c.users["office"], {"decision": "rejected", "answer": "经核查证据确凿，维持扣分"})
    db.session.expire_all()
    assert db.session.get(LedgerItem, item.id).status == "active"
    appeal = db.session.get(DeductionAppeal, appeal.id)
    assert appeal.status == "rejected" and appeal.replacement_item_id is None and "维持" in appeal.answer
    assert ledger.totals(c.cycle.id, c.school.id).deductions == Decimal("1")


def test_appeal_window_scope_and_once_only(sc):
    c = sc.county
    item = db.session.get(LedgerItem, _finding(sc, points="1").ledger_item_id)
    with pytest.raises(Forbidden):
        deduction_appeals.file_appeal(item.id, c.users["other_officer"], "别人的扣分")
    with pytest.raises(ValidationFailed):
        deduction_appeals.file_appeal(item.id, c.users["officer"], "  ")
    deduction_appeals.file_appeal(item.id, c.users["officer"], "第一次")
    db.session.commit()
    with pytest.raises(Conflict):
        deduction_appeals.file_appeal(item.id, c.users["head"], "第二次")
    db.session.rollback()
    late = db.session.get(LedgerItem, _finding(sc, points="1", description="第二项").ledger_item_id)
    c.cycle.settings = {**(c.cycle.settings or {}), "ledger_appeal_days": 2}
    db.session.commit()
    set_today(today() + dt.timedelta(days=3))
    assert not deduction_appeals.may_appeal(c.users["officer"], late, c.cycle)
    with pytest.raises(Conflict) as info:
        deduction_appeals.file_appeal(late.id, c.users["officer"], "超期")
    assert "2 天" in info.value.message


def test_unit_page_lists_items_and_files_an_appeal(sc, app):
    item = db.session.get(LedgerItem, _finding(sc, points="1").ledger_item_id)
    browser = login(app, sc.county.users["officer"])
    html = browser.get("/supervision/unit").get_data(as_text=True)
    assert "办公区卫生脏乱" in html and f"/supervision/ledger/{item.id}/appeal" in html
    browser.get(f"/supervision/ledger/{item.id}/appeal")
    assert browser.post(f"/supervision/ledger/{item.id}/appeal", {"reason": ""}).status_code == 200
    response = browser.post(f"/supervision/ledger/{item.id}/appeal", {"reason": "已当场整改"})
    assert response.status_code == 302
    assert db.session.scalar(select(DeductionAppeal.reason)) == "已当场整改"


def test_anonymous_public_ledger_hides_nothing_it_publishes_and_needs_no_login(sc, app):
    _finding(sc, points="1.5", description="窗口无人值守")
    client: Browser = Browser(app)
    response = client.get(f"/public/ledger?unit={sc.county.school.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "窗口无人值守" in html and "1.50" in html
    assert "督查室刘督查" not in html  # the inspector's name is not published
