"""The indicator catalogue: common indicators until issued (sum check, then frozen); individual target checks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.services import catalogue, cycles
from tests.factories import build_negotiation_county
from tests.negotiation_support import unlink_issued  # noqa: F401


@pytest.fixture
def county():
    built = build_negotiation_county(staff_per_department=0)
    db.session.commit()
    return built


@pytest.fixture
def fresh(county):
    """A second, unissued cycle of the same county."""
    office = county.users["office"]
    return cycles.open_cycle(2031, "示范县2031年度绩效考核", office, participants=[(county.school.id, None)])


def _common(code: str, points: str, **extra):
    return {"code": code, "name": f"共性{code}", "points": points, "scoring_rule": "每发现一处问题扣 1 分", **extra}


def test_issue_checks_the_sum(county, fresh):
    office = county.users["office"]
    with pytest.raises(ValidationFailed, match="尚未设置共性指标"):
        catalogue.issue_catalogue(fresh, office)
    catalogue.add_common(fresh, office, _common("C1", "15"))
    second = catalogue.add_common(fresh, office, _common("C2", "10"))
    with pytest.raises(ValidationFailed) as info:
        catalogue.issue_catalogue(fresh, office)
    assert "25.00" in info.value.message and "30.00" in info.value.message
    assert catalogue.catalogue_issued_at(fresh) is None
    catalogue.update_indicator(second, office, _common("C2", "15"))
    assert catalogue.issue_catalogue(fresh, office) == 2
    assert catalogue.catalogue_issued_at(fresh) is not None
    assert catalogue.social_indicator(fresh).issued_at is not None


def test_frozen_after_issue(county):
    office = county.users["office"]
    cycle = county.cycle  # issued by the factory
    row = catalogue.common_indicators(cycle)[0]
    with pytest.raises(Conflict):
        catalogue.add_common(cycle, office, _common("C3", "1"))
    with pytest.raises(Conflict):
        catalogue.update_indicator(row, office, _common("C1", "20"))
    with pytest.raises(Conflict):
        catalogue.delete_common(row, office)
    with pytest.raises(Conflict):
        catalogue.issue_catalogue(cycle, office)
    db.session.refresh(row)
    assert row.points == Decimal("15.00")


def test_common_indicator_validation(county, fresh):
    office = county.users["office"]
    with pytest.raises(Forbidden):
        catalogue.add_common(fresh, county.users["officer"], _common("C1", "10"))
    with pytest.raises(ValidationFailed) as info:
        catalogue.add_common(fresh, office, {"code": "C 1", "name": "", "points": "0", "scoring_rule": ""})
    assert {"code", "name", "points", "scoring_rule"} <= set(info.value.fields)
    catalogue.add_common(fresh, office, _common("C1", "10"))
    with pytest.raises(ValidationFailed, match="已被使用"):
        catalogue.add_common(fresh, office, _common("C1", "10"))
    with pytest.raises(ValidationFailed, match="两位小数"):
        catalogue.add_common(fresh, office, _common("C2", "1.005"))
    social = catalogue.social_indicator(fresh)
    with pytest.raises(Conflict, match="社会评价"):
        catalogue.update_indicator(social, office, _common("S", "20"))


# --------------------------------------------------------------------------- individual targets


def test_valid_items_are_canonical(county):
    items = catalogue.check_individual_items(county.cycle, county.school, county.items(points=("20", "15.5", "14.5")))
    assert [i["code"] for i in items] == ["G01", "G02", "G03"]
    assert [i["points"] for i in items] == ["20.00", "15.50", "14.50"]
    assert list(items[0]) == list(catalogue.ITEM_FIELDS)
    assert isinstance(items[0]["department_id"], int)


def test_codes_reuse_the_previous_round_and_never_reuse_reserved(county):
    previous = catalogue.check_individual_items(county.cycle, county.school, county.items())
    again = [dict(i, code="") for i in county.items()]
    again[2]["name"] = "另一个新目标"
    items = catalogue.check_individual_items(
        county.cycle, county.school, again, previous=previous, reserved={"G01", "G02", "G03", "G07"}
    )
    assert [i["code"] for i in items] == ["G01", "G02", "G08"]


@pytest.mark.parametrize(
    ("mutate", "key", "text"),
    [
        (lambda i: i[0].update(points="0"), "items-0-points", "分值应大于 0"),
        (lambda i: i[0].update(points="-5"), "items-0-points", "分值应大于 0"),
        (lambda i: i[1].update(points="1e400"), "items-1-points", ""),
        (lambda i: i[1].update(points=True), "items-1-points", "请填写"),
        (lambda i: i[2].update(deadline="2020-01-01"), "items-2-deadline", "考核期间"),
        (lambda i: i[2].update(deadline="31/12/2026"), "items-2-deadline", "YYYY-MM-DD"),
        (lambda i: i[2].update(deadline=""), "items-2-deadline", "请填写完成时限"),
        (lambda i: i[0].update(department_id=999999), "items-0-department_id", "不是本单位的科室"),
        (lambda i: i[0].update(department_id="教务处"), "items-0-department_id", "请选择责任科室"),
        (lambda i: i[0].update(lead_name=""), "items-0-lead_name", "请填写分管领导"),
        (lambda i: i[0].update(responsible_name="   "), "items-0-responsible_name", "请填写责任人"),
        (lambda i: i[0].update(scoring_rule=""), "items-0-scoring_rule", "评分细则"),
        (lambda i: i[0].update(target_value=["85"]), "items-0-target_value", "应为文本"),
        (lambda i: i[0].update(name="x" * 201), "items-0-name", "不能超过 200 字"),
        (lambda i: i[0].update(code="G 1"), "items-0-code", "编号只能包含"),
        (lambda i: (i[0].update(code="A1"), i[1].update(code="A1")), "items-1-code", "重复"),
    ],
)
def test_bad_items_name_item_and_field(county, mutate, key, text):
    items = county.items()
    mutate(items)
    with pytest.raises(ValidationFailed) as info:
        catalogue.check_individual_items(county.cycle, county.school, items)
    assert key in info.value.fields, info.value.fields
    assert text in info.value.fields[key][0]


def test_other_units_department_is_refused(county):
    items = county.items()
    items[0]["department_id"] = county.departments["FIN"][0].id
    with pytest.raises(ValidationFailed) as info:
        catalogue.check_individual_items(county.cycle, county.school, items)
    assert "第 1 项" in info.value.fields["items-0-department_id"][0]


@pytest.mark.parametrize("raw", [[], None, "items", {"name": "x"}, [1, 2]])
def test_empty_or_malformed_sets(county, raw):
    with pytest.raises(ValidationFailed) as info:
        catalogue.check_individual_items(county.cycle, county.school, raw)
    assert "items" in info.value.fields or "items-0" in info.value.fields


def test_points_must_add_up_to_the_individual_weight(county):
    with pytest.raises(ValidationFailed) as info:
        catalogue.check_individual_items(county.cycle, county.school, county.items(points=("20", "20", "20.01")))
    assert "60.01" in info.value.fields["items"][0] and "50.00" in info.value.fields["items"][0]
