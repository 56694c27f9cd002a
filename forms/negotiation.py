"""Web forms of the negotiation steps; builders register in forms.tasks.FORM_BUILDERS.

The target rows are a ``FieldList`` of ``TargetRowForm`` named ``items-<n>-<field>`` (the same keys
as the service's errors). The page renders the last round's items plus blank rows; a small local
script (static/js/target_rows.js) adds more. Blank rows are dropped in ``to_data``; every rule is
checked by the service (app/services/negotiation.py), whose field errors come back onto the rows.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from wtforms import FieldList, Form, FormField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, ValidationError
from wtforms.widgets import DateInput, NumberInput

from app.models import Case, HumanTask
from app.models.target import TIERS
from app.services import negotiation, targets
from app.services.catalogue import ITEM_FIELDS
from forms.tasks import FORM_BUILDERS, TaskForm, _choices

_ITEM_ERROR = re.compile(r"^items-(\d+)-(\w+)$")
ROW_FIELDS = list(ITEM_FIELDS)
MIN_ROWS = 5
EXTRA_ROWS = 2
_TIER_CHOICES = _choices([(code, label) for code, label in TIERS.items()])
_LONG = Length(max=5000, message="不能超过 5000 字")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


class TargetRowForm(Form):
    """One target; no validators here — the service checks everything and names the field."""

    code = StringField("编号", render_kw={"placeholder": "自动"})
    name = StringField("指标名称")
    target_value = StringField("目标值")
    measure_unit = StringField("计量单位", render_kw={"placeholder": "如 %、项、万元"})
    points = StringField("分值", widget=NumberInput(step="0.01", min="0"))
    scoring_rule = TextAreaField("评分细则（加分/扣分）", render_kw={"rows": 2})
    lead_name = StringField("分管领导")
    department_id = SelectField("责任科室", validate_choice=False)
    responsible_name = StringField("责任人")
    deadline = StringField("完成时限", widget=DateInput())


class _TargetRowsForm(TaskForm):
    """Base of the forms holding target rows."""

    template = "negotiation/form_targets.html"
    items = FieldList(FormField(TargetRowForm), min_entries=1, max_entries=100)
    view: targets.NegotiationView
    items_errors: list[str]
    _row_map: list[int]

    def setup(self, view: targets.NegotiationView) -> None:
        self.view = view
        self.items_errors = []
        self._row_map = []
        choices = _choices([("", "请选择科室"), *((str(k), v) for k, v in view.departments.items())])
        for entry in self.items.entries:
            entry.form.department_id.choices = choices

    def pad(self) -> None:
        wanted = max(MIN_ROWS, len(self.items.entries) + EXTRA_ROWS)
        while len(self.items.entries) < wanted:
            self.items.append_entry()
        self.setup(self.view)

    def item_data(self) -> list[dict[str, Any]]:
        out, self._row_map = [], []
        for position, entry in enumerate(self.items.entries):
            values = {name: _text(entry.form[name].data) for name in ROW_FIELDS}
            if not any(values.values()):
                continue
            department = values["department_id"]
            item: dict[str, Any] = dict(values)
            item["department_id"] = int(department) if department.isdigit() else department
            out.append(item)
            self._row_map.append(position)
        return out

    def attach_errors(self, errors: dict[str, list[str]]) -> list[str]:
        loose: list[str] = []
        rest: dict[str, list[str]] = {}
        for key, messages in errors.items():
            match = _ITEM_ERROR.match(key)
            if match and int(match.group(1)) < len(self._row_map):
                entry = self.items.entries[self._row_map[int(match.group(1))]]
                name = match.group(2)
                if name in entry.form._fields:
                    bound = entry.form[name]
                    bound.errors = [*bound.errors, *messages]
                    continue
            if key == "items" or key.startswith("items-"):
                self.items_errors.extend(messages)
                loose.extend(messages)
                continue
            rest[key] = messages
        return loose + super().attach_errors(rest)

    def _error_target(self, key: str) -> str | None:
        if key in ("reason", "comment") and "opinion" in self._fields:
            return "opinion"
        return super()._error_target(key)


class TargetsForm(_TargetRowsForm):
    """一上 拟定目标 / 二上 修改完善."""

    comment = TextAreaField("说明", validators=[Length(max=2000, message="说明不能超过 2000 字")])

    def to_data(self) -> dict[str, Any]:
        return {"items": self.item_data(), "comment": _text(self.comment.data)}


class FinalizeForm(_TargetRowsForm):
    """二下 审核定稿: the final set (editable), the tier, or a return to 二上."""

    template = "negotiation/form_finalize.html"
    decision = RadioField(
        "办理意见",
        choices=_choices(negotiation.FINALIZE_OPTIONS),
        validators=[InputRequired("请选择办理意见")],
        invalid_choice_message="请选择办理意见",
    )
    tier = RadioField("难度档次", choices=_TIER_CHOICES, validate_choice=False)
    opinion = TextAreaField(
        "定稿意见 / 退回理由",
        validators=[_LONG],
        description="退回时必须填写理由",
    )

    def validate_opinion(self, field: Any) -> None:
        if self.decision.data == "return" and not _text(field.data):
            raise ValidationError("退回时必须填写理由")

    def validate_tier(self, field: Any) -> None:
        if self.decision.data == "finalize" and field.data not in TIERS:
            raise ValidationError("定稿时必须选择难度档次")

    def to_data(self) -> dict[str, Any]:
        text = _text(self.opinion.data)
        if self.decision.data == "return":
            return {"decision": "return", "reason": text}
        return {"decision": self.decision.data, "tier": self.tier.data, "items": self.item_data(), "comment": text}


class _DecisionForm(TaskForm):
    """A decision with one text box: the reason when returning, else the comment."""

    template = "negotiation/form_decision.html"
    view: targets.NegotiationView
    returning: tuple[str, ...] = ("return",)
    comment_key = "reason"  # where the text goes when not returning
    decision = RadioField("办理意见", validators=[InputRequired("请选择办理意见")])
    opinion = TextAreaField("意见 / 退回理由", validators=[_LONG])

    def validate_opinion(self, field: Any) -> None:
        if self.decision.data in self.returning and not _text(field.data):
            raise ValidationError("退回或提出异议时必须填写理由")

    def to_data(self) -> dict[str, Any]:
        text = _text(self.opinion.data)
        key = "reason" if self.decision.data in self.returning else self.comment_key
        return {"decision": self.decision.data, key: text}

    def _error_target(self, key: str) -> str | None:
        return "opinion" if key in ("reason", "comment") else super()._error_target(key)


class SubmitForm(_DecisionForm):
    decision = RadioField(
        "办理意见", choices=_choices(negotiation.SUBMIT_OPTIONS), validators=[InputRequired("请选择办理意见")],
        invalid_choice_message="请选择办理意见",
    )
    opinion = TextAreaField(
        "审核意见 / 退回理由", description="退回时必须填写理由",
        validators=[_LONG],
    )


class OfficeReviewForm(_DecisionForm):
    comment_key = "comment"
    decision = RadioField(
        "办理意见", choices=_choices(negotiation.OFFICE_REVIEW_OPTIONS), validators=[InputRequired("请选择办理意见")],
        invalid_choice_message="请选择办理意见",
    )
    opinion = TextAreaField(
        "反馈意见 / 退回理由", description="反馈意见将转单位修改；退回重新申报时必须填写理由",
        validators=[_LONG],
    )


class ConfirmForm(_DecisionForm):
    returning = ("object",)
    comment_key = "comment"
    decision = RadioField(
        "办理意见", choices=_choices(negotiation.CONFIRM_OPTIONS), validators=[InputRequired("请选择办理意见")],
        invalid_choice_message="请选择办理意见", default="confirm",
    )
    opinion = TextAreaField(
        "确认意见 / 异议理由", description="提出异议时必须填写理由",
        validators=[_LONG],
    )


class ApproveForm(_DecisionForm):
    decision = RadioField(
        "审定意见", choices=_choices(negotiation.APPROVE_OPTIONS), validators=[InputRequired("请选择审定意见")],
        invalid_choice_message="请选择审定意见",
    )
    opinion = TextAreaField(
        "审定意见 / 退回理由", description="退回时必须填写理由",
        validators=[_LONG],
    )


class SupervisorOpinionForm(TaskForm):
    template = "negotiation/form_decision.html"
    view: targets.NegotiationView
    opinion = TextAreaField(
        "审核意见",
        validators=[InputRequired("请填写审核意见"), Length(max=5000, message="不能超过 5000 字")],
        description="对单位修改后的目标是否科学、合理、可考核提出意见",
    )
    suggested_tier = RadioField(
        "建议难度档次", choices=_choices([("", "不提建议"), *TIERS.items()]), default="", validate_choice=False
    )

    def to_data(self) -> dict[str, Any]:
        return {"opinion": _text(self.opinion.data), "suggested_tier": self.suggested_tier.data or ""}


class IssueForm(TaskForm):
    template = "negotiation/form_decision.html"
    view: targets.NegotiationView
    comment = TextAreaField(
        "下达说明", validators=[Length(max=2000, message="不能超过 2000 字")],
        description="下达后生成本单位个性指标和目标责任书，目标不可再修改",
    )

    def to_data(self) -> dict[str, Any]:
        return {"comment": _text(self.comment.data)}


# --------------------------------------------------------------------------- builders


def _rows(view: targets.NegotiationView) -> list[dict[str, Any]]:
    items = view.latest.items if view.latest else []
    return [{**item, "department_id": str(item.get("department_id") or "")} for item in items]


def _build_rows(cls: type[_TargetRowsForm]) -> Any:
    def build(task: HumanTask, case: Case) -> _TargetRowsForm:
        view = targets.view(case)
        form = cls() if request.method == "POST" else cls(data={"items": _rows(view)})
        form.setup(view)
        if request.method != "POST":
            form.pad()
        return form

    return build


def _build_simple(cls: type[TaskForm]) -> Any:
    def build(task: HumanTask, case: Case) -> TaskForm:
        form = cls()
        form.view = targets.view(case)
        return form

    return build


FORM_BUILDERS["negotiation.propose"] = _build_rows(TargetsForm)
FORM_BUILDERS["negotiation.revise"] = _build_rows(TargetsForm)
FORM_BUILDERS["negotiation.finalize"] = _build_rows(FinalizeForm)
FORM_BUILDERS["negotiation.submit"] = _build_simple(SubmitForm)
FORM_BUILDERS["negotiation.office_review"] = _build_simple(OfficeReviewForm)
FORM_BUILDERS["negotiation.supervisor_opinion"] = _build_simple(SupervisorOpinionForm)
FORM_BUILDERS["negotiation.confirm"] = _build_simple(ConfirmForm)
FORM_BUILDERS["negotiation.approve"] = _build_simple(ApproveForm)
FORM_BUILDERS["negotiation.issue"] = _build_simple(IssueForm)
