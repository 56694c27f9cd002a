"""Shared set-up of the approval-operation tests: extra people in the county and the test processes."""

from __future__ import annotations

from pathlib import Path

from app.extensions import db
from app.models import HumanTask, User
from app.services import cases, definitions, org
from tests.factories import PASSWORD, County

OPS_BPMN = Path(__file__).resolve().parent / "data" / "operations.bpmn"


def add_people(county: County) -> dict[str, User]:
    """supervisor2 (a second 主管部门 holder at 教育局), clerk (教育局 colleague without a role),
    outsider (财政局, no role)."""
    made = {
        "supervisor2": org.create_user("supervisor2", "教育局吴副科长", PASSWORD, unit=county.bureau),
        "clerk": org.create_user("clerk", "教育局办事员林", PASSWORD, unit=county.bureau),
        "outsider": org.create_user("outsider", "财政局办事员马", PASSWORD, unit=county.other),
    }
    org.assign_role(made["supervisor2"], "supervisor", county.bureau)
    county.users.update(made)
    db.session.commit()
    return made


def deploy_ops_processes() -> None:
    definitions.deploy_bpmn(OPS_BPMN.name, OPS_BPMN.read_bytes())
    db.session.commit()


def start(county: County, key: str) -> int:
    case = cases.start_case(key, unit_id=county.school.id, title=f"{key} 测试", started_by=county.users["office"],
                            cycle_id=county.cycle.id)
    db.session.commit()
    return case.id


def open_rows(case_id: int, step: str | None = None) -> list[HumanTask]:
    from sqlalchemy import select

    query = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open")
    if step:
        query = query.where(HumanTask.step == step)
    return list(db.session.scalars(query.order_by(HumanTask.id)).unique())
