"""The results service on top of the pure rules: figures gathered set-based, cycle settings,
history from the archive (corrections win), legacy corrected totals, charts and the limiter."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event

from app import clock
from app.extensions import db
from app.services import archive, charts, results, throttle
from app.services.results import UnitFigures
from app.services.scoring import merged_settings
from tests.factories import RESULTS_GROUPS, RESULTS_UNITS, build_results_county


def fig(code, common, *, veto=False, history=(), staff=10, group="G", override=None):
    return UnitFigures(unit_id=hash(code) % 10_000, code=code, name=code, group_id=1, group_code=group, staff=staff,
                       tier="I", common=Decimal(str(common)), individual=Decimal(0), satisfaction=Decimal(0),
                       veto=veto, history=list(history), total_override=override)


NO_SOCIAL = merged_settings({"weights": {"social": 0}})


def by_code(computed):
    return {c.figures.code: c.result for c in computed}


def test_rank_edges_through_the_service_layer():
    # tie at the A boundary (n=4 → nA=1): both tied units are A and share rank 1
    res = by_code(results.rank([fig("a", 90), fig("b", 90), fig("c", 80), fig("d", 70)], NO_SOCIAL))
    assert [(res[k].rank, res[k].grade) for k in "abcd"] == [(1, "A"), (1, "A"), (3, "B"), (4, "B")]
    # tie at the C boundary (n=10 → nC=1): the two last units tie → both C
    units = [fig(f"u{i}", 100 - i) for i in range(8)] + [fig("t1", 50), fig("t2", 50)]
    res = by_code(results.rank(units, NO_SOCIAL))
    assert res["t1"].grade == res["t2"].grade == "C" and res["t1"].rank == res["t2"].rank == 9
    # a vetoed top scorer is C and last
    res = by_code(results.rank([fig("v", 99, veto=True), fig("a", 90), fig("b", 80)], NO_SOCIAL))
    assert (res["v"].rank, res["v"].grade) == (3, "C") and res["a"].grade == "A"
    # a group of one: B, no last-place notice
    [only] = results.rank([fig("solo", 50, history=["C"])], NO_SOCIAL)
    assert (only.result.rank, only.result.grade, only.result.flags) == (1, "B", [])
    # half-up at .005 of the total
    [half] = results.rank([fig("h", "20.005")], NO_SOCIAL)
    assert str(half.result.total) == "20.01"


def test_legacy_corrected_total_is_booked_on_the_common_part():
    computed = results.rank([fig("a", 90), fig("b", 80, override=Decimal("95.5"))], NO_SOCIAL)
    res = by_code(computed)
    assert res["b"].total == Decimal("95.50") and res["b"].rank == 1
    assert next(c for c in computed if c.figures.code == "b").common == Decimal("95.5")


def test_cycle_settings_override_the_defaults():
    scenario = {"cycle": {"year": 2025, "title": "设置覆盖"}, "groups": RESULTS_GROUPS, "units": RESULTS_UNITS,
                "settings": {"grade_shares": {"A": 0.5}, "quota": {"base_rate": 0.2}, "bonus_cap": 0}}
    county = build_results_county(scenario)
    computed = results.compute_group(county.cycle, county.groups["R1"].id)
    grades = [c.result.grade for c in computed]
    assert grades == ["A", "A", "B", "B"]  # nA = round(4 × 0.5) = 2
    first = computed[0]
    assert first.result.parts["bonus"] == 0  # bonus cap 0
    assert first.result.excellent_quota == 8 + 1  # round(40 × 0.2) + 1
    assert first.figures.history == ["A", "A"] and "priority_promotion" in first.result.flags


def test_history_prefers_corrections_and_streaks_follow(county_small):
    c = county_small
    unit = c.units["R1-03"]  # history ["C"] imported for 2024
    [record] = [h.record for h in archive.unit_history(unit).records]
    archive.correct(record, grade="B", note="2024 年结果复查更正", actor=c.users["office"])
    db.session.commit()
    assert results.history_grades([unit.id], 2025)[unit.id] == ["B"]
    assert archive.unit_history(unit).grades == [(2024, "B")]


@pytest.fixture
def county_small():
    return build_results_county(drive=False)


def test_figures_use_a_fixed_number_of_queries():
    county = build_results_county()
    group_id = county.groups["R2"].id
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        db.session.expire_all()
        results.figures(county.cycle, [group_id])
        small = len(statements)
        statements.clear()
        db.session.expire_all()
        everything = results.figures(county.cycle)
        large = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(everything) == 7 and small == large <= 10


def test_charts_are_escaped_svg_and_bins_cover_the_values():
    svg = charts.ranking_bars([charts.Bar("<城关镇>", Decimal("96.60"), "A", False, 1),
                               charts.Bar("石桥镇", Decimal("80"), "C", True, 2)], title="一类乡镇 排名")
    assert svg.startswith("<svg") and "&lt;城关镇&gt;" in svg and "<城关镇>" not in svg
    assert "96.60" in svg and "veto-hatch" in svg and "否决" in svg
    assert charts.bins([Decimal("76.6"), Decimal("84"), Decimal("89.23"), Decimal("90")], 5) == [
        (75, 80, 1), (80, 85, 1), (85, 90, 1), (90, 95, 1)]
    assert charts.bins([]) == [] and charts.histogram([]) == ""
    assert "<title>85–90 分：1 个单位</title>" in charts.histogram([Decimal("89.23")])


def test_rate_limiter_slides():
    window = dt.timedelta(hours=1)
    for n in range(1, 4):
        assert throttle.hit("test", "1.2.3.4", limit=3, window=window) == n
    with pytest.raises(throttle.TooManyRequests):
        throttle.hit("test", "1.2.3.4", limit=3, window=window)
    assert throttle.hit("test", "5.6.7.8", limit=3, window=window) == 1
    clock.advance(dt.timedelta(minutes=61))
    assert throttle.hit("test", "1.2.3.4", limit=3, window=window) == 1
