"""Forms of the approval operations (task page panel, bulk page, proxy settings) and the co-sign step form.

People are entered by user name (账号), several separated by commas/spaces; ``people()`` resolves
them through ``ops_common.user_ids_by_username`` (unknown or inactive names are field errors).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, Field, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app import clock
from app.errors import ValidationFailed
from app.models import Case, HumanTask
from app.services.ops_common import user_ids_by_username
from forms.tasks import FORM_BUILDERS, TaskForm, _choices

_REASON = [Length(max=2000, message="不能超过 2000 字")]


class _PeopleMixin:
    """A ``users`` field of user names resolved to ids by ``validate_users``."""

    user_ids: list[int]

    def validate_users(self, field: Field) -> None:
        try:
            self.user_ids = user_ids_by_username(field.data or "")
        except ValidationFailed as exc:
            raise ValidationError(exc.message) from exc


class ReturnForm(FlaskForm):
    # labels avoid the word 退回: browser tests pick the step form's 退回 radio by its label
    target_step = SelectField("回到环节", choices=[], validate_choice=True)
    reason = TextAreaField("原因说明", validators=[DataRequired("请填写退回原因"), *_REASON])


class TransferForm(FlaskForm):
    to_user_id = SelectField("转办给", coerce=int, choices=[], validate_choice=True)
    reason = TextAreaField("转办理由", validators=[DataRequired("请填写转办理由"), *_REASON])


class DelegateForm(_PeopleMixin, FlaskForm):
    users = StringField("委派给（账号）", validators=[DataRequired("请填写受委派人账号")],
                        description="本单位同事或本案件范围内同一角色的人员")
    reason = TextAreaField("委派事项", validators=[DataRequired("请填写委派事项"), *_REASON])

    def validate_users(self, field: Field) -> None:
        super().validate_users(field)
        if len(self.user_ids) != 1:
            raise ValidationError("只能委派给一人")


class CosignAddForm(_PeopleMixin, FlaskForm):
    users = StringField("加签人（账号，可多个）", validators=[DataRequired("请填写加签人账号")])
    reason = TextAreaField("加签说明", validators=[DataRequired("请填写加签说明"), *_REASON])


class CopyForm(_PeopleMixin, FlaskForm):
    users = StringField("抄送给（账号，可多个）", validators=[DataRequired("请填写抄送人账号")])
    note = TextAreaField("抄送说明", validators=[Optional(), *_REASON])


class UrgeForm(FlaskForm):
    note = TextAreaField("催办说明", validators=[Optional(), Length(max=500, message="不能超过 500 字")])


class ResolveForm(FlaskForm):
    comment = TextAreaField("处理意见", validators=[DataRequired("请填写处理意见"), *_REASON])


class WithdrawForm(FlaskForm):
    reason = TextAreaField("撤回理由", validators=[DataRequired("请填写撤回理由"), *_REASON])


class CsrfForm(FlaskForm):
    """A button that only needs its CSRF token (e.g. 结束代理)."""


class BulkForm(FlaskForm):
    comment = TextAreaField("审批意见（可选）", validators=[Optional(), *_REASON])

    def task_ids(self, raw: list[str]) -> list[int]:
        return [int(v) for v in raw if v.isdigit()]


class ProxyForm(_PeopleMixin, FlaskForm):
    users = StringField("代理人（账号）", validators=[DataRequired("请填写代理人账号")])
    starts_at = DateTimeLocalField("开始时间", format="%Y-%m-%dT%H:%M", validators=[InputRequired("请填写开始时间")])
    ends_at = DateTimeLocalField("结束时间", format="%Y-%m-%dT%H:%M", validators=[InputRequired("请填写结束时间")])
    reason = TextAreaField("代理事由", validators=[DataRequired("请填写代理事由"), Length(max=500)])

    def validate_users(self, field: Field) -> None:
        super().validate_users(field)
        if len(self.user_ids) != 1:
            raise ValidationError("只能设置一名代理人")

    @staticmethod
    def utc(value: dt.datetime | None) -> dt.datetime:
        """A China-local datetime-local input as naive UTC (the storage convention)."""
        assert value is not None
        return value.replace(tzinfo=clock.CST).astimezone(dt.UTC).replace(tzinfo=None)


class CosignForm(TaskForm):
    """The step form of a co-sign row (form key ``ops.cosign``)."""

    decision = RadioField("加签意见", choices=_choices([("approve", "同意"), ("return", "退回")]),
                          validators=[InputRequired("请选择加签意见")], invalid_choice_message="请选择加签意见")
    comment = TextAreaField("意见", validators=_REASON, description="退回时必须填写理由；退回将使主任务退回上一环节")

    def validate_comment(self, field: Field) -> None:
        if self.decision.data == "return" and not (field.data or "").strip():
            raise ValidationError("退回时必须填写理由")

    def to_data(self) -> dict[str, Any]:
        return {"decision": self.decision.data, "comment": (self.comment.data or "").strip()}


def _cosign_form(task: HumanTask, case: Case) -> TaskForm:
    return CosignForm()


FORM_BUILDERS["ops.cosign"] = _cosign_form
