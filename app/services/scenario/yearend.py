"""The second half of a scenario's year: committee approval per group, publicity, appeals
(filed, 复核, 裁定, 书面答复), the window closing on the advanced clock, finalisation and archive."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Appeal, Group, HumanTask
from app.services import appeal_steps, archive, cases, publicity
from app.services.scenario.runner import Run, ScenarioError, appellant


def publish_appeal_finalise(state: Run) -> None:
    committee = state.user("committee")
    for code, _ in state.scenario.groups:
        group = state.county.groups[code]
        if any(u.group == code for u in state.scenario.units):
            publicity.approve_group(state.cycle, group, committee, note="审定通过，予以公示。")
            state.tasks_completed += sum(1 for u in state.scenario.units if u.group == code)
    state.commit()
    for spec in state.scenario.appeals:
        _appeal(state, spec)
        state.commit()
    _close_windows(state)


def _appeal(state: Run, spec: Any) -> None:
    case_id = state.assessment_cases[spec.unit]
    user = appellant(state, spec)
    contact = {} if user is not None else {"contact_name": "群众代表", "contact_phone": "13800000000"}
    appeal = appeal_steps.file_appeal(case_id, user=user, kind=spec.by, reason=spec.reason, **contact)
    state.do(case_id, "appeal_review", state.office, {"finding": "已调取督查记录和整改台账进行复核。"})
    note = "经复核，申诉理由成立。" if spec.upheld else "经复核，申诉理由不成立。"
    decision: dict[str, Any] = {"upheld": spec.upheld, "note": note}
    if spec.upheld:
        decision["correction"] = spec.correction
    state.do(case_id, "appeal_decision", state.user("committee"), decision)
    answer = f"关于申诉 {appeal.reference} 的书面答复：{note}"
    state.do(case_id, "appeal_answer", state.office, {"answer": answer})


def _close_windows(state: Run) -> None:
    """Advance the application clock past every publicity window and fire the timers."""
    due = db.session.scalar(
        select(HumanTask.id).where(HumanTask.case_id.in_(list(state.assessment_cases.values())),
                                   HumanTask.status == "open").limit(1)
    )
    if due is not None:
        raise ScenarioError("仍有未办结的申诉或考核任务，无法结束公示")
    days = int(state.scenario.settings.get("publicity_days", 5))
    clock.advance(dt.timedelta(days=days * 2 + 4))  # working days plus weekends
    while cases.fire_due_timers(limit=500):
        state.commit()
    publicity.after_timers()
    used = {u.group for u in state.scenario.units}
    for group in (state.county.groups[c] for c, _ in state.scenario.groups if c in used):
        if not archive.is_final(state.cycle, group.id):
            archive.finalize_group(state.cycle, group, state.office)
    state.commit()


__all__ = ["publish_appeal_finalise", "Appeal", "Group"]
