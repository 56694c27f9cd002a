"""三下 下达: the office issues the final target version of a unit's negotiation.

Creates the unit's individual indicators from the final version, records the tier and issued
version on the CycleUnit, and generates the responsibility letters (see the data contract of
``negotiation.issue`` in app/services/negotiation.py).
"""

from __future__ import annotations

from typing import Any

from app import clock
from app.errors import Conflict
from app.extensions import db
from app.models import Case, CycleUnit, HumanTask, TargetVersion, User
from app.models.target import TIERS
from app.services import cases, catalogue, letters
from app.services.negotiation import carry_forward, cycle_and_unit, require_latest
from app.services.steps import Checker, FieldSpec, Files, register


def _describe_issue(task: HumanTask) -> list[FieldSpec]:
    return [FieldSpec("comment", "下达说明", "textarea")]


@register("negotiation.issue", _describe_issue)
def submit_issue(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    ctx = cases.begin_task(task_id, user)
    cycle, unit, participant = cycle_and_unit(ctx.case)
    check = Checker(data)
    comment = check.text("comment", "下达说明", max_len=2000)
    check.raise_if_any()
    if participant.issued_at is not None:
        raise Conflict(f"{unit.name} 的目标已于此前下达")
    latest = require_latest(ctx)
    if latest.tier not in TIERS:
        raise Conflict("目标尚未定稿（缺少难度档次），不能下达")
    version = carry_forward(ctx, "down3", latest, comment, user)
    indicators = catalogue.issue_individual(cycle, unit, version)
    participant.tier = version.tier
    participant.issued_version_id = version.id
    participant.issued_at = clock.now()
    db.session.flush()
    generated = letters.generate_for_unit(participant, version, user)
    return cases.finish_task(
        ctx,
        {"version": version.number, "issued": True},
        outcome="issue",
        comment=comment or None,
        event_data={
            "version": version.number,
            "tier": version.tier,
            "indicators": len(indicators),
            "letters": len(generated),
        },
    )


def issued_version(participant: CycleUnit) -> TargetVersion | None:
    if participant.issued_version_id is None:
        return None
    return db.session.get(TargetVersion, participant.issued_version_id)
