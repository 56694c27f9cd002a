"""Signing a responsibility/commitment letter (the ``letter.sign`` step) and verifying its digest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app import clock
from app.database import core
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.models import Case, HumanTask, Letter, LetterSignature, User
from app.services import cases
from app.services.letter_text import digest
from app.services.letters import FORM_KEY, PARTY_LABELS, STEP_PARTY, ensure_mutable
from app.services.steps import Checker, FieldSpec, Files, register

# --------------------------------------------------------------------------- signing


def letter_of_case(case_id: int, *, fresh: bool = False) -> Letter:
    """The letter of a case; ``fresh`` re-reads it and its signatures (after locking the case)."""
    letter = db.session.scalar(_LETTER_OF_CASE_FRESH if fresh else _LETTER_OF_CASE, {"case_id": case_id})
    if letter is None:
        raise NotFound("责任书不存在")
    # the signatures with a prebuilt statement (a selectinload option costs more than the query)
    signatures = list(db.session.scalars(_SIGNATURES, {"letter_id": letter.id}))
    set_committed_value(letter, "signatures", signatures)
    return letter


_LETTER_OF_CASE = select(Letter).where(Letter.case_id == bindparam("case_id"))
_LETTER_OF_CASE_FRESH = _LETTER_OF_CASE.execution_options(populate_existing=True)
_SIGNATURES = (
    select(LetterSignature)
    .where(LetterSignature.letter_id == bindparam("letter_id"))
    .order_by(LetterSignature.id)
    .execution_options(populate_existing=True)
)


def _describe_sign(task: HumanTask) -> list[FieldSpec]:
    return [
        FieldSpec("agree", "我已阅读并同意签署", "bool", True, help="签署后记录签署人、时间和文本摘要，不可撤回"),
        FieldSpec("comment", "备注", "textarea"),
    ]


@register(FORM_KEY, _describe_sign)
def sign(task_id: int, user: User, data: dict[str, Any], files: Files) -> Case:
    """Sign a letter as the party the task belongs to (403 for anyone else, 409 if already signed)."""
    ctx = cases.begin_task(task_id, user)
    letter = letter_of_case(ctx.case.id, fresh=True)  # the other party may have signed meanwhile
    party = STEP_PARTY.get(ctx.task.step)
    if party is None:
        raise DomainError(f"步骤 {ctx.task.name} 不是签署步骤")
    if user.id != (letter.party_a_id if party == "a" else letter.party_b_id):
        raise Forbidden("您不是该责任书的签署方")
    check = Checker(data)
    if check.boolean("agree", "同意签署") is not True:
        check.add("agree", "请勾选“我已阅读并同意签署”")
    comment = check.text("comment", "备注", max_len=1000)
    check.raise_if_any()
    ensure_mutable(letter)
    if any(s.party == party for s in letter.signatures):
        raise Conflict("您已签署过该责任书")
    body_digest = digest(letter.body)
    if body_digest != letter.sha256:
        raise Conflict("责任书文本与生成时的摘要不一致，拒绝签署，请联系绩效办")
    now = clock.now()
    # append-only rows written with prebuilt Core statements (a unit-of-work flush of one new
    # object costs more than the rest of the signature); the loaded collection is refreshed lazily
    signed = {s.party for s in letter.signatures} | {party}
    core(_SIGNATURE_INSERT, {"letter_id": letter.id, "party": party, "user_id": user.id,
                                        "digest": body_digest, "signed_at": now})
    db.session.expire(letter, ["signatures"])
    case = cases.finish_task(
        ctx,
        {f"signed_{party}": True},
        outcome="sign",
        comment=comment or None,
        event_data={"letter": letter.id, "party": party, "digest": body_digest},
    )
    if signed == {"a", "b"}:
        core(_LETTER_SIGNED, {"letter_id": letter.id, "signed_at": now})
        set_committed_value(letter, "status", "signed")
        set_committed_value(letter, "signed_at", now)
    return case


_SIGNATURE_INSERT = cast(Table, LetterSignature.__table__).insert()
_LETTER_SIGNED = (
    update(cast(Table, Letter.__table__))
    .where(cast(Table, Letter.__table__).c.id == bindparam("letter_id"))
    .values(status="signed", signed_at=bindparam("signed_at"))
)


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class SignatureCheck:
    party: str
    name: str
    signed_at: dt.datetime
    digest: str
    matches: bool


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    computed: str
    stored: str
    signatures: list[SignatureCheck]
    problems: list[str]

    @property
    def message(self) -> str:
        if self.ok:
            return "验证通过：文本摘要与生成时及各方签署时一致"
        return "验证失败：" + "；".join(self.problems)


def verify(letter: Letter, body: str | None = None) -> VerifyResult:
    """Recompute the digest of the stored body (or of ``body``, e.g. a copy to check) and compare
    it with ``Letter.sha256`` and every signature's digest."""
    computed = digest(letter.body if body is None else body)
    problems = []
    if computed != letter.sha256:
        problems.append(f"当前文本摘要 {computed[:16]}… 与生成时的摘要 {letter.sha256[:16]}… 不一致")
    checks = []
    for sig in letter.signatures:
        matches = sig.digest == computed
        checks.append(SignatureCheck(sig.party, sig.user.display_name, sig.signed_at, sig.digest, matches))
        if not matches:
            problems.append(f"{PARTY_LABELS[sig.party]}（{sig.user.display_name}）签署时的摘要与当前文本不一致")
    return VerifyResult(not problems, computed, letter.sha256, checks, problems)
