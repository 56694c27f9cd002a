"""Forms of the admin's process page: deploy a BPMN (with its JSON form schemas), start a case."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import MultipleFileField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from forms.admin import NONE, unit_choices


class DeployForm(FlaskForm):
    bpmn = FileField(
        "BPMN 文件",
        validators=[FileRequired("请选择 BPMN 文件"), FileAllowed(["bpmn", "xml"], "只能上传 .bpmn 或 .xml 文件")],
        description="须包含流程图布局(DI)；用户任务的泳道名称必须是角色代码",
    )
    schemas = MultipleFileField(
        "表单定义（JSON schema，可多选）",
        description="用户任务以 spiffworkflow:property formJsonSchemaFilename（或 schema）引用的 .json 文件",
    )
    submit = SubmitField("部署")

    def validate_schemas(self, field: MultipleFileField) -> None:
        for item in field.data or []:
            name = getattr(item, "filename", "") or ""
            if name and not name.lower().endswith(".json"):
                raise ValidationError(f"表单定义只能是 .json 文件：{name}")


class StartCaseForm(FlaskForm):
    unit_id = SelectField("办理单位", coerce=int, default=NONE, validators=[DataRequired("请选择单位")])
    title = StringField("标题（可空）", validators=[Length(max=300, message="标题不能超过 300 字")])
    submit = SubmitField("发起")

    def fill(self) -> StartCaseForm:
        self.unit_id.choices = unit_choices("（请选择单位）")
        return self
