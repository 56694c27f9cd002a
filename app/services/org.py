"""Organisation services: units (with their closure table), groups, departments, users, roles."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from app import clock
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Department, Group, RoleAssignment, Unit, UnitClosure, User
from app.models.org import UNIT_KINDS
from app.models.user import ROLES
from app.services import auth


def create_group(code: str, name: str) -> Group:
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise ValidationFailed("分类编码和名称不能为空", {"code": ["必填"], "name": ["必填"]})
    if db.session.scalar(select(Group.id).where(Group.code == code)):
        raise Conflict(f"分类编码 {code} 已存在")
    group = Group(code=code, name=name)
    db.session.add(group)
    db.session.flush()
    return group


def create_unit(
    code: str,
    name: str,
    *,
    kind: str = "department",
    parent: Unit | None = None,
    group: Group | None = None,
    staff_count: int = 0,
) -> Unit:
    code, name = code.strip(), name.strip()
    errors: dict[str, list[str]] = {}
    if not code:
        errors["code"] = ["请填写单位编码"]
    if not name:
        errors["name"] = ["请填写单位名称"]
    if kind not in UNIT_KINDS:
        errors["kind"] = ["单位类型无效"]
    if staff_count < 0:
        errors["staff_count"] = ["编制人数不能为负"]
    if errors:
        raise ValidationFailed("单位信息有误", errors)
    if db.session.scalar(select(Unit.id).where(Unit.code == code)):
        raise Conflict(f"单位编码 {code} 已存在")
    unit = Unit(
        code=code,
        name=name,
        kind=kind,
        parent_id=parent.id if parent else None,
        group_id=group.id if group else None,
        staff_count=staff_count,
        created_at=clock.now(),
    )
    db.session.add(unit)
    db.session.flush()
    _link(unit.id, parent.id if parent else None)
    return unit


def _link(unit_id: int, parent_id: int | None) -> None:
    rows = [{"ancestor_id": unit_id, "descendant_id": unit_id, "depth": 0}]
    if parent_id is not None:
        for ancestor_id, depth in db.session.execute(
            select(UnitClosure.ancestor_id, UnitClosure.depth).where(UnitClosure.descendant_id == parent_id)
        ):
            rows.append({"ancestor_id": ancestor_id, "descendant_id": unit_id, "depth": depth + 1})
    db.session.execute(insert(UnitClosure), rows)


def move_unit(unit: Unit, new_parent: Unit | None) -> None:
    """Re-parent a unit and its subtree, keeping the closure table exact."""
    if (
        new_parent is not None
        and db.session.scalar(
            select(UnitClosure.depth).where(
                UnitClosure.ancestor_id == unit.id, UnitClosure.descendant_id == new_parent.id
            )
        )
        is not None
    ):
        raise ValidationFailed("不能把单位移动到它自己的下级单位之下", {"parent_id": ["上级单位无效"]})
    subtree = list(
        db.session.execute(
            select(UnitClosure.descendant_id, UnitClosure.depth).where(UnitClosure.ancestor_id == unit.id)
        )
    )
    sub_ids = [d for d, _ in subtree]
    # drop links from outside ancestors into the subtree
    outside = select(UnitClosure.ancestor_id).where(
        UnitClosure.descendant_id == unit.id, UnitClosure.ancestor_id != unit.id
    )
    db.session.execute(
        delete(UnitClosure).where(UnitClosure.descendant_id.in_(sub_ids), UnitClosure.ancestor_id.in_(outside))
    )
    unit.parent_id = new_parent.id if new_parent else None
    if new_parent is not None:
        ancestors = list(
            db.session.execute(
                select(UnitClosure.ancestor_id, UnitClosure.depth).where(UnitClosure.descendant_id == new_parent.id)
            )
        )
        rows = [
            {"ancestor_id": a, "descendant_id": d, "depth": ad + dd + 1} for a, ad in ancestors for d, dd in subtree
        ]
        db.session.execute(insert(UnitClosure), rows)
    db.session.flush()


def add_department(unit: Unit, code: str, name: str) -> Department:
    if not code.strip() or not name.strip():
        raise ValidationFailed("科室编码和名称不能为空", {"code": ["必填"], "name": ["必填"]})
    if db.session.scalar(select(Department.id).where(Department.unit_id == unit.id, Department.code == code)):
        raise Conflict(f"{unit.name} 已有编码为 {code} 的科室")
    dept = Department(unit_id=unit.id, code=code.strip(), name=name.strip())
    db.session.add(dept)
    db.session.flush()
    return dept


def create_user(
    username: str,
    display_name: str,
    password: str,
    *,
    unit: Unit | None = None,
    department: Department | None = None,
    is_admin: bool = False,
    email: str | None = None,
    phone: str | None = None,
) -> User:
    username = username.strip()
    if not username or not display_name.strip():
        raise ValidationFailed("用户名和姓名不能为空", {"username": ["必填"], "display_name": ["必填"]})
    if len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise ValidationFailed("用户名只能包含字母、数字和 . _ -", {"username": ["格式不正确"]})
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"用户名 {username} 已存在")
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash="",
        unit_id=unit.id if unit else None,
        department_id=department.id if department else None,
        is_admin=is_admin,
        email=email or None,
        phone=phone or None,
        created_at=clock.now(),
    )
    auth.set_password(user, password)
    db.session.add(user)
    db.session.flush()
    return user


def assign_role(user: User, role: str, unit: Unit) -> RoleAssignment:
    if role not in ROLES:
        raise ValidationFailed(f"未知角色 {role}", {"role": ["角色无效"]})
    existing = db.session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.user_id == user.id, RoleAssignment.role == role, RoleAssignment.unit_id == unit.id
        )
    )
    if existing is not None:
        return existing
    assignment = RoleAssignment(user_id=user.id, role=role, unit_id=unit.id, created_at=clock.now())
    db.session.add(assignment)
    db.session.flush()
    return assignment


def revoke_role(assignment_id: int) -> None:
    assignment = db.session.get(RoleAssignment, assignment_id)
    if assignment is None:
        raise NotFound("角色分配不存在")
    db.session.delete(assignment)


def holders(role: str, unit_id: int) -> list[User]:
    """Everyone holding ``role`` at ``unit_id`` or at any unit above it."""
    return list(
        db.session.scalars(
            select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(  # ancestors first, then (role, unit) index probes (see letters._people)
                RoleAssignment.role == role,
                RoleAssignment.unit_id.in_(select(UnitClosure.ancestor_id).where(UnitClosure.descendant_id == unit_id)),
                User.active.is_(True),
            )
            .order_by(User.id)
            .distinct()
        )
    )


# --- administration helpers (used by the admin blueprint) -----------------------------------


def update_unit(unit: Unit, *, name: str, kind: str, group: Group | None, staff_count: int) -> None:
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["请填写单位名称"]
    if kind not in UNIT_KINDS:
        errors["kind"] = ["单位类型无效"]
    if staff_count < 0:
        errors["staff_count"] = ["编制人数不能为负"]
    if errors:
        raise ValidationFailed("单位信息有误", errors)
    unit.name = name
    unit.kind = kind
    unit.group_id = group.id if group else None
    unit.staff_count = staff_count
    db.session.flush()


def rename_group(group: Group, name: str) -> None:
    if not name.strip():
        raise ValidationFailed("分类名称不能为空", {"name": ["必填"]})
    group.name = name.strip()
    db.session.flush()


def unit_tree() -> list[tuple[Unit, int]]:
    """Every unit in depth-first order (children by code) with its depth below its root."""
    units = list(db.session.scalars(select(Unit).order_by(Unit.code)))
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    out: list[tuple[Unit, int]] = []
    seen: set[int] = set()

    def walk(parent_id: int | None, depth: int) -> None:
        for child in children.get(parent_id, []):
            if child.id in seen:
                continue
            seen.add(child.id)
            out.append((child, depth))
            walk(child.id, depth + 1)

    walk(None, 0)
    return out


def _check_department(unit: Unit | None, department: Department | None) -> None:
    if department is not None and (unit is None or department.unit_id != unit.id):
        raise ValidationFailed("科室不属于所选单位", {"department_id": ["科室不属于所选单位"]})


def update_user(
    user: User,
    *,
    display_name: str,
    unit: Unit | None,
    department: Department | None,
    email: str | None = None,
    phone: str | None = None,
) -> None:
    if not display_name.strip():
        raise ValidationFailed("姓名不能为空", {"display_name": ["必填"]})
    _check_department(unit, department)
    user.display_name = display_name.strip()
    user.unit_id = unit.id if unit else None
    user.department_id = department.id if department else None
    user.email = (email or "").strip() or None
    user.phone = (phone or "").strip() or None
    db.session.flush()


def set_user_active(user: User, active: bool, *, actor: User | None = None) -> None:
    if not active and actor is not None and actor.id == user.id:
        raise ValidationFailed("不能停用自己的账号")
    from app.models import ApiToken

    user.active = active
    if not active:
        db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    db.session.flush()


def reset_password(user: User, password: str) -> None:
    """Administrator sets a new password; also clears any lockout."""
    auth.set_password(user, password)
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()


def unlock_user(user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()
