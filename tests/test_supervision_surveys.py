"""Social evaluation surveys: single-use codes (hash only), forged and reused codes refused,
nothing counted twice (also under a race on PostgreSQL), the rate recorded as social evaluation."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.models import SocialEvaluation, SurveyAnswer, SurveyToken
from app.models.supervision import SURVEY_DIMENSIONS
from app.services import social, surveys
from tests.conftest import is_postgres
from tests.supervision_support import Browser, build_current, login

ALL = {dim: "satisfied" for dim in SURVEY_DIMENSIONS}
BASIC = {dim: "basic" for dim in SURVEY_DIMENSIONS}


@pytest.fixture
def sc():
    return build_current()


def _survey(sc, count: int = 3):
    c = sc.county
    survey = surveys.create_survey(c.cycle, c.school.id, "half_year", c.users["office"])
    codes = surveys.issue_tokens(survey.id, count, c.users["office"])
    db.session.commit()
    return survey, codes


def _answers(survey_id: int) -> int:
    return db.session.scalar(select(func.count()).where(SurveyAnswer.survey_id == survey_id)) or 0


def test_codes_are_stored_as_hashes_only(sc):
    survey, codes = _survey(sc)
    assert len(set(codes)) == 3 and all(len(surveys.normalize(code)) == 16 for code in codes)
    stored = set(db.session.scalars(select(SurveyToken.token_hash)))
    assert stored == {surveys.token_hash(code) for code in codes}
    assert not any(surveys.normalize(code) in stored or code in stored for code in codes)


def test_a_code_counts_once_and_forged_codes_are_refused(sc):
    survey, codes = _survey(sc)
    surveys.answer(codes[0], ALL)
    db.session.commit()
    for again in (codes[0], codes[0].lower(), codes[0].replace("-", "")):
        with pytest.raises(Conflict, match="已使用"):
            surveys.answer(again, BASIC)
        db.session.rollback()
    forged = "ABCD-EFGH-JKLM-NPQR"
    for bad in (forged, "123", ""):
        with pytest.raises(ValidationFailed, match="调查码无效"):
            surveys.answer(bad, BASIC)
        db.session.rollback()
    assert _answers(survey.id) == 1
    stats = surveys.stats(survey)
    assert stats.issued == 3 and stats.used == 1 and stats.answers == 1


def test_every_dimension_must_be_answered(sc):
    survey, codes = _survey(sc)
    with pytest.raises(ValidationFailed) as info:
        surveys.answer(codes[0], {**ALL, "integrity": "meh"})
    assert "integrity" in info.value.fields
    db.session.rollback()
    assert db.session.scalar(select(SurveyToken.used_at).where(
        SurveyToken.token_hash == surveys.token_hash(codes[0]))) is None  # the code is still unused


def test_closing_computes_and_records_the_rate(sc):
    c = sc.county
    survey, codes = _survey(sc, 4)
    surveys.answer(codes[0], ALL)  # 5 × 1.0
    surveys.answer(codes[1], BASIC)  # 5 × 0.6
    surveys.answer(codes[2], {**ALL, "attitude": "dissatisfied"})  # 4 × 1.0
    db.session.commit()
    with pytest.raises(Forbidden):
        surveys.close_survey(survey.id, c.users["officer"])
    closed = surveys.close_survey(survey.id, c.users["office"])
    db.session.commit()
    assert closed.satisfaction == Decimal("80.00")  # (5 + 3 + 4) / 15
    assert closed.respondents == 3 and closed.status == "closed"
    record = db.session.get(SocialEvaluation, closed.social_evaluation_id)
    assert record.source == "survey" and record.round == "half_year" and record.respondents == 3
    assert social.satisfaction_of(c.cycle.id, c.school.id, "half_year") == Decimal("80.00")
    with pytest.raises(Conflict, match="已结束"):
        surveys.answer(codes[3], ALL)  # an unused code after closing
    db.session.rollback()
    with pytest.raises(Conflict):
        surveys.issue_tokens(survey.id, 5, c.users["office"])
    assert _answers(survey.id) == 3


def test_survey_rules(sc):
    c = sc.county
    survey, _codes = _survey(sc)
    with pytest.raises(Conflict):
        surveys.create_survey(c.cycle, c.school.id, "half_year", c.users["office"])
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        surveys.issue_tokens(survey.id, 0, c.users["office"])
    with pytest.raises(ValidationFailed):
        surveys.close_survey(surveys.create_survey(c.cycle, c.school.id, "year_end", c.users["office"]).id,
                             c.users["office"])  # no answers yet


def test_public_pages_answer_without_login(sc, app):
    survey, codes = _survey(sc)
    anonymous = Browser(app)
    assert anonymous.get("/public/survey").status_code == 200
    page = anonymous.post("/public/survey", {"token": codes[0].lower()})
    assert page.status_code == 200 and "县第一中学" in page.get_data(as_text=True)
    incomplete = anonymous.post("/public/survey/answer", {"token": codes[0], "performance": "satisfied"})
    assert incomplete.status_code == 422
    done = anonymous.post("/public/survey/answer", {"token": codes[0], **ALL, "comment": "办事方便"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/public/survey/thanks")
    again = anonymous.post("/public/survey", {"token": codes[0]})
    assert again.status_code == 409 and "已使用" in again.get_data(as_text=True)
    forged = anonymous.post("/public/survey", {"token": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"})
    assert forged.status_code == 422 and "调查码无效" in forged.get_data(as_text=True)
    assert _answers(survey.id) == 1


def test_office_prints_codes_once(sc, app):
    c = sc.county
    survey = surveys.create_survey(c.cycle, c.school.id, "half_year", c.users["office"])
    db.session.commit()
    office = login(app, c.users["office"])
    office.get(f"/supervision/surveys/{survey.id}")
    page = office.post(f"/supervision/surveys/{survey.id}/tokens", {"count": "5"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "private, no-store"
    assert html.count('class="survey-code"') == 5
    assert db.session.scalar(select(func.count()).select_from(SurveyToken)) == 5


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL only (concurrent writers)")
def test_racing_answers_with_one_code_count_once(sc, app: Flask):
    survey, codes = _survey(sc, 1)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def racer() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                surveys.answer(codes[0], ALL)
                db.session.commit()
                results.append("ok")
            except Conflict:
                db.session.rollback()
                results.append("conflict")
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                results.append(repr(exc))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["conflict", "conflict", "conflict", "ok"], results
    db.session.expire_all()
    assert _answers(survey.id) == 1
