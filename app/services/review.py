"""The committee's review board of a cycle: every group's ranking (stored once approved, else a
preview computed from the current inputs), its readiness, missing inputs and publication rounds.

``review(cycle) -> list[GroupReview]`` reads set-based (one pass of ``results.figures`` for the
whole cycle, one query for stored results and one for publication rounds; readiness is a few
queries per unapproved group). Used by the results pages, the Excel export and the PDF report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Cycle, CycleUnit, Group, Publication, UnitResult
from app.services import archive, charts, publicity, results
from app.services.scoring import FLAG_LABELS


@dataclass
class Row:
    unit_id: int
    code: str
    name: str
    case_id: int | None
    rank: int
    total: Decimal
    grade: str
    excellent_quota: int
    flags: list[str]
    veto: bool
    tier: str
    common: Decimal
    individual: Decimal
    satisfaction: Decimal
    social: Decimal
    bonus: Decimal
    deductions: Decimal
    revision: int | None = None
    result_id: int | None = None

    @property
    def flag_labels(self) -> list[str]:
        return [FLAG_LABELS.get(f, f) for f in self.flags]


@dataclass
class GroupReview:
    group: Group
    rows: list[Row]
    stored: bool
    state: str  # preview | open | closed | final
    publication: Publication | None = None
    rounds: list[Publication] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)
    readiness: publicity.Readiness | None = None
    pending: list[str] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return {"preview": "待审定", **publicity.WINDOW_LABELS}[self.state]

    @property
    def problem_text(self) -> str:
        return results.describe_problems(self.problems)

    def chart(self) -> str:
        bars = [charts.Bar(r.name, r.total, r.grade, r.veto, r.rank) for r in self.rows]
        return charts.ranking_bars(bars, title=f"{self.group.name} 排名")


def _stored_row(row: UnitResult) -> Row:
    return Row(row.unit_id, row.unit.code, row.unit.name, row.case_id, row.rank, Decimal(row.total), row.grade,
               row.excellent_quota, list(row.flags or []), row.veto, row.tier, Decimal(row.common),
               Decimal(row.individual), Decimal(row.satisfaction), Decimal(row.social), Decimal(row.bonus),
               Decimal(row.deductions), row.revision, row.id)


def _preview_row(item: results.Computed) -> Row:
    fig, res = item.figures, item.result
    return Row(fig.unit_id, fig.code, fig.name, fig.case_id, res.rank, res.total, res.grade, res.excellent_quota,
               list(res.flags), res.vetoed, fig.tier or "", item.common, fig.individual or Decimal(0),
               fig.satisfaction or Decimal(0), res.parts["social"], res.parts["bonus"], res.parts["deductions"])


def review(cycle: Cycle) -> list[GroupReview]:
    groups = list(
        db.session.scalars(
            select(Group)
            .where(Group.id.in_(select(CycleUnit.group_id).where(CycleUnit.cycle_id == cycle.id)))
            .order_by(Group.code)
        )
    )
    rounds: dict[int, list[Publication]] = {}
    for pub in db.session.scalars(
        select(Publication).where(Publication.cycle_id == cycle.id).order_by(Publication.round.desc())
    ):
        rounds.setdefault(pub.group_id, []).append(pub)
    stored: dict[int, list[UnitResult]] = {}
    for row in results.current(cycle):
        stored.setdefault(row.group_id, []).append(row)
    settings = results.settings_of(cycle)
    unpublished = [g.id for g in groups if g.id not in rounds]
    figures: dict[int, list[results.UnitFigures]] = {}
    for fig in results.figures(cycle, unpublished) if unpublished else []:
        figures.setdefault(fig.group_id, []).append(fig)
    out = []
    for group in groups:
        pubs = rounds.get(group.id, [])
        current = next((p for p in pubs if p.status != "superseded"), None)
        if current is not None:
            state = publicity.window_state(current)
            item = GroupReview(group, [_stored_row(r) for r in stored.get(group.id, [])], True, state, current, pubs)
            if state != "final":
                item.pending = archive.pending_units(cycle, group.id)
        else:
            units = figures.get(group.id, [])
            found = results.problems(units, settings)
            rows = [] if found else [_preview_row(c) for c in results.rank(units, settings)]
            item = GroupReview(group, rows, False, "preview", problems=found,
                               readiness=publicity.readiness(cycle, group.id))
        out.append(item)
    return out


def all_totals(board: list[GroupReview]) -> list[Decimal]:
    return [r.total for g in board for r in g.rows]


def histogram(board: list[GroupReview], title: str = "") -> str:
    return charts.histogram(all_totals(board), title=title)
