"""Social evaluation surveys (社会评价): one survey per unit and round, answered without login.

Each answer needs an issued code (调查码): the office generates codes in batches and prints them;
only their SHA-256 is stored, so the printed list is shown once. A code is consumed by a
conditional UPDATE (``used_at IS NULL``) and an answer row is unique per code, so a code counts
once even when two requests race; a code that was never issued is refused.

Closing a survey computes the satisfaction rate over all five dimensions with the cycle setting
``survey_weights`` (default 满意 1, 基本满意 0.6, 不满意 0) and records it through
``social.record_satisfaction(source='survey')``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Cycle, Survey, SurveyAnswer, SurveyToken, Unit, User
from app.models.supervision import SURVEY_CHOICES, SURVEY_DIMENSIONS
from app.services import social
from app.services import supervision as sv
from app.services.steps import Checker

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 16
MAX_BATCH = 500
DEFAULT_WEIGHTS = {"satisfied": Decimal("1"), "basic": Decimal("0.6"), "dissatisfied": Decimal("0")}


def normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def token_hash(code: str) -> str:
    return hashlib.sha256(normalize(code).encode("ascii", "ignore")).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def weights(cycle: Cycle) -> dict[str, Decimal]:
    configured = cycle.setting("survey_weights") or {}
    return {k: Decimal(str(configured.get(k, v))) for k, v in DEFAULT_WEIGHTS.items()}


def create_survey(cycle: Cycle, unit_id: int, round: str, actor: User) -> Survey:
    sv.require_office(actor)
    if round not in social.ROUNDS:
        raise ValidationFailed("评价轮次无效", {"round": ["评价轮次无效"]})
    unit = sv.require_participant(cycle, unit_id)
    if db.session.scalar(
        select(Survey.id).where(Survey.cycle_id == cycle.id, Survey.unit_id == unit.id, Survey.round == round)
    ):
        raise Conflict(f"{unit.name} 的{social.ROUNDS[round]}社会评价已创建")
    survey = Survey(cycle_id=cycle.id, unit_id=unit.id, round=round, opened_by_id=actor.id, opened_at=clock.now())
    try:
        with db.session.begin_nested():
            db.session.add(survey)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{unit.name} 的{social.ROUNDS[round]}社会评价已创建") from exc
    return survey


def get(survey_id: int) -> Survey:
    survey = db.session.get(Survey, survey_id)
    if survey is None:
        raise NotFound("调查不存在")
    return survey


def issue_tokens(survey_id: int, count: int | str, actor: User) -> list[str]:
    """Generate ``count`` codes; returns the plain codes (shown once), stores their hashes."""
    sv.require_office(actor)
    survey = get(survey_id)
    if survey.status != "open":
        raise Conflict("调查已结束，不能再发放调查码")
    try:
        number = int(count)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= MAX_BATCH:
        raise ValidationFailed(f"每批发放数量应在 1 到 {MAX_BATCH} 之间", {"count": [f"应在 1 到 {MAX_BATCH} 之间"]})
    batch = (db.session.scalar(select(func.max(SurveyToken.batch)).where(SurveyToken.survey_id == survey.id)) or 0) + 1
    now = clock.now()
    codes = [_new_code() for _ in range(number)]
    db.session.add_all(
        SurveyToken(survey_id=survey.id, token_hash=token_hash(c), batch=batch, issued_by_id=actor.id, issued_at=now)
        for c in codes
    )
    db.session.flush()
    return codes


def find_token(code: str) -> tuple[SurveyToken, Survey]:
    """The open survey a code belongs to; refuses unknown (forged), used and closed codes."""
    normal = normalize(code)
    if len(normal) != CODE_LENGTH:
        raise ValidationFailed("调查码无效，请核对后重新输入", {"token": ["调查码无效"]})
    token = db.session.scalar(select(SurveyToken).where(SurveyToken.token_hash == token_hash(normal)))
    if token is None:
        raise ValidationFailed("调查码无效，请核对后重新输入", {"token": ["调查码无效"]})
    survey = get(token.survey_id)
    if token.used_at is not None:
        raise Conflict("该调查码已使用，每个调查码只能提交一次")
    if survey.status != "open":
        raise Conflict("该调查已结束，感谢您的参与")
    return token, survey


def answer(code: str, data: dict[str, Any]) -> SurveyAnswer:
    """Record one questionnaire with ``code``. Data: one of satisfied|basic|dissatisfied per
    dimension (performance, integrity, efficiency, effectiveness, attitude) and "comment"."""
    check = Checker(data)
    choices = {dim: check.choice(dim, label, list(SURVEY_CHOICES)) for dim, label in SURVEY_DIMENSIONS.items()}
    comment = check.text("comment", "意见建议", max_len=1000)
    check.raise_if_any()
    token, survey = find_token(code)
    # FOR SHARE on PostgreSQL: closing (FOR UPDATE) waits for answers in flight, so none is lost.
    locked = db.session.scalar(
        select(Survey)
        .where(Survey.id == survey.id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    if locked is None or locked.status != "open":
        raise Conflict("该调查已结束，感谢您的参与")
    now = clock.now()
    used = db.session.execute(
        update(SurveyToken).where(SurveyToken.id == token.id, SurveyToken.used_at.is_(None)).values(used_at=now)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("该调查码已使用，每个调查码只能提交一次")
    row = SurveyAnswer(survey_id=survey.id, token_id=token.id, comment=comment or None, answered_at=now, **choices)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict("该调查码已使用，每个调查码只能提交一次") from exc
    return row


@dataclass(frozen=True)
class Stats:
    issued: int
    used: int
    answers: int
    counts: dict[str, dict[str, int]]  # dimension -> choice -> count
    rate: Decimal | None


def stats(survey: Survey) -> Stats:
    issued = db.session.scalar(select(func.count()).where(SurveyToken.survey_id == survey.id)) or 0
    used = db.session.scalar(
        select(func.count()).where(SurveyToken.survey_id == survey.id, SurveyToken.used_at.is_not(None))
    ) or 0
    counts = {dim: dict.fromkeys(SURVEY_CHOICES, 0) for dim in SURVEY_DIMENSIONS}
    answers = 0
    for dim in SURVEY_DIMENSIONS:
        column = getattr(SurveyAnswer, dim)
        rows = db.session.execute(
            select(column, func.count()).where(SurveyAnswer.survey_id == survey.id).group_by(column)
        )
        for choice, n in rows:
            counts[dim][choice] = n
        answers = max(answers, sum(counts[dim].values()))
    return Stats(issued, used, answers, counts, _rate(survey, counts, answers))


def _rate(survey: Survey, counts: dict[str, dict[str, int]], answers: int) -> Decimal | None:
    if answers == 0:
        return None
    cycle = sv.get_cycle(survey.cycle_id)
    w = weights(cycle)
    points = sum((w[choice] * n for per in counts.values() for choice, n in per.items()), Decimal(0))
    return sv.half_up(points / (answers * len(SURVEY_DIMENSIONS)) * 100)


def close_survey(survey_id: int, actor: User) -> Survey:
    sv.require_office(actor)
    survey = db.session.scalar(
        select(Survey).where(Survey.id == survey_id).with_for_update().execution_options(populate_existing=True)
    )
    if survey is None:
        raise NotFound("调查不存在")
    if survey.status != "open":
        raise Conflict("调查已结束")
    result = stats(survey)
    if result.rate is None:
        raise ValidationFailed("尚无答卷，无法计算满意率", {"survey": ["尚无答卷"]})
    cycle = sv.get_cycle(survey.cycle_id)
    unit = db.session.get(Unit, survey.unit_id)
    assert unit is not None
    record = social.record_satisfaction(
        cycle, unit, result.rate, actor=actor, source="survey", respondents=result.answers, round=survey.round
    )
    survey.status = "closed"
    survey.satisfaction = result.rate
    survey.respondents = result.answers
    survey.social_evaluation_id = record.id
    survey.closed_by_id = actor.id
    survey.closed_at = clock.now()
    return survey


def surveys(cycle_id: int) -> list[Survey]:
    return list(
        db.session.scalars(
            select(Survey).join(Unit).where(Survey.cycle_id == cycle_id).order_by(Unit.code, Survey.round)
        )
    )
