"""Forms of the office (考核方案) and unit (方案备案) pages. The services re-check every rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import NumberInput

from app.models import Cycle, CycleUnit, Group, Indicator, Unit
from app.models.cycle import DEFAULT_SETTINGS
from app.services import cycles
from forms.tasks import ZhDecimalField, _choices


class ZhDateField(DateField):
    """A date input (YYYY-MM-DD) with a Chinese message for a malformed value."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError("日期格式应为 YYYY-MM-DD") from exc


def _date_field(label: str, description: str = "") -> ZhDateField:
    return ZhDateField(label, description=description, format="%Y-%m-%d", validators=[Optional()])


class ActionForm(FlaskForm):
    """CSRF only: the POST buttons (issue, delete, start)."""


class _DatesMixin:
    starts_on = _date_field("考核起始日期", "留空为当年 1 月 1 日")
    ends_on = _date_field("考核截止日期", "留空为当年 12 月 31 日")
    scheme_due_on = _date_field("单位方案备案截止")
    targets_due_on = _date_field("目标下达截止（三上三下完成）")
    letters_due_on = _date_field("责任书签订截止")
    assessment_due_on = _date_field("年终自评截止")

    def dates(self) -> dict[str, dt.date | None]:
        return {key: self[key].data for key in cycles.DATE_LABELS}  # type: ignore[index]


class CycleForm(_DatesMixin, FlaskForm):
    year = IntegerField(
        "年度", validators=[InputRequired("请填写年度"), NumberRange(2000, 2100, "年度应在 2000–2100 之间")]
    )
    title = StringField("方案名称", validators=[DataRequired("请填写方案名称"), Length(max=200)])
    include_all = BooleanField("将所有已设置考核分类的单位纳入本年度考核", default=True)


class CycleEditForm(_DatesMixin, FlaskForm):
    title = StringField("方案名称", validators=[DataRequired("请填写方案名称"), Length(max=200)])

    @classmethod
    def of(cls, cycle: Cycle) -> CycleEditForm:
        return cls(data={"title": cycle.title, **{k: getattr(cycle, k) for k in cycles.DATE_LABELS}})


# --------------------------------------------------------------------------- settings

SETTING_FIELDS: list[tuple[str, str, str]] = [  # form field, label, service key
    ("weights_common", "共性指标分值", "weights-common"),
    ("weights_individual", "个性指标分值", "weights-individual"),
    ("weights_social", "社会评价分值", "weights-social"),
    ("tier_I", "Ⅰ档难度系数", "tier_coefficients-I"),
    ("tier_II", "Ⅱ档难度系数", "tier_coefficients-II"),
    ("tier_III", "Ⅲ档难度系数", "tier_coefficients-III"),
    ("bonus_cap", "加分上限", "bonus_cap"),
    ("share_A", "A 等（先进）比例", "grade_shares-A"),
    ("share_C", "C 等（落后）比例", "grade_shares-C"),
    ("quota_base_rate", "优秀名额基准比例", "quota-base_rate"),
    ("quota_A_add", "A 等单位优秀名额增减", "quota-A_add"),
    ("quota_C_add", "C 等单位优秀名额增减", "quota-C_add"),
    ("publicity_days", "公示期（工作日）", "publicity_days"),
]
SECTION_FIELD = {"weights": "weights_common", "grade_shares": "share_A", "settings": "weights_common"}


def _setting_form() -> type[FlaskForm]:
    attrs: dict[str, Any] = {}
    for name, label, _key in SETTING_FIELDS:
        attrs[name] = ZhDecimalField(
            label, validators=[InputRequired(f"请填写{label}")], widget=NumberInput(step="any")
        )
    attrs["veto_enabled"] = BooleanField("启用一票否决（否决项目的单位直接定为 C 等）")
    return type("SettingsFormBase", (FlaskForm,), attrs)


class SettingsForm(_setting_form()):  # type: ignore[misc]
    @classmethod
    def of(cls, settings: dict[str, Any]) -> SettingsForm:
        data: dict[str, Any] = {"veto_enabled": settings["veto_enabled"]}
        for name, _label, key in SETTING_FIELDS:
            section, _, sub = key.partition("-")
            value = settings[section][sub] if sub else settings[section]
            data[name] = value
        return cls(data=data)

    def to_settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: {} for k, v in DEFAULT_SETTINGS.items() if isinstance(v, dict)}
        for name, _label, key in SETTING_FIELDS:
            section, _, sub = key.partition("-")
            value = self[name].data
            text = "" if value is None else str(value)
            if sub:
                out[section][sub] = text
            else:
                out[section] = text
        out["veto_enabled"] = bool(self.veto_enabled.data)
        return out

    def attach(self, errors: dict[str, list[str]]) -> None:
        by_key = {key: name for name, _label, key in SETTING_FIELDS}
        for key, messages in errors.items():
            name = by_key.get(key) or SECTION_FIELD.get(key)
            if name:
                self[name].errors = [*self[name].errors, *messages]


# --------------------------------------------------------------------------- participants


def participants_form(units: list[Unit], groups: list[Group], current: dict[int, CycleUnit]) -> FlaskForm:
    """One checkbox and one group select per unit (``unit-<id>``, ``group-<id>``)."""
    attrs: dict[str, Any] = {}
    choices = _choices([("", "（单位默认分类）"), *((str(g.id), g.name) for g in groups)])
    for unit in units:
        attrs[f"unit-{unit.id}"] = BooleanField(unit.name, default=unit.id in current)
        row = current.get(unit.id)
        attrs[f"group-{unit.id}"] = SelectField(
            f"{unit.name} 考核分类", choices=choices, default=str(row.group_id) if row else "", validate_choice=False
        )
    return type("ParticipantsForm", (FlaskForm,), attrs)()


def selected_participants(form: FlaskForm, units: list[Unit]) -> list[tuple[int, int | None]]:
    out: list[tuple[int, int | None]] = []
    for unit in units:
        if form[f"unit-{unit.id}"].data:
            group = form[f"group-{unit.id}"].data or ""
            out.append((unit.id, int(group) if str(group).isdigit() else None))
    return out


# --------------------------------------------------------------------------- catalogue, schemes


class IndicatorForm(FlaskForm):
    code = StringField("指标编号", validators=[DataRequired("请填写指标编号"), Length(max=32)])
    name = StringField("指标名称", validators=[DataRequired("请填写指标名称"), Length(max=200)])
    points = ZhDecimalField("分值", validators=[InputRequired("请填写分值")], widget=NumberInput(step="0.01", min="0"))
    scoring_rule = TextAreaField("评分细则（加分/扣分）", validators=[DataRequired("请填写评分细则"), Length(max=2000)])
    sort_order = IntegerField("排序", default=0, validators=[Optional()])

    @classmethod
    def of(cls, indicator: Indicator) -> IndicatorForm:
        return cls(
            data={k: getattr(indicator, k) for k in ("code", "name", "points", "scoring_rule", "sort_order")}
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "code": (self.code.data or "").strip(),
            "name": (self.name.data or "").strip(),
            "points": "" if self.points.data is None else str(self.points.data),
            "scoring_rule": (self.scoring_rule.data or "").strip(),
            "sort_order": self.sort_order.data or 0,
        }


class SchemeForm(FlaskForm):
    title = StringField("方案名称", validators=[DataRequired("请填写方案名称"), Length(max=200)])
    summary = TextAreaField(
        "方案要点", validators=[DataRequired("请填写方案要点"), Length(max=5000)],
        description="本单位内部考核的对象、指标、方法、奖惩等要点",
    )
    attachment = FileField("方案文件", description="PDF、Word、OFD 等，可选")


def attach_errors(form: FlaskForm, errors: dict[str, list[str]]) -> list[str]:
    """Put service field errors on the matching inputs; return those that matched none."""
    loose: list[str] = []
    for key, messages in errors.items():
        if key in form:
            form[key].errors = [*form[key].errors, *messages]
        else:
            loose.extend(messages)
    return loose
