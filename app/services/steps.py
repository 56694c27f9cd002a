"""The registry of step handlers: what each BPMN user task's ``form`` property means.

A handler validates the submitted data itself (types and domain rules), writes its domain
rows and completes the task through ``cases.begin_task``/``cases.finish_task``. The web
form, the API and the scenario runner all call ``submit`` with the same plain dict, so the
rules live in one place. ``fields`` describes the expected data for the API and for the
generic form of processes deployed without code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from werkzeug.datastructures import FileStorage

from app.errors import NotFound, ValidationFailed
from app.models import Case, HumanTask, User


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: str  # text | textarea | choice | bool | decimal | entries | file
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    item_fields: list[FieldSpec] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Files = dict[str, list[FileStorage]]
Submit = Callable[[int, User, dict[str, Any], Files], Case]
Describe = Callable[[HumanTask], list[FieldSpec]]


@dataclass(frozen=True)
class StepHandler:
    form_key: str
    describe: Describe
    submit: Submit


_REGISTRY: dict[str, StepHandler] = {}


def register(form_key: str, describe: Describe) -> Callable[[Submit], Submit]:
    def wrap(func: Submit) -> Submit:
        _REGISTRY[form_key] = StepHandler(form_key, describe, func)
        return func

    return wrap


# Modules whose import registers step handlers (one per process family).
HANDLER_MODULES = (
    "app.services.assessment", "app.services.negotiation", "app.services.negotiation_issue",
    "app.services.letters", "app.services.letter_signing",
    "app.services.generic_steps",
    # supervision (step 4)
    "app.services.rectification", "app.services.deduction_appeals", "app.services.reports", "app.services.midyear",
    "app.services.cadres",
    "app.services.operations",  # ops.cosign (加签)
)


_loaded = False


def _load_handlers() -> None:
    """Import every handler module once (a module that registered on its own import is not enough)."""
    global _loaded
    if _loaded:
        return
    import importlib

    for name in HANDLER_MODULES:
        importlib.import_module(name)
    _loaded = True


def handler_for(task: HumanTask) -> StepHandler:
    _load_handlers()
    handler = _REGISTRY.get(task.form_key or "")
    if handler is None:  # processes deployed without code: a form from the task's JSON schema
        from app.services import generic_steps

        handler = generic_steps.handler_for(task)
    if handler is None:
        raise NotFound(f"步骤 {task.name} 没有可用的表单 ({task.form_key})")
    return handler


def registered(form_key: str | None) -> StepHandler | None:
    """The handler registered for ``form_key`` (None for generic or unknown keys)."""
    _load_handlers()
    return _REGISTRY.get(form_key or "")


def submit(task: HumanTask, user: User, data: dict[str, Any], files: Files | None = None) -> Case:
    if not isinstance(data, dict):
        raise ValidationFailed("数据格式错误：应为对象", {"data": ["应为 JSON 对象"]})
    return handler_for(task).submit(task.id, user, data, files or {})


# --------------------------------------------------------------------------- validation helpers


class Checker:
    """Collects field errors; ``raise_if_any`` raises one ValidationFailed with all of them."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, label: str, *, required: bool = False, max_len: int = 5000) -> str:
        value = self.data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.add(name, f"{label}应为文本")
            return ""
        value = value.strip()
        if required and not value:
            self.add(name, f"请填写{label}")
        if len(value) > max_len:
            self.add(name, f"{label}不能超过 {max_len} 字")
        return value

    def choice(self, name: str, label: str, options: list[str]) -> str:
        value = self.data.get(name)
        if value not in options:
            self.add(name, f"请选择{label}")
            return ""
        return str(value)

    def boolean(self, name: str, label: str) -> bool:
        value = self.data.get(name, False)
        if isinstance(value, bool):
            return value
        if value in ("y", "yes", "true", "on", "1", 1):
            return True
        if value in ("", "n", "no", "false", "off", "0", 0, None):
            return False
        self.add(name, f"{label}应为是/否")
        return False

    def decimal(
        self, name: str, label: str, value: Any, *, minimum: Decimal | None = None, maximum: Decimal | None = None
    ) -> Decimal | None:
        if isinstance(value, bool) or value is None or value == "":
            self.add(name, f"请填写{label}")
            return None
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError):
            self.add(name, f"{label}应为数字")
            return None
        if not number.is_finite():
            self.add(name, f"{label}应为数字")
            return None
        if minimum is not None and number < minimum:
            self.add(name, f"{label}不能小于 {minimum}")
        if maximum is not None and number > maximum:
            self.add(name, f"{label}不能大于 {maximum}")
        if number.as_tuple().exponent < -2:  # type: ignore[operator]
            self.add(name, f"{label}最多两位小数")
        return number

    def entries(self, wanted: Collection[int], *, empty: str, noun: str) -> list[tuple[str, int, dict[str, Any]]]:
        """The ``entries`` list of per-indicator rows: (error-key prefix, indicator id, row) for each
        well-formed row whose ``indicator_id`` is one of ``wanted`` and not repeated."""
        raw = self.data.get("entries")
        if not isinstance(raw, list) or not raw:
            self.add("entries", empty)
            return []
        rows: list[tuple[str, int, dict[str, Any]]] = []
        seen: set[int] = set()
        for index, item in enumerate(raw):
            key = f"entries-{index}"
            if not isinstance(item, dict):
                self.add(key, "格式错误")
                continue
            try:
                indicator_id = int(item.get("indicator_id"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                self.add(f"{key}-indicator_id", f"{noun}无效")
                continue
            if indicator_id not in wanted or indicator_id in seen:
                self.add(f"{key}-indicator_id", f"{noun}无效或重复")
                continue
            seen.add(indicator_id)
            rows.append((key, indicator_id, item))
        return rows

    def raise_if_any(self) -> None:
        if self.errors:
            first = next(iter(self.errors.values()))[0]
            raise ValidationFailed(f"提交内容有误：{first}", self.errors)
