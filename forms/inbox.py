"""Forms of the inbox blueprint that are not workflow steps."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length


class AppealForm(FlaskForm):
    """提出申诉 on a case in publicity."""

    reason = TextAreaField(
        "申诉理由",
        validators=[DataRequired("请填写申诉理由"), Length(max=3000, message="申诉理由不能超过 3000 字")],
        description="请写明对考核结果的异议及依据，绩效办将复核并书面答复。",
    )
    submit = SubmitField("提出申诉")
