"""Rate-limit hits (e.g. public objections per client address), kept in the database so the
limit holds across worker processes. Rows are pruned by the service once they are old."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.models.base import Base


class RateHit(Base):
    __tablename__ = "rate_hit"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(40))
    client_key: Mapped[str] = mapped_column(String(64))  # sha256 of the client address
    at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (Index("ix_rate_hit_scope_key_at", "scope", "client_key", "at"),)
