"""A small database-backed rate limiter (per scope and client address, sliding window).

``hit(scope, client, limit=, window=)`` records one attempt and raises ``TooManyRequests`` when
the client already made ``limit`` attempts in the last ``window``. Addresses are stored only as
SHA-256 digests. Old rows of the scope are pruned on the way.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete, func, select

from app import clock
from app.errors import DomainError
from app.extensions import db
from app.models.throttle import RateHit


class TooManyRequests(DomainError):
    status = 429


def client_key(client: str) -> str:
    return hashlib.sha256((client or "unknown").encode()).hexdigest()


def hit(scope: str, client: str, *, limit: int, window: dt.timedelta, message: str | None = None) -> int:
    """Count one attempt; returns the attempts in the window including this one, or raises."""
    now = clock.now()
    key = client_key(client)
    since = now - window
    db.session.execute(delete(RateHit).where(RateHit.scope == scope, RateHit.at < now - 2 * window))
    used = db.session.scalar(
        select(func.count()).select_from(RateHit).where(
            RateHit.scope == scope, RateHit.client_key == key, RateHit.at > since
        )
    ) or 0
    if used >= limit:
        minutes = int(window.total_seconds() // 60)
        raise TooManyRequests(message or f"提交过于频繁：同一地址每 {minutes} 分钟最多提交 {limit} 次，请稍后再试")
    db.session.add(RateHit(scope=scope, client_key=key, at=now))
    db.session.flush()
    return used + 1
