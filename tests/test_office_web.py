"""The office (考核方案) and unit (方案备案) pages through HTTP."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Cycle, CycleUnit, Indicator, UnitScheme
from app.services import catalogue, cycles
from tests.factories import build_negotiation_county
from tests.negotiation_support import login, unlink_issued  # noqa: F401


@pytest.fixture
def county():
    built = build_negotiation_county(staff_per_department=1)
    db.session.commit()
    return built


def test_office_pages_need_the_office_role(app, county):
    officer = login(app, county.users["officer"])
    for url in ("/office/", f"/office/cycles/{county.cycle.id}", f"/office/cycles/{county.cycle.id}/catalogue"):
        assert officer.get(url).status_code == 403
    assert "本单位考核" in officer.get("/unit/").get_data(as_text=True)
    office = login(app, county.users["office"])
    html = office.get("/office/").get_data(as_text=True)
    assert "考核方案</a>" in html and county.cycle.title in html
    for tab in ("", "/settings", "/participants", "/catalogue", "/schemes", "/negotiations", "/edit"):
        assert office.get(f"/office/cycles/{county.cycle.id}{tab}").status_code == 200, tab


def test_create_a_cycle_through_the_form(app, county):
    office = login(app, county.users["office"])
    office.get("/office/cycles/new")
    bad = office.post("/office/cycles/new", {"year": "2031", "title": "示范县2031", "starts_on": "2031-01-01",
                                             "ends_on": "2031-12-31", "scheme_due_on": "2032-02-01"})
    assert bad.status_code == 422 and "单位方案备案截止应在考核期间" in bad.get_data(as_text=True)
    ok = office.post("/office/cycles/new", {"year": "2031", "title": "示范县2031年度绩效考核",
                                            "scheme_due_on": "2031-03-31", "include_all": "y"})
    assert ok.status_code == 302
    cycle = db.session.scalars(select(Cycle).where(Cycle.year == 2031)).one()
    assert str(cycle.scheme_due_on) == "2031-03-31"
    units = db.session.scalars(select(CycleUnit.unit_id).where(CycleUnit.cycle_id == cycle.id)).all()
    assert set(units) == {county.bureau.id, county.school.id, county.other.id}  # every unit with a group
    dup = office.post("/office/cycles/new", {"year": "2031", "title": "重复"})
    assert dup.status_code == 422 and "已存在" in dup.get_data(as_text=True)


def test_settings_form_reports_weights_not_adding_up(app, county):
    office = login(app, county.users["office"])
    cycle = cycles.open_cycle(2031, "示范县2031", county.users["office"])
    db.session.commit()
    form = office.get(f"/office/cycles/{cycle.id}/settings").get_data(as_text=True)
    assert 'name="weights_common"' in form and 'value="30"' in form
    data = {"weights_common": "40", "weights_individual": "50", "weights_social": "20", "tier_I": "1",
            "tier_II": "0.95", "tier_III": "0.9", "bonus_cap": "3", "share_A": "0.3", "share_C": "0.1",
            "quota_base_rate": "0.15", "quota_A_add": "1", "quota_C_add": "-1", "publicity_days": "5",
            "veto_enabled": "y"}
    bad = office.post(f"/office/cycles/{cycle.id}/settings", data)
    assert bad.status_code == 422 and "合计应为 100，当前为 110" in bad.get_data(as_text=True)
    ok = office.post(f"/office/cycles/{cycle.id}/settings", {**data, "weights_common": "25",
                                                            "weights_social": "25", "publicity_days": "7"})
    assert ok.status_code == 302
    db.session.refresh(cycle)
    assert cycle.settings["weights"] == {"common": 25, "individual": 50, "social": 25}
    assert cycle.settings["publicity_days"] == 7
    assert catalogue.social_indicator(cycle).points == 25
    frozen = office.get(f"/office/cycles/{county.cycle.id}/settings").get_data(as_text=True)
    assert "共性指标已下达，考核设置不能再修改" in frozen and "保存设置" not in frozen


def test_catalogue_page_add_issue_and_frozen(app, county):
    office = login(app, county.users["office"])
    cycle = cycles.open_cycle(2031, "示范县2031", county.users["office"])
    db.session.commit()
    url = f"/office/cycles/{cycle.id}/catalogue"
    office.get(url)
    bad = office.post(url, {"code": "C1", "name": "", "points": "x", "scoring_rule": "扣分"})
    assert bad.status_code == 422
    added = office.post(url, {"code": "C1", "name": "党风廉政", "points": "20", "scoring_rule": "扣分"})
    assert added.status_code == 302
    office.get(url)
    refused = office.post(f"{url}/issue")
    assert refused.status_code == 422 and "共性指标分值合计为 20.00" in refused.get_data(as_text=True)
    office.post(url, {"code": "C2", "name": "依法行政", "points": "10", "scoring_rule": "扣分"})
    office.get(url)
    assert office.post(f"{url}/issue").status_code == 302
    page = office.get(url).get_data(as_text=True)
    assert "不可修改" in page and "下达共性指标</button>" not in page
    row = db.session.scalars(select(Indicator).where(Indicator.cycle_id == cycle.id, Indicator.code == "C1")).one()
    office.get(f"/office/indicators/{row.id}/edit")
    edit = office.post(f"/office/indicators/{row.id}/edit", {"code": "C1", "name": "改", "points": "20",
                                                            "scoring_rule": "扣分"})
    assert edit.status_code == 409 and "已下达" in edit.get_data(as_text=True)
    db.session.refresh(row)
    assert row.name == "党风廉政"


def test_participants_page(app, county):
    office = login(app, county.users["office"])
    url = f"/office/cycles/{county.cycle.id}/participants"
    html = office.get(url).get_data(as_text=True)
    assert f'name="unit-{county.bureau.id}"' in html
    response = office.post(url, {f"unit-{county.school.id}": "y", f"group-{county.school.id}": "",
                                 f"unit-{county.other.id}": "y", f"unit-{county.bureau.id}": "y"})
    assert response.status_code == 302
    assert db.session.scalar(
        select(func.count()).select_from(CycleUnit).where(CycleUnit.cycle_id == county.cycle.id)
    ) == 3


def test_unit_files_its_scheme_and_office_sees_it(app, county):
    officer = login(app, county.users["officer"])
    url = f"/unit/cycles/{county.cycle.id}/units/{county.school.id}/scheme"
    assert "报送方案" in officer.get(url).get_data(as_text=True)
    empty = officer.post(url, {"title": "", "summary": ""})
    assert empty.status_code == 422
    response = officer.post(url, {"title": "县一中2026年度内部考核方案", "summary": "考核对象：各处室",
                                  "attachment": (io.BytesIO(b"%PDF-1.4\n%x\n"), "一中方案.pdf")},
                            content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    scheme = db.session.scalars(select(UnitScheme)).one()
    assert scheme.original_name == "一中方案.pdf" and scheme.filed_by_id == county.users["officer"].id
    download = officer.get(f"/unit/schemes/{scheme.id}/file")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    other = login(app, county.users["other_officer"])
    assert other.get(url).status_code == 404
    assert other.get(f"/unit/schemes/{scheme.id}/file").status_code == 404
    staff = login(app, county.users["sch_staff1_1"])
    assert staff.get(url).status_code == 200  # may read
    assert staff.post(url, {"title": "x", "summary": "y"}).status_code == 403
    office = login(app, county.users["office"])
    overview = office.get(f"/office/cycles/{county.cycle.id}/schemes").get_data(as_text=True)
    assert 'id="filed-count">1<' in overview and 'id="missing-count">1<' in overview
    assert "一中方案.pdf" in overview and "未备案" in overview
