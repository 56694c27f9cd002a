"""Web forms of the supervision steps (rectification, deduction appeal, monthly report, mid-year
evaluation, cadre monthly), registered in ``forms.tasks.FORM_BUILDERS``.

Each form carries a ``context`` dict (the rectification's rounds, the appealed item, the report
entries, ...) that its template shows above the inputs; ``to_data()`` gives the plain dict of the
service's data contract, which re-checks every rule (e.g. the 四个具体 of a plan).
"""

from __future__ import annotations

import re
from typing import Any

from wtforms import MultipleFileField, RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import NumberInput

from app.extensions import db
from app.models import Case, HumanTask, Indicator, LedgerItem
from app.services import cadres, deduction_appeals, midyear, rectification, reports
from app.services import supervision as sv
from forms.tasks import FORM_BUILDERS, TaskForm, ZhDecimalField, _choices, _number, _text

TEMPLATE = "supervision/task_form.html"
_ENTRY = re.compile(r"^entries-(\d+)-(\w+)$")


def _decision(label: str, pairs: list[tuple[str, str]]) -> RadioField:
    return RadioField(label, choices=_choices(pairs), validators=[InputRequired(f"请选择{label}")],
                      invalid_choice_message=f"请选择{label}")


def _area(label: str, *, description: str = "", max_len: int = 5000) -> TextAreaField:
    return TextAreaField(label, validators=[Length(max=max_len, message=f"{label}不能超过 {max_len} 字")],
                         description=description)


class SupervisionForm(TaskForm):
    template = TEMPLATE
    context: dict[str, Any] = {}
    text_fields: tuple[str, ...] = ()
    choice_fields: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: _text(self[name].data) for name in self.text_fields}
        out.update({name: self[name].data for name in self.choice_fields})
        return out


# --------------------------------------------------------------------------- rectification


class RectPlanForm(SupervisionForm):
    target = _area("具体目标", description="整改要达到的具体目标（必填）")
    items = _area("具体事项", description="逐项列出整改事项（必填）")
    deadline = StringField("具体时限", render_kw={"type": "date"}, description="整改完成日期，不得早于今天（必填）")
    measures = _area("具体措施", description="落实整改的具体措施和责任人（必填）")
    text_fields = ("target", "items", "deadline", "measures")


class RectReviewForm(SupervisionForm):
    decision = _decision("审核意见", [("approve", "通过"), ("return", "退回修改")])
    reason = _area("理由 / 意见", description="退回时必须填写理由", max_len=2000)
    text_fields = ("reason",)
    choice_fields = ("decision",)


class RectReportForm(SupervisionForm):
    has_files = True
    summary = _area("整改完成情况", description="逐项说明整改事项的落实情况")
    evidence = MultipleFileField("整改佐证材料", description="至少上传一个佐证文件")
    text_fields = ("summary",)


_YES_NO = [("yes", "是"), ("no", "否")]


class RectVerifyForm(SupervisionForm):
    root_cause_found = _decision("问题根源是否查清", _YES_NO)
    measures_done = _decision("整改措施是否落实", _YES_NO)
    up_to_standard = _decision("整改效果是否达标", _YES_NO)
    reasons = _area("核验意见", description="任一项为“否”时必须说明理由，案件将退回整改", max_len=3000)
    text_fields = ("reasons",)
    choice_fields = ("root_cause_found", "measures_done", "up_to_standard")


class EscalationHeadForm(SupervisionForm):
    explanation = _area("逾期原因及整改承诺", max_len=3000)
    text_fields = ("explanation",)


class EscalationOfficeForm(SupervisionForm):
    note = _area("督办意见", max_len=3000)
    points = ZhDecimalField("逾期扣分", validators=[Optional(), NumberRange(0, 100, "扣分应在 0–100 之间")],
                            widget=NumberInput(step="0.01", min=0), description="可选：0 或留空为不扣分")
    text_fields = ("note",)

    def to_data(self) -> dict[str, Any]:
        return {**super().to_data(), "points": _number(self.points.data)}


def _rect_context(case: Case) -> dict[str, Any]:
    rect = rectification.of_case(case)
    report_rows = rectification.reports(rect.id)
    return {
        "rect": rect,
        "plans": rectification.plans(rect.id),
        "reports": report_rows,
        "files": sv.files_of("rect_report", [r.id for r in report_rows]),
        "checks": rectification.checks(rect.id),
        "names": sv.names({p.submitted_by_id for p in rectification.plans(rect.id)}),
    }


# --------------------------------------------------------------------------- deduction appeal


class DeductionReviewForm(SupervisionForm):
    decision = _decision("复核结论", [("upheld", "申诉成立"), ("rejected", "申诉不成立")])
    action = RadioField("处理方式（申诉成立时）",
                        choices=_choices([("withdraw", "撤销该扣分"), ("change", "更正分值")]),
                        validators=[Optional()], validate_choice=False)
    new_points = ZhDecimalField("更正后分值", validators=[Optional(), NumberRange(0, 100, "分值应在 0–100 之间")],
                                widget=NumberInput(step="0.01", min=0), description="更正分值时填写")
    answer = _area("书面答复", max_len=3000)
    text_fields = ("answer",)
    choice_fields = ("decision", "action")

    def to_data(self) -> dict[str, Any]:
        return {**super().to_data(), "new_points": _number(self.new_points.data)}


def _appeal_context(case: Case) -> dict[str, Any]:
    appeal = deduction_appeals.of_case(case)
    return {"appeal": appeal, "item": db.session.get(LedgerItem, appeal.ledger_item_id)}


# --------------------------------------------------------------------------- monthly report


class MonthlyFillForm(SupervisionForm):
    template = "supervision/task_monthly_fill.html"
    has_files = True
    targets: list[Indicator] = []
    comment = _area("备注", max_len=2000)
    evidence = MultipleFileField("佐证材料")

    def to_data(self) -> dict[str, Any]:
        entries = [
            {"indicator_id": t.id, "progress": _number(self[f"progress-{t.id}"].data),
             "narrative": _text(self[f"narrative-{t.id}"].data)}
            for t in self.targets
        ]
        return {"entries": entries, "comment": _text(self.comment.data)}

    def _error_target(self, key: str) -> str | None:
        match = _ENTRY.match(key)
        if match and int(match.group(1)) < len(self.targets):
            name = f"{match.group(2)}-{self.targets[int(match.group(1))].id}"
            return name if name in self._fields else None
        return super()._error_target(key)

    def target_rows(self) -> list[tuple[Indicator, Any, Any]]:
        return [(t, self[f"progress-{t.id}"], self[f"narrative-{t.id}"]) for t in self.targets]


def _monthly_fill(task: HumanTask, case: Case) -> TaskForm:
    report = reports.of_case(case)
    targets = reports.issued_targets(report.cycle_id, report.unit_id)
    attrs: dict[str, Any] = {"targets": targets}
    for t in targets:
        attrs[f"progress-{t.id}"] = ZhDecimalField(
            "进度(%)", validators=[InputRequired("请填写进度"), NumberRange(0, 100, "进度应在 0–100 之间")],
            widget=NumberInput(step="0.01", min=0, max=100),
        )
        attrs[f"narrative-{t.id}"] = _area("进展情况")
    previous = {e.indicator_id: e for e in reports.entries(report.id)}
    defaults: dict[str, Any] = {}
    for ind_id, entry in previous.items():
        defaults[f"progress-{ind_id}"] = entry.progress
        defaults[f"narrative-{ind_id}"] = entry.narrative
    form = type("BoundMonthlyFillForm", (MonthlyFillForm,), attrs)(data=defaults)
    form.context = {"report": report, "previous": previous}
    return form


class MonthlySubmitForm(SupervisionForm):
    decision = _decision("审核意见", [("approve", "同意报送"), ("return", "退回修改")])
    reason = _area("理由 / 意见", description="退回时必须填写理由", max_len=2000)
    text_fields = ("reason",)
    choice_fields = ("decision",)


class OverdueForm(SupervisionForm):
    note = _area("督办意见", description="记录催报情况及处理意见", max_len=2000)
    text_fields = ("note",)


def _report_context(case: Case) -> dict[str, Any]:
    report = reports.of_case(case)
    targets = {t.id: t for t in reports.issued_targets(report.cycle_id, report.unit_id)}
    return {"report": report, "entries": reports.entries(report.id), "targets": targets,
            "files": sv.files_of("report", [report.id]).get(report.id, [])}


# --------------------------------------------------------------------------- mid-year, cadres


class MidyearSummaryForm(SupervisionForm):
    summary = _area("上半年目标完成情况")
    problems = _area("存在问题")
    plans = _area("下半年工作打算")
    text_fields = ("summary", "problems", "plans")


class MidyearEvaluateForm(SupervisionForm):
    decision = _decision("评估结论", [("approve", "评估完成"), ("return", "退回补充")])
    rating = RadioField("评估等次", choices=_choices(list(midyear.RATINGS.items())), validators=[Optional()],
                        validate_choice=False, description="评估完成时选择")
    comment = _area("评估意见")
    text_fields = ("comment",)
    choice_fields = ("decision", "rating")


class CadreSelfForm(SupervisionForm):
    self_score = ZhDecimalField("自评得分", validators=[InputRequired("请填写自评得分"),
                                                      NumberRange(0, 100, "得分应在 0–100 之间")],
                                widget=NumberInput(step="0.01", min=0, max=100))
    summary = _area("本月工作完成情况")
    text_fields = ("summary",)

    def to_data(self) -> dict[str, Any]:
        return {**super().to_data(), "self_score": _number(self.self_score.data)}


class CadreReviewForm(SupervisionForm):
    decision = _decision("审定意见", [("approve", "审定"), ("return", "退回重评")])
    final_score = ZhDecimalField("审定得分", validators=[Optional(), NumberRange(0, 100, "得分应在 0–100 之间")],
                                 widget=NumberInput(step="0.01", min=0, max=100), description="留空则采用自评得分")
    note = _area("审定意见说明", description="退回或调整得分时必须说明", max_len=2000)
    text_fields = ("note",)
    choice_fields = ("decision",)

    def to_data(self) -> dict[str, Any]:
        return {**super().to_data(), "final_score": _number(self.final_score.data)}


def _with(form_class: type[SupervisionForm], context: Any = None) -> Any:
    def build(task: HumanTask, case: Case) -> TaskForm:
        form = form_class()
        form.context = context(case) if context else {}
        return form

    return build


FORM_BUILDERS.update({
    "rectification.plan": _with(RectPlanForm, _rect_context),
    "rectification.review": _with(RectReviewForm, _rect_context),
    "rectification.report": _with(RectReportForm, _rect_context),
    "rectification.verify": _with(RectVerifyForm, _rect_context),
    "rectification.escalation_head": _with(EscalationHeadForm, _rect_context),
    "rectification.escalation_office": _with(EscalationOfficeForm, _rect_context),
    "deduction_appeal.review": _with(DeductionReviewForm, _appeal_context),
    "monthly_report.fill": _monthly_fill,
    "monthly_report.submit": _with(MonthlySubmitForm, _report_context),
    "monthly_report.overdue": _with(OverdueForm, _report_context),
    "midyear.summary": _with(MidyearSummaryForm, lambda case: {"history": midyear.history(midyear.of_case(case).id)}),
    "midyear.evaluate": _with(MidyearEvaluateForm, lambda case: {"history": midyear.history(midyear.of_case(case).id)}),
    "cadre.self": _with(CadreSelfForm, lambda case: {"cadre_rounds": cadres.rounds(cadres.of_case(case).id)}),
    "cadre.review": _with(CadreReviewForm, lambda case: {"cadre_rounds": cadres.rounds(cadres.of_case(case).id)}),
})
