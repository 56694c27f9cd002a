"""The scoring/ranking/grading rules of scenario-format.md, at their edges."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from app.services.scoring import D, UnitInput, merged_settings, rank_all, rank_group, round_half_up, total

SCENARIOS = Path(__file__).resolve().parent / "data" / "scenarios"  # copies of ../shared/scenarios


def unit(code, total_points, group="G", **kw):
    """A unit whose total equals ``total_points`` (all in the common part, no social weight)."""
    return UnitInput(code=code, group=group, tier=kw.pop("tier", "I"), common=D(total_points), individual=D(0),
                     satisfaction=D(0), staff=kw.pop("staff", 10), **kw)


NO_SOCIAL = merged_settings({"weights": {"social": 0}})


def by_code(results):
    return {r.code: r for r in results}


def test_example_county_rules_match_expected_file():
    scenario = json.loads((SCENARIOS / "example-county.json").read_text())
    expected = json.loads((SCENARIOS / "example-county.expected.json").read_text())
    settings = merged_settings(scenario.get("settings"))
    appeals = {a["unit"]: a for a in scenario["appeals"] if a["upheld"]}
    units = []
    for u in scenario["units"]:
        values = dict(u, **appeals.get(u["code"], {}).get("correction", {}))
        units.append(UnitInput(code=u["code"], group=u["group"], tier=u["tier"], common=D(values["common"]),
                               individual=D(values["individual"]), satisfaction=D(values["satisfaction"]),
                               staff=u["staff"], bonus=[D(b) for b in values.get("bonus", [])],
                               deductions=[D(d) for d in values.get("deductions", [])],
                               veto=values.get("veto", False), history=u.get("history", [])))
    assert [r.as_result() for r in rank_all(units, settings)] == expected["units"]


def test_half_up_at_half_cent():
    assert round_half_up(Decimal("84.005"), Decimal("0.01")) == Decimal("84.01")
    assert round_half_up(Decimal("84.004999"), Decimal("0.01")) == Decimal("84.00")
    u = UnitInput("X", "G", "II", common=D("20.005"), individual=D(0), satisfaction=D(0))
    assert str(total(u, NO_SOCIAL)[0]) == "20.01"
    # tier coefficient times an odd half: 0.95 × 10.1 = 9.595 → 9.60
    u = UnitInput("Y", "G", "II", common=D(0), individual=D("10.1"), satisfaction=D(0))
    assert str(total(u, NO_SOCIAL)[0]) == "9.60"


def test_bonus_is_capped_deductions_are_not():
    u = UnitInput("X", "G", "I", common=D(10), individual=D(0), satisfaction=D(0), bonus=[D(2), D(2)],
                  deductions=[D(5), D(1)])
    assert total(u, NO_SOCIAL)[0] == D(7)  # 10 + min(4, 3) - 6


def test_ties_at_a_boundary_all_get_a():
    # n=4 → nA = round(1.2) = 1; two units tied at the top both get A and rank 1
    res = by_code(rank_group([unit("a", 90), unit("b", 90), unit("c", 80), unit("d", 70)], NO_SOCIAL))
    assert (res["a"].rank, res["b"].rank, res["c"].rank, res["d"].rank) == (1, 1, 3, 4)
    assert (res["a"].grade, res["b"].grade) == ("A", "A")
    assert res["c"].grade == "B"


def test_ties_at_c_boundary_all_get_c():
    # n=10 → nC = 1: the unit in position 10 has rank 9 (tied with position 9) → both C
    units = [unit(f"u{i}", 100 - i) for i in range(8)] + [unit("t1", 50), unit("t2", 50)]
    res = by_code(rank_group(units, NO_SOCIAL))
    assert res["t1"].rank == res["t2"].rank == 9
    assert res["t1"].grade == res["t2"].grade == "C"
    assert res["u7"].grade == "B"
    assert "last_place_notice" in res["t1"].flags and "last_place_notice" in res["t2"].flags


def test_vetoed_top_scorer_is_c_and_last():
    res = by_code(rank_group([unit("v", 99, veto=True), unit("a", 90), unit("b", 80)], NO_SOCIAL))
    assert res["v"].grade == "C" and res["v"].rank == 3
    assert res["a"].rank == 1 and res["a"].grade == "A"  # nA = round(0.9) = 1
    assert "last_place_notice" in res["v"].flags


def test_veto_disabled_by_setting_counts_normally():
    settings = merged_settings({"weights": {"social": 0}, "veto_enabled": False})
    res = by_code(rank_group([unit("v", 99, veto=True), unit("a", 90), unit("b", 80)], settings))
    assert res["v"].rank == 1 and res["v"].grade == "A"


def test_group_of_one():
    [only] = rank_group([unit("solo", 50, history=["C"])], NO_SOCIAL)
    # n=1: nA = round(0.3) = 0, nC = round(0.1) = 0 → B, and no last-place notice in a group of one
    assert (only.rank, only.grade, only.flags) == (1, "B", [])


def test_settings_overridden_shares_and_quota():
    settings = merged_settings({"weights": {"social": 0}, "grade_shares": {"A": 0.5, "C": 0.25},
                                "quota": {"base_rate": 0.2, "A_add": 2}})
    res = by_code(rank_group([unit("a", 90, staff=10), unit("b", 80), unit("c", 70), unit("d", 60, staff=3)],
                             settings))
    assert [res[c].grade for c in "abcd"] == ["A", "A", "B", "C"]
    assert res["a"].excellent_quota == 4  # round(10 × 0.2) + 2
    assert res["d"].excellent_quota == 0  # round(0.6)=1, C_add −1 → 0 (never below 0)


def test_streak_flags():
    res = by_code(rank_group([unit("a", 90, history=["B", "A", "A"]), unit("b", 80), unit("c", 70, history=["C"]),
                              unit("d", 60, history=["C", "B"])] + [unit(f"x{i}", 75) for i in range(6)],
                             NO_SOCIAL))
    assert "priority_promotion" in res["a"].flags
    assert res["d"].grade == "C" and "personnel_action" not in res["d"].flags
    units = [unit("a", 90), unit("c", 10, history=["A", "C"])] + [unit(f"x{i}", 50) for i in range(8)]
    res = by_code(rank_group(units, NO_SOCIAL))
    assert res["c"].grade == "C" and "personnel_action" in res["c"].flags


@pytest.mark.parametrize("raw,expected", [(93.0, "93.0"), ("88.5", "88.5"), (2, "2")])
def test_decimal_inputs_are_exact(raw, expected):
    assert str(D(raw)) == expected


def test_vetoed_unit_tied_with_last_normal_unit_does_not_share_its_rank():
    results = by_code(rank_group([unit("A", 90), unit("B", 80), unit("V", 80, veto=True)], NO_SOCIAL))
    assert (results["B"].rank, results["V"].rank) == (2, 3)
    # the vetoed unit alone holds the last rank: the normal unit gets no last-place notice
    assert "last_place_notice" not in results["B"].flags
    assert "last_place_notice" in results["V"].flags
    assert (results["B"].grade, results["V"].grade) == ("B", "C")
