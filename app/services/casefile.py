"""Read-side queries for the case and task pages: history, tasks, rounds of entries and scores, appeals.

Everything here only reads; each function issues a fixed number of queries (relationships are
eager-loaded) so the pages stay free of N+1 queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.models import (
    Appeal,
    Case,
    CaseEvent,
    HumanTask,
    RoleAssignment,
    Score,
    SelfAssessmentEntry,
    UnitClosure,
    User,
)
from app.services import cases

ACTION_LABELS: dict[str, str] = {
    "start": "发起",
    "submit": "提交",
    "approve": "通过",
    "return": "退回",
    "score": "评分",
    "flag": "发现异常",
    "pass": "监督无异常",
    "rescore": "退回重新评分",
    "dismiss": "异常不成立",
    "review": "复核",
    "upheld": "裁定申诉成立",
    "rejected": "裁定申诉不成立",
    "answer": "书面答复",
    "end": "流程结束",
    "timer": "定时事件",
    "cancel": "撤销",
    "message:appeal_filed": "提出申诉",
    "sign": "签署",
    "complete": "办理完成",
    "propose": "申报目标",
    "report": "审核上报",
    "comment": "反馈意见",
    "revise": "修改上报",
    "opinion": "审核意见",
    "finalize": "审核定稿",
    "confirm": "确认目标",
    "object": "提出异议",
    "issue": "下达目标",
    # supervision (step 4)
    "plan": "提交整改方案",
    "rect_report": "报告整改完成",
    "verify_fail": "核验未通过，退回整改",
    "close": "三不放过核验通过，销号",
    "explain": "说明逾期原因",
    "supervise": "督办",
    "fill": "填报进展",
    "summary": "提交自查总结",
    "evaluate": "完成年中评估",
    "self_score": "提交月度自评",
    "deduction_appeal": "提出扣分申诉",
    # approval operations (issue 6)
    "return_to": "退回",
    "withdraw": "撤回",
    "transfer": "转办",
    "delegate": "委派",
    "resolve": "委派处理完毕交回",
    "cosign": "加签",
    "cosign_approve": "加签同意",
    "cosign_return": "加签退回",
    "cc": "抄送",
    "urge": "催办",
}
TASK_STATUS = {"open": "待办理", "completed": "已办理", "cancelled": "已取消"}
TASK_STATUS.update(returned="已退回", withdrawn="已撤回")  # approval operations
CASE_STATUS = {"running": "进行中", "completed": "已完成", "cancelled": "已撤销"}
APPEAL_STATUS = {"filed": "已受理", "reviewed": "已复核", "decided": "已裁定", "answered": "已答复"}
APPELLANT_KINDS = {"unit": "单位", "cadre": "干部", "public": "社会公众"}
APPEAL_ROLES = ("unit_head", "unit_officer")


def action_label(action: str | None) -> str:
    if not action:
        return ""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    if action.startswith("message:"):
        return "收到消息 " + action.split(":", 1)[1]
    return action


@dataclass
class HistoryItem:
    at: dt.datetime
    actor: str
    action: str
    label: str
    step: str | None
    comment: str | None
    detail: str


def _detail(action: str, data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    parts: list[str] = []
    if "round" in data:
        parts.append(f"第 {data['round']} 轮")
    if action == "submit":
        parts.append(f"{data.get('entries', 0)} 项指标")
        if data.get("files"):
            parts.append(f"佐证材料 {data['files']} 个")
    if data.get("total") is not None:
        parts.append(f"总分 {data['total']}")
    if data.get("appeal"):
        parts.append(f"申诉编号 {data['appeal']}")
    if data.get("kind") in APPELLANT_KINDS:
        parts.append(f"申诉人：{APPELLANT_KINDS[data['kind']]}")
    if data.get("corrected_total"):
        parts.append(f"更正后总分 {data['corrected_total']}")
    if data.get("to_name"):  # approval operations: transfer / delegate
        parts.append(f"{'转办' if action == 'transfer' else '委派'}给 {data['to_name']}")
    if data.get("users") and action in ("cosign", "cc"):
        parts.append(f"{'加签人' if action == 'cosign' else '抄送'}：{'、'.join(data['users'])}")
    if data.get("bulk"):
        parts.append("批量审批")
    if data.get("on_behalf_of_name"):
        parts.append(f"代 {data['on_behalf_of_name']} 办理")
    return "，".join(parts)


def history(case: Case) -> list[HistoryItem]:
    """The case's full timeline, oldest first, with who did what and why."""
    events = db.session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id)
        .options(joinedload(CaseEvent.user))
        .order_by(CaseEvent.created_at, CaseEvent.id)
    ).all()
    return [
        HistoryItem(
            at=e.created_at,
            actor=e.user.display_name if e.user else ("社会公众" if e.action.startswith("message:") else "系统"),
            action=e.action,
            label=action_label(e.action),
            step=e.step,
            comment=e.comment,
            detail=_detail(e.action, e.data),
        )
        for e in events
    ]


def tasks(case: Case) -> list[HumanTask]:
    return list(
        db.session.scalars(
            select(HumanTask)
            .where(HumanTask.case_id == case.id)
            .options(joinedload(HumanTask.completed_by))
            .order_by(HumanTask.created_at, HumanTask.id)
        )
    )


@dataclass
class EntryRound:
    number: int
    entries: list[SelfAssessmentEntry] = field(default_factory=list)
    submitted_at: dt.datetime | None = None
    submitted_by: str = ""


def entry_rounds(case: Case) -> list[EntryRound]:
    """Every self-assessment round, newest first, entries with their indicator and evidence."""
    rows = db.session.scalars(
        select(SelfAssessmentEntry)
        .where(SelfAssessmentEntry.case_id == case.id)
        .options(joinedload(SelfAssessmentEntry.indicator), selectinload(SelfAssessmentEntry.evidence))
        .order_by(SelfAssessmentEntry.round.desc(), SelfAssessmentEntry.id)
    ).all()
    users = _names({r.submitted_by_id for r in rows})
    rounds: dict[int, EntryRound] = {}
    for row in rows:
        rnd = rounds.setdefault(row.round, EntryRound(row.round))
        rnd.entries.append(row)
        rnd.submitted_at = row.submitted_at
        rnd.submitted_by = users.get(row.submitted_by_id, "")
    return list(rounds.values())


@dataclass
class ScoreRound:
    number: int
    scores: list[Score] = field(default_factory=list)
    scored_at: dt.datetime | None = None
    scored_by: str = ""

    @property
    def total(self) -> Decimal:
        return sum((Decimal(s.points) for s in self.scores), Decimal(0))


def score_rounds(case: Case) -> list[ScoreRound]:
    """Every scoring round, newest first."""
    rows = db.session.scalars(
        select(Score)
        .where(Score.case_id == case.id)
        .options(joinedload(Score.indicator))
        .order_by(Score.round.desc(), Score.id)
    ).all()
    users = _names({r.scored_by_id for r in rows})
    rounds: dict[int, ScoreRound] = {}
    for row in rows:
        rnd = rounds.setdefault(row.round, ScoreRound(row.round))
        rnd.scores.append(row)
        rnd.scored_at = row.scored_at
        rnd.scored_by = users.get(row.scored_by_id, "")
    return list(rounds.values())


def _names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    return {user_id: name for user_id, name in rows}


def appeals(case: Case) -> list[Appeal]:
    return list(
        db.session.scalars(
            select(Appeal)
            .where(Appeal.case_id == case.id)
            .options(joinedload(Appeal.appellant))
            .order_by(Appeal.filed_at, Appeal.id)
        )
    )


def appeal_for_task(task: HumanTask) -> Appeal | None:
    """The appeal an appeal_* task is about: the one named in its history event once completed,
    else the case's appeal still being handled (a case handles one appeal at a time)."""
    if not (task.form_key or "").startswith("assessment.appeal_"):
        return None
    query = select(Appeal).where(Appeal.case_id == task.case_id).options(joinedload(Appeal.appellant))
    if task.status != "open":
        data = db.session.scalar(
            select(CaseEvent.data).where(CaseEvent.task_id == task.id).order_by(CaseEvent.id.desc()).limit(1)
        )
        reference = (data or {}).get("appeal")
        if reference:
            return db.session.scalar(query.where(Appeal.reference == reference))
    return db.session.scalar(
        query.where(Appeal.status != "answered").order_by(Appeal.filed_at.desc(), Appeal.id.desc()).limit(1)
    )


def appeals_by(user: User, limit: int = 50) -> list[tuple[Appeal, Case]]:
    """Appeals ``user`` filed, newest first, with their case."""
    rows = db.session.execute(
        select(Appeal, Case)
        .join(Case, Case.id == Appeal.case_id)
        .where(Appeal.appellant_id == user.id)
        .options(joinedload(Case.unit))
        .order_by(Appeal.filed_at.desc(), Appeal.id.desc())
        .limit(limit)
    ).all()
    return [(a, c) for a, c in rows]


def appeal_kind(user: User, case: Case) -> str | None:
    """How ``user`` may object to ``case``'s result ("unit" or "cadre"), or None if they may not."""
    holds = bool(
        db.session.scalar(
            select(
                exists()
                .where(RoleAssignment.user_id == user.id, RoleAssignment.role.in_(APPEAL_ROLES))
                .where(UnitClosure.ancestor_id == RoleAssignment.unit_id, UnitClosure.descendant_id == case.unit_id)
            )
        )
    )
    if holds:
        return "unit"
    if user.unit_id is not None and user.unit_id == case.unit_id:
        return "cadre"
    return None


def in_publicity(case: Case) -> bool:
    """Whether the case currently accepts an appeal (publicity open, no appeal being handled)."""
    if case.status != "running" or case.process_key != "assessment":
        return False
    return cases.case_waits_for(case, "appeal_filed")
