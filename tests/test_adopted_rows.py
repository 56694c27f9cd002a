"""Rows inserted with Core and adopted as persistent objects leave the session when their
(sub)transaction rolls back, and only then."""

from __future__ import annotations

from app.extensions import db
from app.models import Case
from app.services import cases


def _start(county, title: str) -> Case:
    return cases.start_case("assessment", unit_id=county.school.id, title=title, started_by=county.users["office"])


def test_a_case_started_in_a_rolled_back_savepoint_is_gone_and_the_earlier_one_stays(county):
    kept = _start(county, "保留")
    savepoint = db.session.begin_nested()
    ghost = _start(county, "回滚")
    ghost_id = ghost.id
    savepoint.rollback()
    assert ghost not in db.session
    assert db.session.get(Case, ghost_id) is None  # no row and no loaded stand-in
    assert kept in db.session and db.session.get(Case, kept.id) is kept
    db.session.commit()
    assert [c.title for c in db.session.query(Case).filter(Case.title.in_(["保留", "回滚"]))] == ["保留"]


def test_a_full_rollback_drops_them_too(county):
    case = _start(county, "整体回滚")
    case_id = case.id
    db.session.rollback()
    assert case not in db.session
    assert db.session.get(Case, case_id) is None
