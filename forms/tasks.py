"""The web forms of workflow steps, one per BPMN ``form`` key (see app/services/assessment.py).

``build(task, case)`` returns a bound ``TaskForm``: WTForms checks types and required fields
for a friendly page, ``to_data()`` converts to the plain dict contract of ``steps.submit``
(which re-checks every rule), and ``attach_errors()`` puts the service's field errors back on
the matching inputs.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    MultipleFileField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import NumberInput

from app.errors import NotFound
from app.models import Case, HumanTask, Indicator, SelfAssessmentEntry
from app.services import steps
from app.services.assessment import DECISIONS, indicators_for

_ENTRY_ERROR = re.compile(r"^(entries|scores)-(\d+)-(\w+)$")


class ZhDecimalField(DecimalField):
    """A DecimalField with Chinese messages; an empty input is "no value" (InputRequired reports it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("places", None)
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or str(valuelist[0]).strip() == "":
            self.data = None
            return
        try:
            value = Decimal(str(valuelist[0]).strip())
        except (decimal.InvalidOperation, ValueError) as exc:
            self.data = None
            raise ValueError("请输入数字") from exc
        if not value.is_finite():
            self.data = None
            raise ValueError("请输入数字")
        self.data = value


def _choices(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _text(value: Any) -> str:
    return (value or "").strip() if isinstance(value, str) else ""


def _number(value: Decimal | None) -> str:
    return "" if value is None else str(value)


class TaskForm(FlaskForm):
    """Base of every step form."""

    template = "inbox/form_generic.html"
    has_files = False

    def to_data(self) -> dict[str, Any]:
        return {}

    def file_fields(self) -> list[str]:
        return [f.name for f in self if isinstance(f, MultipleFileField)]

    def _error_target(self, key: str) -> str | None:
        return key if key in self._fields else None

    def attach_errors(self, errors: dict[str, list[str]]) -> list[str]:
        """Attach service field errors to inputs; returns the messages that matched no input."""
        loose: list[str] = []
        for key, messages in errors.items():
            target = self._error_target(key)
            if target is None:
                loose.extend(messages)
                continue
            bound = self._fields[target]
            bound.errors = [*bound.errors, *(m for m in messages if m not in bound.errors)]
        return loose


# --------------------------------------------------------------------------- per-indicator forms


class IndicatorRow:
    """One indicator's inputs plus what the template shows beside them."""

    def __init__(self, indicator: Indicator, fields: list[Field], previous: SelfAssessmentEntry | None) -> None:
        self.indicator = indicator
        self.fields = fields
        self.previous = previous


class _PerIndicatorForm(TaskForm):
    indicators: list[Indicator] = []
    list_key = ""

    def _error_target(self, key: str) -> str | None:
        match = _ENTRY_ERROR.match(key)
        if match and match.group(1) == self.list_key:
            index, sub = int(match.group(2)), match.group(3)
            if index < len(self.indicators):
                name = f"{sub}-{self.indicators[index].id}"
                return name if name in self._fields else None
        return super()._error_target(key)

    def rows(self, previous: dict[int, SelfAssessmentEntry]) -> list[IndicatorRow]:
        names = self.row_fields()
        return [
            IndicatorRow(i, [self._fields[f"{n}-{i.id}"] for n in names], previous.get(i.id)) for i in self.indicators
        ]

    def row_fields(self) -> list[str]:
        raise NotImplementedError


class SelfAssessmentForm(_PerIndicatorForm):
    template = "inbox/form_self_assessment.html"
    has_files = True
    list_key = "entries"
    comment = TextAreaField("备注", validators=[Length(max=2000, message="备注不能超过 2000 字")])

    def row_fields(self) -> list[str]:
        return ["completion", "narrative", "evidence"]

    def to_data(self) -> dict[str, Any]:
        entries = [
            {
                "indicator_id": i.id,
                "completion": _number(self[f"completion-{i.id}"].data),
                "narrative": _text(self[f"narrative-{i.id}"].data),
            }
            for i in self.indicators
        ]
        return {"entries": entries, "comment": _text(self.comment.data)}


class ScoringForm(_PerIndicatorForm):
    template = "inbox/form_scoring.html"
    list_key = "scores"
    comment = TextAreaField("备注", validators=[Length(max=2000, message="备注不能超过 2000 字")])

    def row_fields(self) -> list[str]:
        return ["points", "note"]

    def to_data(self) -> dict[str, Any]:
        scores = [
            {
                "indicator_id": i.id,
                "points": _number(self[f"points-{i.id}"].data),
                "note": _text(self[f"note-{i.id}"].data),
            }
            for i in self.indicators
        ]
        return {"scores": scores, "comment": _text(self.comment.data)}


def _self_assessment_form(indicators: list[Indicator]) -> type[SelfAssessmentForm]:
    attrs: dict[str, Any] = {"indicators": indicators}
    for ind in indicators:
        attrs[f"completion-{ind.id}"] = ZhDecimalField(
            "完成率(%)",
            validators=[
                InputRequired("请填写完成率"),
                NumberRange(0, 200, "完成率应在 0–200 之间"),
            ],
            widget=NumberInput(step="0.01", min=0, max=200),
        )
        attrs[f"narrative-{ind.id}"] = TextAreaField(
            "完成情况说明",
            validators=[DataRequired("请填写完成情况说明"), Length(max=5000, message="说明不能超过 5000 字")],
        )
        attrs[f"evidence-{ind.id}"] = MultipleFileField("佐证材料")
    return type("BoundSelfAssessmentForm", (SelfAssessmentForm,), attrs)


def _scoring_form(indicators: list[Indicator]) -> type[ScoringForm]:
    attrs: dict[str, Any] = {"indicators": indicators}
    for ind in indicators:
        top = Decimal(ind.points)
        attrs[f"points-{ind.id}"] = ZhDecimalField(
            f"得分（满分 {top}）",
            validators=[InputRequired("请填写得分"), NumberRange(0, top, f"得分应在 0–{top} 之间")],
            widget=NumberInput(step="0.01", min=0, max=top),
        )
        attrs[f"note-{ind.id}"] = StringField(
            "评分说明", validators=[Length(max=1000, message="评分说明不能超过 1000 字")]
        )
    return type("BoundScoringForm", (ScoringForm,), attrs)


# --------------------------------------------------------------------------- single-value forms


class DecisionForm(TaskForm):
    decision = RadioField(
        "审核意见",
        choices=_choices(DECISIONS),
        validators=[InputRequired("请选择审核意见")],
        invalid_choice_message="请选择审核意见",
    )
    reason = TextAreaField(
        "理由 / 意见",
        validators=[Length(max=2000, message="理由不能超过 2000 字")],
        description="退回时必须填写理由",
    )

    def validate_reason(self, field: Field) -> None:
        if self.decision.data == "return" and not _text(field.data):
            raise ValidationError("退回时必须填写理由")

    def to_data(self) -> dict[str, Any]:
        return {"decision": self.decision.data, "reason": _text(self.reason.data)}


class MonitoringForm(TaskForm):
    flagged = BooleanField("发现违规或异常")
    note = TextAreaField(
        "监督意见",
        validators=[Length(max=2000, message="监督意见不能超过 2000 字")],
        description="发现异常时必须说明",
    )

    def validate_note(self, field: Field) -> None:
        if self.flagged.data and not _text(field.data):
            raise ValidationError("发现异常时必须填写监督意见")

    def to_data(self) -> dict[str, Any]:
        return {"flagged": bool(self.flagged.data), "note": _text(self.note.data)}


class IrregularityForm(TaskForm):
    decision = RadioField(
        "处理决定",
        choices=_choices([("rescore", "退回重新评分"), ("dismiss", "异常不成立")]),
        validators=[InputRequired("请选择处理决定")],
        invalid_choice_message="请选择处理决定",
    )
    reason = TextAreaField(
        "处理意见", validators=[DataRequired("请填写处理意见"), Length(max=2000, message="处理意见不能超过 2000 字")]
    )

    def to_data(self) -> dict[str, Any]:
        return {"decision": self.decision.data, "reason": _text(self.reason.data)}


class AppealAnswerForm(TaskForm):
    answer = TextAreaField("书面答复", validators=[DataRequired("请填写书面答复")])

    def to_data(self) -> dict[str, Any]:
        return {"answer": _text(self.answer.data)}


# assessment.appeal_review / appeal_decision register richer forms in forms/results.py.
_SIMPLE: dict[str, type[TaskForm]] = {
    "assessment.review": DecisionForm,
    "assessment.audit": DecisionForm,
    "assessment.committee": DecisionForm,
    "assessment.monitoring": MonitoringForm,
    "assessment.irregularity": IrregularityForm,
    "assessment.appeal_answer": AppealAnswerForm,
}


# --------------------------------------------------------------------------- generic (FieldSpec) forms


class GenericForm(TaskForm):
    """A form built from a handler's ``describe()`` for processes deployed without a custom form."""

    specs: list[steps.FieldSpec] = []

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self.specs:
            value = self[spec.name].data
            if spec.type == "bool":
                out[spec.name] = bool(value)
            elif spec.type == "decimal":
                out[spec.name] = _number(value)
            elif spec.type in ("text", "textarea", "choice"):
                out[spec.name] = _text(value) if spec.type != "choice" else value
        return out


def _generic_form(specs: list[steps.FieldSpec]) -> type[GenericForm] | None:
    attrs: dict[str, Any] = {"specs": [s for s in specs if s.type != "file"]}
    for spec in specs:
        required = [InputRequired(f"请填写{spec.label}")] if spec.required else [Optional()]
        if spec.type == "text":
            attrs[spec.name] = StringField(spec.label, validators=required, description=spec.help)
        elif spec.type == "textarea":
            attrs[spec.name] = TextAreaField(spec.label, validators=required, description=spec.help)
        elif spec.type == "choice":
            attrs[spec.name] = RadioField(
                spec.label,
                choices=_choices(spec.choices),
                validators=[InputRequired(f"请选择{spec.label}")] if spec.required else [Optional()],
                invalid_choice_message=f"请选择{spec.label}",
                description=spec.help,
            )
        elif spec.type == "bool":
            attrs[spec.name] = BooleanField(spec.label, description=spec.help)
        elif spec.type == "decimal":
            attrs[spec.name] = ZhDecimalField(spec.label, validators=required, description=spec.help)
        elif spec.type == "file":
            attrs[spec.name] = MultipleFileField(spec.label, description=spec.help)
        else:  # "entries" and unknown types need a dedicated form
            return None
    return type("BoundGenericForm", (GenericForm,), attrs)


# --------------------------------------------------------------------------- factory

# Other step forms live beside their blueprint's forms and register a builder here:
# ``FORM_BUILDERS["negotiation.propose"] = lambda task, case: ProposeForm(...)``.
FormBuilder = Callable[[HumanTask, Case], TaskForm]
FORM_BUILDERS: dict[str, FormBuilder] = {}
FORM_MODULES = ("forms.negotiation", "forms.letters", "forms.results", "forms.supervision_tasks", "forms.operations")


_builders_loaded = False


def _load_builders() -> None:
    """Import every form module once (a module that registered on its own import is not enough)."""
    global _builders_loaded
    if _builders_loaded:
        return
    import importlib

    for name in FORM_MODULES:
        importlib.import_module(name)
    _builders_loaded = True


def build(task: HumanTask, case: Case, previous: list[SelfAssessmentEntry] | None = None) -> TaskForm | None:
    """The bound form for ``task`` (request data on POST), or None if the step has no web form.

    ``previous`` (the latest self-assessment round) pre-fills a resubmission after a return.
    """
    key = task.form_key or ""
    _load_builders()
    if key in FORM_BUILDERS:
        return FORM_BUILDERS[key](task, case)
    if key == "assessment.self_assessment":
        indicators = indicators_for(case)
        defaults: dict[str, Any] = {}
        for entry in previous or []:
            defaults[f"completion-{entry.indicator_id}"] = entry.completion
            defaults[f"narrative-{entry.indicator_id}"] = entry.narrative
        return _self_assessment_form(indicators)(data=defaults)
    if key == "assessment.scoring":
        return _scoring_form(indicators_for(case))()
    if key in _SIMPLE:
        return _SIMPLE[key]()
    try:
        specs = steps.handler_for(task).describe(task)
    except NotFound:  # no handler: the page explains there is no web form
        return None
    generic = _generic_form(specs)
    return generic() if generic else None
