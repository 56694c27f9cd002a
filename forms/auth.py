"""Forms of the auth blueprint: login and change own password."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=256)])
    submit = SubmitField("登录")


class PasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new = PasswordField("新密码", validators=[DataRequired("请输入新密码"), Length(max=256)])
    confirm = PasswordField(
        "确认新密码", validators=[DataRequired("请再次输入新密码"), EqualTo("new", "两次输入的新密码不一致")]
    )
    submit = SubmitField("修改密码")
