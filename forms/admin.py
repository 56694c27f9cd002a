"""Forms of the admin blueprint: units, departments, groups, users, roles, CSV import."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from app.extensions import db
from app.models import Department, Group, Unit
from app.models.org import UNIT_KINDS
from app.models.user import ROLES
from app.services import auth, org

NONE = 0  # the "no selection" value of optional selects
_CODE = Regexp(r"^[A-Za-z0-9._-]+$", message="编码只能包含字母、数字和 . _ -")
_EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="邮箱格式不正确")


def _policy(form: FlaskForm, field: Any) -> None:
    problems = auth.password_problems(field.data or "")
    if problems:
        raise ValidationError("；".join(problems))


def unit_choices(blank: str | None = None) -> list[SelectChoice]:
    """Units in tree order, indented by depth."""
    choices = [SelectChoice(NONE, blank)] if blank else []
    choices += [SelectChoice(u.id, "\u3000" * depth + f"{u.name}（{u.code}）") for u, depth in org.unit_tree()]
    return choices


def group_choices() -> list[SelectChoice]:
    groups = db.session.scalars(select(Group).order_by(Group.code))
    return [SelectChoice(NONE, "（无分类）")] + [SelectChoice(g.id, f"{g.name}（{g.code}）") for g in groups]


def department_choices() -> list[SelectChoice]:
    """Departments grouped by unit (rendered as <optgroup>)."""
    out = [SelectChoice(NONE, "（无科室）")]
    rows = db.session.execute(
        select(Department, Unit.name).join(Unit, Unit.id == Department.unit_id).order_by(Unit.code, Department.code)
    )
    for dept, unit_name in rows:
        out.append(SelectChoice(dept.id, dept.name, optgroup=unit_name))
    return out


KIND_CHOICES = [SelectChoice(code, label) for code, label in UNIT_KINDS.items()]
ROLE_CHOICES = [SelectChoice(code, f"{label}（{code}）") for code, label in ROLES.items()]


class UnitForm(FlaskForm):
    code = StringField("单位编码", validators=[DataRequired("请填写单位编码"), Length(max=32), _CODE])
    name = StringField("单位名称", validators=[DataRequired("请填写单位名称"), Length(max=100)])
    kind = SelectField("单位类型", choices=KIND_CHOICES, default="department")
    parent_id = SelectField("上级单位", coerce=int, default=NONE)
    group_id = SelectField("考核分类", coerce=int, default=NONE)
    staff_count = IntegerField("编制人数", default=0, validators=[Optional(), NumberRange(min=0, message="不能为负")])
    submit = SubmitField("创建单位")

    def fill(self) -> UnitForm:
        self.parent_id.choices = unit_choices("（无，作为顶级单位）")
        self.group_id.choices = group_choices()
        return self


class UnitEditForm(FlaskForm):
    name = StringField("单位名称", validators=[DataRequired("请填写单位名称"), Length(max=100)])
    kind = SelectField("单位类型", choices=KIND_CHOICES)
    group_id = SelectField("考核分类", coerce=int, default=NONE)
    staff_count = IntegerField("编制人数", default=0, validators=[Optional(), NumberRange(min=0, message="不能为负")])
    submit = SubmitField("保存")

    def fill(self) -> UnitEditForm:
        self.group_id.choices = group_choices()
        return self


class MoveUnitForm(FlaskForm):
    parent_id = SelectField("新的上级单位", coerce=int, default=NONE)
    submit = SubmitField("移动")

    def fill(self) -> MoveUnitForm:
        self.parent_id.choices = unit_choices("（无，作为顶级单位）")
        return self


class DepartmentForm(FlaskForm):
    code = StringField("科室编码", validators=[DataRequired("请填写科室编码"), Length(max=32), _CODE])
    name = StringField("科室名称", validators=[DataRequired("请填写科室名称"), Length(max=100)])
    submit = SubmitField("添加科室")


class GroupForm(FlaskForm):
    code = StringField("分类编码", validators=[DataRequired("请填写分类编码"), Length(max=32), _CODE])
    name = StringField("分类名称", validators=[DataRequired("请填写分类名称"), Length(max=100)])
    submit = SubmitField("创建分类")


class GroupEditForm(FlaskForm):
    name = StringField("分类名称", validators=[DataRequired("请填写分类名称"), Length(max=100)])
    submit = SubmitField("保存")


class _UserPlacement(FlaskForm):
    unit_id = SelectField("所属单位", coerce=int, default=NONE)
    department_id = SelectField("所属科室", coerce=int, default=NONE)

    def fill(self) -> Any:
        self.unit_id.choices = unit_choices("（无）")
        self.department_id.choices = department_choices()
        return self

    def validate_department_id(self, field: Any) -> None:
        if field.data:
            dept = db.session.get(Department, field.data)
            if dept is None or dept.unit_id != self.unit_id.data:
                raise ValidationError("科室不属于所选单位")


class UserCreateForm(_UserPlacement):
    username = StringField(
        "用户名",
        validators=[
            DataRequired("请填写用户名"),
            Length(max=64),
            Regexp(r"^[A-Za-z0-9._-]+$", message="用户名只能包含字母、数字和 . _ -"),
        ],
    )
    display_name = StringField("姓名", validators=[DataRequired("请填写姓名"), Length(max=100)])
    email = StringField("邮箱", validators=[Optional(), Length(max=255), _EMAIL])
    phone = StringField("电话", validators=[Optional(), Length(max=32)])
    is_admin = BooleanField("系统管理员")
    password = PasswordField("初始密码", validators=[DataRequired("请填写初始密码"), _policy])
    submit = SubmitField("创建用户")


class UserEditForm(_UserPlacement):
    display_name = StringField("姓名", validators=[DataRequired("请填写姓名"), Length(max=100)])
    email = StringField("邮箱", validators=[Optional(), Length(max=255), _EMAIL])
    phone = StringField("电话", validators=[Optional(), Length(max=32)])
    submit = SubmitField("保存")


class ResetPasswordForm(FlaskForm):
    password = PasswordField("新密码", validators=[DataRequired("请填写新密码"), _policy])
    submit = SubmitField("重置密码")


class RoleForm(FlaskForm):
    role = SelectField("角色", choices=ROLE_CHOICES)
    unit_id = SelectField("范围单位（含下级）", coerce=int)
    submit = SubmitField("添加角色")

    def fill(self) -> RoleForm:
        self.unit_id.choices = unit_choices()
        return self


class ImportForm(FlaskForm):
    file = FileField(
        "CSV 文件", validators=[FileRequired("请选择文件"), FileAllowed(["csv", "txt"], "只能上传 CSV 文件")]
    )
    submit = SubmitField("导入")
