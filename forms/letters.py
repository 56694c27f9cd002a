"""Web forms of the letters steps; builders register in forms.tasks.FORM_BUILDERS."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.models import Case, HumanTask, Letter
from app.services import letter_signing, letters
from forms.tasks import FORM_BUILDERS, TaskForm


class SignForm(TaskForm):
    """Shows the full letter text (template) and asks for explicit agreement."""

    template = "letters/_sign_form.html"
    letter: Letter | None = None
    party = ""

    agree = BooleanField("我已阅读并同意签署", validators=[DataRequired("请勾选“我已阅读并同意签署”")])
    comment = TextAreaField("备注", validators=[Length(max=1000, message="备注不能超过 1000 字")])

    def to_data(self) -> dict[str, Any]:
        return {"agree": bool(self.agree.data), "comment": (self.comment.data or "").strip()}


def build_sign_form(task: HumanTask, case: Case) -> SignForm:
    form = SignForm()
    form.letter = letter_signing.letter_of_case(case.id)
    form.party = letters.STEP_PARTY.get(task.step, "")
    return form


FORM_BUILDERS[letters.FORM_KEY] = build_sign_form
