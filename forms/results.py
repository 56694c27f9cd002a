"""Forms of the results pages, the public objection form, and the appeal step forms
(``assessment.appeal_review`` with evidence files, ``assessment.appeal_decision`` with a
structured correction) registered in ``forms.tasks.FORM_BUILDERS``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, IntegerField, MultipleFileField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import NumberInput

from app.models import Case, HumanTask, LedgerItem, UnitResult
from app.services import appeals, casefile, ledger, results
from forms.tasks import FORM_BUILDERS, TaskForm, ZhDecimalField, _choices, _number, _text

_SPLIT = re.compile(r"[,，、;；\s]+")


class ApproveGroupForm(FlaskForm):
    note = TextAreaField("审定意见", validators=[Length(max=2000, message="审定意见不能超过 2000 字")],
                         description="可留空，默认“考核委员会按组审定通过”")


class ConfirmForm(FlaskForm):
    """A CSRF-protected button (finalize a group)."""


def satisfaction_form(units: list[tuple[int, str]]) -> type[FlaskForm]:
    attrs: dict[str, Any] = {"unit_fields": [(f"rate-{uid}", name) for uid, name in units]}
    for uid, name in units:
        attrs[f"rate-{uid}"] = ZhDecimalField(
            name, validators=[Optional(), NumberRange(0, 100, "满意率应在 0–100 之间")],
            widget=NumberInput(step="0.01", min=0, max=100),
        )
    attrs["respondents"] = IntegerField("调查样本数", validators=[Optional(), NumberRange(0, 10_000_000)])
    return type("BoundSatisfactionForm", (FlaskForm,), attrs)


class ArchiveCorrectionForm(FlaskForm):
    grade = RadioField("更正后等次", choices=_choices([("A", "A（先进）"), ("B", "B（达标）"), ("C", "C（落后）")]),
                       validators=[InputRequired("请选择等次")], invalid_choice_message="请选择等次")
    total = ZhDecimalField("更正后总分", validators=[Optional(), NumberRange(0, 200, "总分应在 0–200 之间")],
                           widget=NumberInput(step="0.01", min=0, max=200), description="留空表示不变")
    rank = IntegerField("更正后名次", validators=[Optional(), NumberRange(1, 100000, "名次无效")],
                        description="留空表示不变")
    note = TextAreaField("更正依据", validators=[DataRequired("请填写更正依据"), Length(max=3000)])


class PublicObjectionForm(FlaskForm):
    contact_name = StringField("联系人姓名", validators=[DataRequired("请填写联系人姓名"), Length(max=100)])
    contact_phone = StringField("联系电话", validators=[DataRequired("请填写联系电话"), Length(max=32)])
    reason = TextAreaField("异议内容及依据", validators=[DataRequired("请填写异议内容"), Length(max=3000)],
                           description="请写明对公示结果的异议及依据。绩效办复核、考核委员会裁定后书面答复，凭受理编号查询。")


# --------------------------------------------------------------------------- appeal steps


class AppealReviewForm(TaskForm):
    has_files = True
    finding = TextAreaField("复核意见（含核查的证据）", validators=[DataRequired("请填写复核意见")])
    evidence = MultipleFileField("复核证据材料", description="可上传核查记录、整改材料等（PDF、图片、Office 文档）")

    def to_data(self) -> dict[str, Any]:
        return {"finding": _text(self.finding.data)}


def _decimal_list(text: str) -> list[str] | None:
    """'1.0, 0.5' → ['1.0', '0.5']; '无' or '0' → []; '' → None (unchanged)."""
    text = (text or "").strip()
    if not text:
        return None
    if text in ("无", "-", "—"):
        return []
    out = []
    for part in _SPLIT.split(text):
        if not part:
            continue
        try:
            value = Decimal(part)
        except InvalidOperation as exc:
            raise ValidationError("请输入以逗号分隔的分值，如 1.0, 0.5") from exc
        if value != 0:
            out.append(part)
    return out


class AppealDecisionForm(TaskForm):
    template = "results/form_appeal_decision.html"
    upheld = BooleanField("申诉成立")
    common = ZhDecimalField("更正后共性指标得分", validators=[Optional(), NumberRange(0, 200, "应在 0–200 之间")],
                            widget=NumberInput(step="0.01", min=0))
    individual = ZhDecimalField("更正后个性指标得分（折算前）",
                                validators=[Optional(), NumberRange(0, 200, "应在 0–200 之间")],
                                widget=NumberInput(step="0.01", min=0))
    satisfaction = ZhDecimalField("更正后满意率(%)", validators=[Optional(), NumberRange(0, 100, "应在 0–100 之间")],
                                  widget=NumberInput(step="0.01", min=0, max=100))
    bonus = StringField("更正后加分项", description="以逗号分隔的分值；填“无”清除全部；留空表示不变")
    deductions = StringField("更正后扣分项", description="以逗号分隔的分值，如 1.0, 0.5；填“无”清除全部；留空表示不变")
    veto = RadioField("一票否决", choices=_choices([("", "不变"), ("yes", "认定"), ("no", "撤销")]), default="",
                      validators=[Optional()])
    corrected_total = ZhDecimalField(
        "更正后总分（仅用于未按组审定的结果）",
        validators=[Optional(), NumberRange(0, 200, "更正后总分应在 0–200 之间")],
        widget=NumberInput(step="0.01", min=0, max=200),
        description="申诉成立时必须填写更正内容或更正后总分",
    )
    note = TextAreaField("裁定理由", validators=[DataRequired("请填写裁定理由")])

    current: UnitResult | None = None
    items: list[LedgerItem] = []
    evidence_files: list[Any] = []

    def validate_bonus(self, field: Field) -> None:
        _decimal_list(field.data or "")

    def validate_deductions(self, field: Field) -> None:
        _decimal_list(field.data or "")

    def correction(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("common", "individual", "satisfaction"):
            value = self[key].data
            if value is not None:
                out[key] = _number(value)
        for key in ("bonus", "deductions"):
            try:
                values = _decimal_list(self[key].data or "")
            except ValidationError:
                values = None
            if values is not None:
                out[key] = values
        if self.veto.data in ("yes", "no"):
            out["veto"] = self.veto.data == "yes"
        return out

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        field = self.corrected_total
        if self.upheld.data and field.data is None and not field.errors and not self.correction():
            field.errors = [*field.errors, "申诉成立时必须填写更正后总分或更正内容"]
            return False
        return valid

    def to_data(self) -> dict[str, Any]:
        upheld = bool(self.upheld.data)
        data: dict[str, Any] = {"upheld": upheld, "note": _text(self.note.data), "corrected_total": ""}
        if upheld:
            data["correction"] = self.correction()
            if not data["correction"]:
                data["corrected_total"] = _number(self.corrected_total.data)
        return data

    def _error_target(self, key: str) -> str | None:
        if key.startswith("correction-"):
            name = key.split("-", 1)[1]
            return name if name in self._fields else None
        return super()._error_target(key)


def _build_decision(task: HumanTask, case: Case) -> TaskForm:
    form = AppealDecisionForm()
    form.current = results.current_of_case(case.id)
    form.items = ledger.active_items(case.cycle_id, case.unit_id) if case.cycle_id else []
    appeal = casefile.appeal_for_task(task)
    form.evidence_files = appeals.review_evidence(appeal) if appeal else []
    return form


FORM_BUILDERS["assessment.appeal_review"] = lambda task, case: AppealReviewForm()
FORM_BUILDERS["assessment.appeal_decision"] = _build_decision
