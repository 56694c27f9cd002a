"""`flask scenario run` acts the example county's year out and produces exactly the expected result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.errors import ValidationFailed
from app.extensions import db
from app.models import ArchiveRecord, Case, CaseEvent, HumanTask, Letter, LetterSignature, TargetVersion
from app.services.scenario import spec

SHARED = Path(__file__).resolve().parent / "data" / "scenarios"  # copies of ../shared/scenarios
EXAMPLE = SHARED / "example-county.json"
EXPECTED = SHARED / "example-county.expected.json"


def _run_cli(app, tmp_path: Path, source: Path) -> tuple[dict, str]:
    out = tmp_path / "result.json"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["scenario", "run", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text(encoding="utf-8")), result.output


def test_example_county_matches_expected(app, tmp_path):
    produced, log = _run_cli(app, tmp_path, EXAMPLE)
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    tasks = produced.pop("tasks_completed")
    assert produced == expected
    # the year really ran through the workflows and is in the database
    done = db.session.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.status == "completed"))
    assert tasks == done and tasks > 100
    assert "8 units" in log
    assert db.session.scalar(select(func.count()).select_from(Case).where(Case.status == "running")) == 0
    letters = db.session.scalar(select(func.count()).select_from(Letter).where(Letter.status == "signed"))
    assert letters == sum(u["departments"] for u in json.loads(EXAMPLE.read_text(encoding="utf-8"))["units"])
    assert db.session.scalar(select(func.count()).select_from(LetterSignature)) == 2 * letters
    # 三上三下: T1-03 was returned twice (一下 and 二下), so it has more versions than T1-02 (no return)
    versions = dict(db.session.execute(
        select(Case.title, func.count(TargetVersion.id)).join(TargetVersion, TargetVersion.case_id == Case.id)
        .group_by(Case.title)
    ).all())
    assert versions["龙泉镇 2025年度目标协商（三上三下）"] > versions["石桥镇 2025年度目标协商（三上三下）"]
    returns = db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "return"))
    scenario = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert returns == sum(u["negotiation_returns"] + u["self_assessment_returns"] for u in scenario["units"])
    archived = db.session.scalars(select(ArchiveRecord).where(ArchiveRecord.year == 2025)).all()
    assert {(a.grade, a.rank) for a in archived} == {(u["grade"], u["rank"]) for u in expected["units"]}


def test_settings_override_changes_the_result(app, tmp_path):
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["settings"] = {"bonus_cap": 1, "veto_enabled": False}
    doc["appeals"] = []
    source = tmp_path / "override.json"
    source.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    produced, _ = _run_cli(app, tmp_path, source)
    units = {u["code"]: u for u in produced["units"]}
    # T1-01: 28.5 + 47 + 18.6 + min(4, 1) - 0.5 = 94.60; D1-03 no longer vetoed → ranked by total
    assert units["T1-01"]["total"] == "94.60"
    assert units["D1-01"]["total"] == "94.20"  # bonus 1.5 capped at 1
    # without the veto D1-03 (88.25) ranks third by total; 4 units → nA 1, nC 0: no C at all
    assert (units["D1-03"]["rank"], units["D1-03"]["grade"], units["D1-03"]["flags"]) == (3, "B", [])
    assert (units["D1-04"]["rank"], units["D1-04"]["flags"]) == (4, ["last_place_notice"])


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(format="pe-scenario/9"), "format"),
        (lambda d: d["units"][0].update(group="NOPE"), "units[0].group"),
        (lambda d: d["units"][0].update(tier="IV"), "units[0].tier"),
        (lambda d: d["units"][0].update(negotiation_returns=3), "units[0].negotiation_returns"),
        (lambda d: d["units"][0].update(common="many"), "units[0].common"),
        (lambda d: d["appeals"][0].update(unit="X"), "appeals[0].unit"),
    ],
)
def test_bad_scenarios_are_refused_with_the_place(mutate, where):
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    mutate(doc)
    with pytest.raises(ValidationFailed) as caught:
        spec.parse(doc)
    assert where in caught.value.fields


def test_cli_reports_bad_file_without_traceback(app, tmp_path):
    source = tmp_path / "bad.json"
    source.write_text("{not json", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["scenario", "run", str(source)])
    assert result.exit_code != 0
    assert "无法读取场景文件" in result.output
