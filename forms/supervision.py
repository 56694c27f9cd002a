"""Forms of the supervision pages: findings, spot-check draws, rectifications, ledger appeals,
monthly reports, quarterly summaries, surveys (office and public) and cadres' months."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, MultipleFileField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import NumberInput

from app.models import Cycle, Indicator, SpotCheckDraw, Unit
from app.models.supervision import FINDING_CATEGORIES, INSPECTION_KINDS, SURVEY_CHOICES, SURVEY_DIMENSIONS
from app.services import social
from forms.tasks import ZhDecimalField, _choices, _number, _text

MONTH = Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message="月份格式应为 YYYY-MM")


def unit_choices(units: list[Unit], blank: str | None = None) -> list[SelectChoice]:
    out = [SelectChoice(0, blank)] if blank else []
    return out + [SelectChoice(u.id, f"{u.name}（{u.code}）") for u in units]


class FindingForm(FlaskForm):
    unit_id = SelectField("被检查单位", coerce=int, validators=[InputRequired("请选择被检查单位")])
    kind = RadioField("检查方式", choices=_choices(list(INSPECTION_KINDS.items())),
                      validators=[InputRequired("请选择检查方式")], invalid_choice_message="请选择检查方式")
    category = SelectField("检查类别", choices=_choices(list(FINDING_CATEGORIES.items())))
    draw_id = SelectField("抽查批次", coerce=int, description="随机抽查时选择抽中该单位的批次")
    found_on = StringField("检查日期", render_kw={"type": "date"}, validators=[DataRequired("请填写检查日期")])
    description = TextAreaField("问题描述", validators=[DataRequired("请填写问题描述"), Length(max=3000)])
    indicator_id = SelectField("所涉指标", coerce=int, description="可选")
    points = ZhDecimalField("扣分", default=0, validators=[InputRequired("请填写扣分（无扣分填 0）"),
                                                          NumberRange(0, 100, "扣分应在 0–100 之间")],
                            widget=NumberInput(step="0.01", min=0), description="大于 0 时记入扣分台账并上网公布")
    open_rectification = BooleanField("同时开启整改（由督查组核验销号）")
    rectification_title = StringField("整改事项", validators=[Length(max=200)], description="可选，默认按检查类别命名")
    evidence = MultipleFileField("佐证材料（照片、记录等）")

    def setup(self, units: list[Unit], indicators: list[Indicator], draws: list[SpotCheckDraw]) -> FindingForm:
        self.unit_id.choices = unit_choices(units)
        self.indicator_id.choices = [SelectChoice(0, "（不涉及具体指标）")] + [
            SelectChoice(i.id, f"{i.code} {i.name}") for i in indicators
        ]
        self.draw_id.choices = [SelectChoice(0, "（非随机抽查）")] + [
            SelectChoice(d.id, f"{d.period} · 第 {d.id} 批（{d.size} 个单位）") for d in draws
        ]
        return self

    def to_data(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id.data,
            "kind": self.kind.data,
            "category": self.category.data,
            "draw_id": self.draw_id.data or None,
            "found_on": _text(self.found_on.data),
            "description": _text(self.description.data),
            "indicator_id": self.indicator_id.data or None,
            "points": _number(self.points.data),
            "open_rectification": bool(self.open_rectification.data),
            "rectification_title": _text(self.rectification_title.data),
        }


class DrawForm(FlaskForm):
    period = StringField("抽查期间", validators=[DataRequired("请填写抽查期间"), Length(max=20)],
                         description="如 2025-03 或 2025年第一季度")
    size = IntegerField("抽取单位数", validators=[InputRequired("请填写抽取单位数"), NumberRange(1, 1000)])
    category = SelectField("检查类别", choices=[SelectChoice("", "（综合）")]
                           + _choices(list(FINDING_CATEGORIES.items())))
    seed = StringField("随机种子", validators=[Length(max=64)], description="留空由系统生成；种子记录在案，可随时复核")
    note = TextAreaField("说明", validators=[Length(max=1000)])


class RectificationForm(FlaskForm):
    unit_id = SelectField("整改单位", coerce=int, validators=[InputRequired("请选择整改单位")])
    source = RadioField("整改来源", choices=_choices([("complaint", "群众投诉"), ("appeal", "申诉成立")]),
                        default="complaint", validators=[InputRequired("请选择整改来源")])
    source_ref = StringField("申诉编号", validators=[Length(max=20)], description="来源为申诉时填写申诉编号")
    title = StringField("整改事项", validators=[DataRequired("请填写整改事项"), Length(max=200)])
    problem = TextAreaField("问题描述", validators=[DataRequired("请填写问题描述"), Length(max=5000)])
    verifier_role = RadioField("核验方", choices=_choices([("office", "绩效办"), ("inspector", "督查组")]),
                               default="office", validators=[InputRequired("请选择核验方")])


class AppealForm(FlaskForm):
    reason = TextAreaField("申诉理由", validators=[DataRequired("请填写申诉理由"), Length(max=3000)],
                           description="说明事实和依据；绩效办复核后书面答复")


class LedgerEntryForm(FlaskForm):
    unit_id = SelectField("单位", coerce=int, validators=[InputRequired("请选择单位")])
    kind = RadioField("类型", choices=_choices([("bonus", "加分"), ("deduction", "扣分"), ("veto", "一票否决")]),
                      validators=[InputRequired("请选择类型")])
    points = ZhDecimalField("分值", validators=[Optional(), NumberRange(0, 100, "分值应在 0–100 之间")],
                            widget=NumberInput(step="0.01", min=0), description="一票否决无需分值")
    month = StringField("月份", validators=[DataRequired("请填写月份"), MONTH], description="YYYY-MM")
    reason = TextAreaField("事由", validators=[DataRequired("请填写事由"), Length(max=2000)],
                           description="如：群众好评、媒体曝光的典型案例（重点扣分）")


class MonthForm(FlaskForm):
    month = StringField("月份", validators=[DataRequired("请填写月份"), MONTH], description="YYYY-MM")


class QuarterForm(FlaskForm):
    quarter = SelectField("季度", coerce=int, choices=[SelectChoice(q, f"第 {q} 季度") for q in (1, 2, 3, 4)])


class ConfirmForm(FlaskForm):
    """A CSRF-protected button."""


class SurveyForm(FlaskForm):
    unit_id = SelectField("被评价单位", coerce=int, validators=[InputRequired("请选择单位")])
    round = RadioField("评价轮次", choices=_choices(list(social.ROUNDS.items())), default="half_year",
                       validators=[InputRequired("请选择评价轮次")])


class TokenForm(FlaskForm):
    count = IntegerField("发放数量", default=50, validators=[InputRequired("请填写数量"), NumberRange(1, 500)])


class SurveyTokenForm(FlaskForm):
    token = StringField("调查码", validators=[DataRequired("请输入调查码"), Length(max=32)],
                        description="调查码印在发放给您的评价卡上，每个调查码只能使用一次")


class SurveyAnswerForm(FlaskForm):
    token = StringField("调查码", validators=[DataRequired("请输入调查码"), Length(max=32)])
    comment = TextAreaField("意见建议（可选）", validators=[Length(max=1000)])

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {dim: self[dim].data for dim in SURVEY_DIMENSIONS}
        data["comment"] = _text(self.comment.data)
        return data


for _dim, _label in SURVEY_DIMENSIONS.items():
    setattr(SurveyAnswerForm, _dim, RadioField(
        _label, choices=_choices(list(SURVEY_CHOICES.items())), validators=[InputRequired(f"请评价“{_label}”")],
        invalid_choice_message=f"请评价“{_label}”",
    ))


class CadreMonthForm(FlaskForm):
    unit_id = SelectField("单位", coerce=int, validators=[InputRequired("请选择单位")])
    month = StringField("月份", validators=[DataRequired("请填写月份"), MONTH], description="YYYY-MM")


def cycle_label(cycle: Cycle | None) -> str:
    return cycle.title if cycle else "（尚未开设考核年度）"
