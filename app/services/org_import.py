"""Bulk import of users (with their roles) from CSV. All rows are checked first; nothing is
imported if any row is bad.

Columns: ``username,display_name,unit_code,department_code,roles,password``. ``roles`` is a
``;``-separated list of ``role@UNIT_CODE`` (``unit_officer@SCH1;supervisor@EDU``); a bare ``role``
is scoped to the user's own unit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import func, select

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Department, Unit, User
from app.models.user import ROLES
from app.services import auth, org

COLUMNS = ("username", "display_name", "unit_code", "department_code", "roles", "password")
MAX_ROWS = 5000


class ImportFailed(ValidationFailed):
    """The file was refused; ``problems`` lists every bad row (``第 N 行：...``)."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message, {"file": problems})
        self.problems = problems


@dataclass
class ImportResult:
    users: int = 0
    roles: int = 0


@dataclass
class _Row:
    line: int
    username: str
    display_name: str
    unit: Unit | None
    department: Department | None
    roles: list[tuple[str, Unit]] = field(default_factory=list)
    password: str = ""


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), falling back to GB18030 as saved by Chinese Excel."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ImportFailed("文件编码无法识别，请另存为 UTF-8 编码的 CSV", []) from exc


def import_users(text: str) -> ImportResult:
    rows = _parse(text)
    result = ImportResult()
    for row in rows:
        user = org.create_user(row.username, row.display_name, row.password, unit=row.unit, department=row.department)
        result.users += 1
        for role, scope in row.roles:
            org.assign_role(user, role, scope)
            result.roles += 1
    db.session.flush()
    return result


def _parse(text: str) -> list[_Row]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise ImportFailed("文件为空", [])
    header = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ImportFailed("缺少列：" + "、".join(missing) + "（需要 " + ",".join(COLUMNS) + "）", [])
    index = {name: header.index(name) for name in COLUMNS}

    units = {u.code: u for u in db.session.scalars(select(Unit))}
    departments = {(d.unit_id, d.code): d for d in db.session.scalars(select(Department))}
    existing = {name.lower() for name in db.session.scalars(select(func.lower(User.username)))}
    seen: dict[str, int] = {}
    problems: list[str] = []
    rows: list[_Row] = []

    for line_no, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(rows) + len(problems) >= MAX_ROWS:
            raise ImportFailed(f"一次最多导入 {MAX_ROWS} 行", [])
        cells = {name: (raw[i].strip() if i < len(raw) else "") for name, i in index.items()}
        reasons: list[str] = []
        row = _check_row(line_no, cells, units, departments, reasons)
        key = cells["username"].lower()
        if key and key in existing:
            reasons.append(f"用户名 {cells['username']} 已存在")
        elif key and key in seen:
            reasons.append(f"用户名 {cells['username']} 与第 {seen[key]} 行重复")
        if key:
            seen.setdefault(key, line_no)
        if reasons:
            problems.append(f"第 {line_no} 行：" + "；".join(reasons))
        elif row is not None:
            rows.append(row)

    if problems:
        raise ImportFailed(f"有 {len(problems)} 行数据有误，未导入任何用户", problems)
    if not rows:
        raise ImportFailed("文件中没有数据行", [])
    return rows


def _check_row(
    line_no: int,
    cells: dict[str, str],
    units: dict[str, Unit],
    departments: dict[tuple[int, str], Department],
    reasons: list[str],
) -> _Row | None:
    username = cells["username"]
    if not username:
        reasons.append("用户名为空")
    elif len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        reasons.append(f"用户名 {username} 只能包含字母、数字和 . _ -")
    if not cells["display_name"]:
        reasons.append("姓名为空")

    unit: Unit | None = None
    if cells["unit_code"]:
        unit = units.get(cells["unit_code"])
        if unit is None:
            reasons.append(f"单位编码 {cells['unit_code']} 不存在")
    department: Department | None = None
    if cells["department_code"]:
        if not cells["unit_code"]:
            reasons.append("填写科室编码时必须填写单位编码")
        elif unit is not None:
            department = departments.get((unit.id, cells["department_code"]))
            if department is None:
                reasons.append(f"单位 {unit.code} 下没有编码为 {cells['department_code']} 的科室")

    roles: list[tuple[str, Unit]] = []
    for item in cells["roles"].replace("；", ";").split(";"):
        item = item.strip()
        if not item:
            continue
        role, _, scope_code = (part.strip() for part in item.partition("@"))
        if role not in ROLES:
            reasons.append(f"角色 {role} 无效（可用：{'、'.join(ROLES)}）")
            continue
        scope = units.get(scope_code) if scope_code else unit
        if scope is None:
            reasons.append(f"角色 {item} 的范围单位{' ' + scope_code if scope_code else ''}不存在")
            continue
        if (role, scope) not in roles:
            roles.append((role, scope))

    password = cells["password"]
    if not password:
        reasons.append("初始密码为空")
    else:
        reasons.extend(auth.password_problems(password))

    if reasons:
        return None
    return _Row(line_no, username, cells["display_name"], unit, department, roles, password)
