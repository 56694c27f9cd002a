"""The cycle (年度考核方案): settings and date validation, participants, freezing, scheme filing (备案)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app import clock
from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.models import CycleUnit, Indicator, UnitScheme
from app.models.cycle import DEFAULT_SETTINGS
from app.services import catalogue, cycles, negotiation, org
from tests.factories import build_negotiation_county
from tests.negotiation_support import unlink_issued  # noqa: F401


@pytest.fixture
def county():
    built = build_negotiation_county(staff_per_department=0)
    db.session.commit()
    return built


# --------------------------------------------------------------------------- settings


def test_defaults_are_valid_and_complete():
    assert cycles.validate_settings(None) == DEFAULT_SETTINGS
    changed = cycles.validate_settings(
        {"weights": {"common": "25", "individual": 55}, "tier_coefficients": {"II": "0.97"}}
    )
    assert changed["weights"] == {"common": 25, "individual": 55, "social": 20}
    assert changed["tier_coefficients"] == {"I": 1.0, "II": 0.97, "III": 0.9}


@pytest.mark.parametrize(
    ("raw", "key", "text"),
    [
        ({"weights": {"common": 40}}, "weights", "合计应为 100，当前为 110"),
        ({"weights": {"common": 0, "individual": 80}}, "weights-common", "应大于 0"),
        ({"weights": {"social": "二十"}}, "weights-social", "应为数字"),
        ({"weights": {"bonus": 3}}, "weights", "未知项"),
        ({"tier_coefficients": {"III": 0}}, "tier_coefficients-III", "大于 0 且不超过 1.5"),
        ({"tier_coefficients": {"I": 1.6}}, "tier_coefficients-I", "大于 0 且不超过 1.5"),
        ({"bonus_cap": -1}, "bonus_cap", "不能为负数"),
        ({"grade_shares": {"A": 1.2}}, "grade_shares-A", "0–1"),
        ({"grade_shares": {"A": 0.7, "C": 0.4}}, "grade_shares", "之和不能超过 1"),
        ({"quota": {"base_rate": 2}}, "quota-base_rate", "0–1"),
        ({"quota": {"A_add": 1.5}}, "quota-A_add", "整数"),
        ({"publicity_days": 0}, "publicity_days", "1–30"),
        ({"publicity_days": 31}, "publicity_days", "1–30"),
        ({"veto_enabled": "yes"}, "veto_enabled", "是/否"),
        ({"weigths": {}}, "settings", "未知的设置项"),
        ({"weights": [30, 50, 20]}, "weights", "格式错误"),
    ],
)
def test_bad_settings_name_the_field(raw, key, text):
    with pytest.raises(ValidationFailed) as info:
        cycles.validate_settings(raw)
    assert key in info.value.fields, info.value.fields
    assert text in " ".join(info.value.fields[key])


# --------------------------------------------------------------------------- opening a cycle


def test_open_cycle_defaults_dates_participants_and_social_part(county):
    office = county.users["office"]
    g = org.create_group("T1", "一类乡镇")
    town = org.create_unit("T1-01", "城关镇", kind="township", parent=county.region, group=g)
    cycle = cycles.open_cycle(2031, "示范县2031年度绩效考核", office, participants=[(town.id, None)])
    assert (cycle.starts_on, cycle.ends_on) == (dt.date(2031, 1, 1), dt.date(2031, 12, 31))
    assert cycle.settings == DEFAULT_SETTINGS
    assert [(cu.unit_id, cu.group_id) for cu in cycles.participants(cycle)] == [(town.id, g.id)]
    social = catalogue.social_indicator(cycle)
    assert social is not None and social.points == 20 and social.part == "social"


def test_open_cycle_refusals(county):
    office = county.users["office"]
    with pytest.raises(Forbidden):
        cycles.open_cycle(2031, "x", county.users["officer"])
    with pytest.raises(Conflict):
        cycles.open_cycle(county.cycle.year, "重复", office)
    with pytest.raises(ValidationFailed) as info:
        cycles.open_cycle(
            2031, "", office,
            dates={"starts_on": "2031-03-01", "ends_on": "2031-02-01", "scheme_due_on": "2032-01-10",
                   "targets_due_on": "2031-13-01"},
            settings={"weights": {"common": 50}},
        )
    fields = info.value.fields
    assert {"title", "ends_on", "targets_due_on", "weights"} <= set(fields)
    assert "格式应为 YYYY-MM-DD" in fields["targets_due_on"][0]
    with pytest.raises(ValidationFailed) as outside:
        cycles.open_cycle(2031, "x", office, dates={"scheme_due_on": "2032-01-10", "targets_due_on": "2031-05-01",
                                                      "letters_due_on": "2031-04-01"})
    assert "考核期间" in outside.value.fields["scheme_due_on"][0]
    assert "不能早于" in outside.value.fields["letters_due_on"][0]
    nogroup = org.create_unit("X1", "无分类单位", parent=county.region)
    with pytest.raises(ValidationFailed) as group:
        cycles.open_cycle(2031, "x", office, participants=[(nogroup.id, None)])
    assert "未设置考核分类" in group.value.fields["participants"][0]
    with pytest.raises(ValidationFailed):
        cycles.open_cycle(1999, "x", office)


def test_settings_update_moves_the_social_part_until_frozen(county):
    office = county.users["office"]
    cycle = cycles.open_cycle(2031, "示范县2031", office)
    cycles.update_settings(cycle, office, {"weights": {"common": 30, "individual": 45, "social": 25}})
    assert catalogue.social_indicator(cycle).points == 25
    catalogue.add_common(cycle, office, {"code": "C1", "name": "党建", "points": "30", "scoring_rule": "扣分"})
    catalogue.issue_catalogue(cycle, office)
    with pytest.raises(Conflict, match="共性指标已下达"):
        cycles.update_settings(cycle, office, {})


def test_settings_freeze_once_negotiation_started(county):
    office = county.users["office"]
    cycle = cycles.open_cycle(2031, "示范县2031", office, participants=[(county.school.id, None)])
    assert cycles.settings_frozen(cycle) is None
    negotiation.start_negotiation(cycle, county.school, office)
    with pytest.raises(Conflict, match="目标协商已启动"):
        cycles.update_settings(cycle, office, {"bonus_cap": 5})
    with pytest.raises(Conflict, match="起止日期"):
        cycles.update_cycle(cycle, office, title="改名", dates={"starts_on": "2031-02-01"})
    cycles.update_cycle(cycle, office, title="改名", dates={"scheme_due_on": "2031-03-31"})
    assert (cycle.title, cycle.scheme_due_on) == ("改名", dt.date(2031, 3, 31))


def test_participants_change_but_not_once_negotiating(county):
    office = county.users["office"]
    cycle = county.cycle
    g2 = county.other.group_id
    change = cycles.set_participants(cycle, office, [(county.school.id, g2), (county.other.id, None),
                                                     (county.bureau.id, None)])
    assert (change.added, change.removed, change.regrouped) == (1, 0, 1)
    negotiation.start_negotiation(cycle, county.school, office)
    with pytest.raises(Conflict, match="不能移出考核"):
        cycles.set_participants(cycle, office, [(county.other.id, None)])
    with pytest.raises(Conflict, match="调整考核分类"):
        cycles.set_participants(cycle, office, [(county.school.id, county.school.group_id), (county.other.id, None)])
    change = cycles.set_participants(cycle, office, [(county.school.id, g2)])
    assert (change.removed, change.added) == (2, 0)
    assert db.session.scalar(select(func.count()).select_from(CycleUnit).where(CycleUnit.cycle_id == cycle.id)) == 1


# --------------------------------------------------------------------------- schemes (备案)


def _pdf(name: str = "方案.pdf", content: bytes = b"%PDF-1.4\n% scheme\n") -> FileStorage:
    return FileStorage(stream=io.BytesIO(content), filename=name)


def test_file_scheme_on_time_late_and_refiled(county):
    cycle = county.cycle
    officer = county.users["officer"]
    cycle.scheme_due_on = (clock.to_local(clock.now()) or clock.now()).date()
    first = cycles.file_scheme(cycle, county.school, officer, title="一中考核方案", summary="考核对象与方法",
                               attachment=_pdf())
    assert not first.late and first.original_name == "方案.pdf" and len(first.sha256 or "") == 64
    assert cycles.scheme_path(first).read_bytes().startswith(b"%PDF")
    clock.advance(dt.timedelta(days=2))
    second = cycles.file_scheme(
        cycle, county.school, county.users["head"], title="一中考核方案（修订）", summary="修订"
    )
    assert second.late and second.stored_name is None
    assert [s.id for s in cycles.schemes_of(cycle, county.school.id)] == [second.id, first.id]
    rows = {r.participant.unit_id: r for r in cycles.scheme_overview(cycle)}
    assert rows[county.school.id].latest.id == second.id and rows[county.school.id].filings == 2
    assert rows[county.other.id].latest is None


def test_file_scheme_refusals(county):
    cycle = county.cycle
    with pytest.raises(Forbidden):
        cycles.file_scheme(cycle, county.school, county.users["other_officer"], title="x", summary="y")
    with pytest.raises(Forbidden):
        cycles.file_scheme(cycle, county.school, county.users["sch_dh1"], title="x", summary="y")
    with pytest.raises(ValidationFailed) as info:
        cycles.file_scheme(cycle, county.school, county.users["officer"], title=" ", summary="",
                           attachment=_pdf("方案.exe", b"MZ"))
    assert {"title", "summary", "attachment"} <= set(info.value.fields)
    assert db.session.scalar(select(func.count()).select_from(UnitScheme)) == 0
    assert db.session.scalar(select(func.count()).select_from(Indicator).where(Indicator.part == "social")) == 1
