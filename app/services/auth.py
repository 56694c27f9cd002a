"""Passwords, login with lockout, and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.util import identity_key

from app import clock
from app.errors import DomainError, ValidationFailed
from app.extensions import db
from app.models import ApiToken, User

_hasher = PasswordHasher()


def configure_hasher(time_cost: int, memory_kib: int) -> None:
    """Set the Argon2id cost (from app config; tests use a cheap one)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _hasher.hash("not-a-real-password-0A!")

MAX_FAILURES = 5
LOCK_MINUTES = 15
# Verified against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0A!")


class LoginRefused(DomainError):
    status = 401


def password_problems(password: str) -> list[str]:
    """The password policy: at least 10 characters from at least three of four classes."""
    problems = []
    if len(password) < 10:
        problems.append("密码长度至少 10 位")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        problems.append("密码需包含大写字母、小写字母、数字、符号中的至少三类")
    return problems


def hash_password(password: str) -> str:
    problems = password_problems(password)
    if problems:
        raise ValidationFailed("；".join(problems), {"password": problems})
    return _hasher.hash(password)


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = clock.now()


def authenticate(username: str, password: str) -> User:
    """Check credentials; 5 failures lock the account for 15 minutes. Raises LoginRefused."""
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    now = clock.now()
    if user is None:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused("用户名或密码错误")
    if user.locked_until and user.locked_until > now:
        minutes = int((user.locked_until - now).total_seconds() // 60) + 1
        raise LoginRefused(f"登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试")
    if not user.active:
        raise LoginRefused("账号已停用，请联系管理员")
    if not _verify(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            raise LoginRefused(f"连续 {MAX_FAILURES} 次登录失败，账号已锁定 {LOCK_MINUTES} 分钟")
        raise LoginRefused("用户名或密码错误")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, hours: int = 12) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(user_id=user.id, token_hash=_digest(token), expires_at=clock.now() + dt.timedelta(hours=hours))
    )
    return token


def user_for_token(token: str, *, with_roles: bool = False) -> User | None:
    """The active user of an unexpired token, in one statement (it runs on every API request).
    ``with_roles``: with the user's role assignments and unit in the same statement (what every
    page's navigation reads; otherwise two lazy loads)."""
    params = {"token_hash": _digest(token), "now": clock.now()}
    if with_roles:
        return db.session.execute(_TOKEN_USER_WITH_ROLES, params).unique().scalar_one_or_none()
    return db.session.scalar(_TOKEN_USER, params)


def user_by_id(user_id: int, *, with_roles: bool = False) -> User | None:
    """The user ``user_id`` (active or not), ``with_roles`` as in ``user_for_token``."""
    if not with_roles:
        return db.session.get(User, user_id)
    found = db.session.identity_map.get(identity_key(User, user_id))
    if found is not None and "roles" in found.__dict__ and "unit" in found.__dict__:
        return cast(User, found)
    return db.session.execute(_USER_WITH_ROLES, {"user_id": user_id}).unique().scalar_one_or_none()


# Built once: constructing the expression (and its cache key) costs more than running it.
_TOKEN_USER = (
    select(User)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(
        ApiToken.token_hash == bindparam("token_hash"),
        ApiToken.expires_at >= bindparam("now", type_=ApiToken.expires_at.type),
        User.active.is_(True),
    )
)
_WITH_ROLES = (joinedload(User.roles), joinedload(User.unit))
_TOKEN_USER_WITH_ROLES = _TOKEN_USER.options(*_WITH_ROLES)
_USER_WITH_ROLES = select(User).where(User.id == bindparam("user_id")).options(*_WITH_ROLES)


def change_password(user: User, current: str, new: str) -> None:
    """The user changes their own password; the current one must be given."""
    if not _verify(user.password_hash, current):
        raise ValidationFailed("当前密码不正确", {"current": ["当前密码不正确"]})
    if current == new:
        raise ValidationFailed("新密码不能与当前密码相同", {"new": ["新密码不能与当前密码相同"]})
    set_password(user, new)
