"""The canonical text of a letter: a deterministic plain-text rendering that the parties sign.

The same inputs always give the same bytes (no timestamps, fixed order, ``\\n`` line ends), so
``digest(render(...))`` is reproducible; the SHA-256 is over the UTF-8 bytes of the text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.models import Indicator

KIND_TITLES = {"responsibility": "绩效目标责任书", "commitment": "绩效目标承诺书"}

CLAUSES = {
    "responsibility": (
        "乙方对上述目标任务向甲方负责，按完成时限分解落实到岗到人，按月报告进展，如实提供完成情况佐证；"
        "甲方负责督促、指导、检查和考核。年终按本年度考核方案对目标完成情况进行考评，"
        "考评结果与评先树优、绩效奖励和干部使用挂钩。"
    ),
    "commitment": (
        "本人承诺认真履行岗位职责，全力完成上述本科室目标任务中本人承担的工作，按要求报告进展，"
        "服从考核，接受监督；未完成目标任务的，自愿接受相应的考核处理。"
    ),
}
FINAL_CLAUSE = "本{kind}一式两份，甲乙双方各执一份，自双方签署之日起生效；经双方签署后内容不得更改。"


@dataclass(frozen=True)
class Target:
    """One issued target as a letter lists it (from an Indicator row or a TargetVersion item)."""

    code: str
    name: str
    target_value: str
    measure_unit: str
    points: Decimal
    scoring_rule: str
    deadline: dt.date | None
    department_id: int | None
    lead_name: str
    responsible_name: str
    sort_key: tuple[int, int]

    @classmethod
    def of_indicator(cls, row: Indicator) -> Target:
        return cls(
            code=row.code,
            name=row.name,
            target_value=row.target_value or "",
            measure_unit=row.measure_unit or "",
            points=Decimal(row.points),
            scoring_rule=row.scoring_rule or "",
            deadline=row.deadline,
            department_id=row.department_id,
            lead_name=row.lead_name or "",
            responsible_name=row.responsible_name or "",
            sort_key=(row.sort_order, row.id),
        )

    @classmethod
    def of_item(cls, item: dict[str, Any], index: int) -> Target:
        deadline = item.get("deadline")
        department = item.get("department_id")
        return cls(
            code=str(item.get("code") or ""),
            name=str(item.get("name") or ""),
            target_value=str(item.get("target_value") or ""),
            measure_unit=str(item.get("measure_unit") or ""),
            points=Decimal(str(item.get("points") or 0)),
            scoring_rule=str(item.get("scoring_rule") or ""),
            deadline=dt.date.fromisoformat(deadline) if isinstance(deadline, str) and deadline else None,
            department_id=int(department) if department not in (None, "") else None,
            lead_name=str(item.get("lead_name") or ""),
            responsible_name=str(item.get("responsible_name") or ""),
            sort_key=(index, index),
        )


@dataclass(frozen=True)
class Party:
    name: str
    post: str  # e.g. "县第一中学 单位主要负责人"


@dataclass(frozen=True)
class LetterSpec:
    kind: str
    unit_name: str
    department_name: str
    year: int
    cycle_title: str
    version_number: int
    version_sha256: str
    party_a: Party
    party_b: Party
    targets: tuple[Target, ...]
    common: tuple[Target, ...] = ()


def number(value: Decimal) -> str:
    """``50`` for 50.00, ``2.5`` for 2.50: the shortest exact decimal."""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def title_of(spec: LetterSpec) -> str:
    kind = KIND_TITLES[spec.kind]
    who = spec.department_name if spec.kind == "responsibility" else spec.party_b.name
    return f"{spec.unit_name}{spec.year}年度{kind}（{who}）"[:200]


def _clean(value: str) -> str:
    """One line: inner line breaks and runs of spaces collapse, so the layout stays canonical."""
    return " ".join(value.split())


def _target_lines(index: int, target: Target) -> list[str]:
    value = f"{_clean(target.target_value)}{_clean(target.measure_unit)}" or "—"
    deadline = target.deadline.isoformat() if target.deadline else "—"
    lines = [
        f"{index}. [{_clean(target.code)}] {_clean(target.name)}",
        f"   目标值：{value}；分值：{number(target.points)} 分；完成时限：{deadline}",
        f"   评分细则：{_clean(target.scoring_rule) or '—'}",
    ]
    if target.lead_name or target.responsible_name:
        lead, person = _clean(target.lead_name) or "—", _clean(target.responsible_name) or "—"
        lines.append(f"   分管领导：{lead}；责任人：{person}")
    return lines


def render(spec: LetterSpec) -> str:
    kind = KIND_TITLES[spec.kind]
    lines = [
        title_of(spec),
        "",
        f"甲方：{spec.party_a.name}（{spec.party_a.post}）",
        f"乙方：{spec.party_b.name}（{spec.party_b.post}）",
        f"考核年度：{spec.year}年",
        f"依据：{_clean(spec.cycle_title)}；{spec.unit_name}下达目标第 {spec.version_number} 版"
        f"（摘要 {spec.version_sha256[:16]}）",
        "",
        f"一、目标任务（{spec.department_name}，共 {len(spec.targets)} 项）",
    ]
    if spec.targets:
        for index, target in enumerate(spec.targets, start=1):
            lines.extend(_target_lines(index, target))
    else:
        lines.append("本科室本年度无个性指标任务，承担本单位共性指标的相关工作。")
    section = "二"
    if spec.kind == "responsibility" and spec.common:
        lines += ["", "二、共性指标（全单位共同落实）"]
        lines += [f"{i}. {_clean(t.name)}（{number(t.points)} 分）" for i, t in enumerate(spec.common, start=1)]
        section = "三"
    lines += ["", f"{section}、责任与承诺", CLAUSES[spec.kind], FINAL_CLAUSE.format(kind=kind[-3:])]
    return "\n".join(lines) + "\n"


def digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
