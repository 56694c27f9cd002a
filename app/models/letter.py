"""Responsibility letters (目标责任书) and commitment letters (承诺书), one case per letter."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.models.base import Base
from app.models.org import Department, Unit
from app.models.user import User

LETTER_KINDS = {"responsibility": "目标责任书", "commitment": "承诺书"}


class Letter(Base):
    """A letter between two people, generated from an issued target version.

    ``body`` is the canonical text the parties sign; ``sha256`` its digest. Once both parties
    have signed (status ``signed``) the body and digest can never change (DB trigger).
    """

    __tablename__ = "letter"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    kind: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    parent_letter_id: Mapped[int | None] = mapped_column(ForeignKey("letter.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("target_version.id"))
    party_a_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))  # unit head / dept head
    party_b_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)  # dept head / staff
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("wf_case.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | signed | void
    due_on: Mapped[dt.date | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    signed_at: Mapped[dt.datetime | None]

    unit: Mapped[Unit] = relationship()
    department: Mapped[Department | None] = relationship()
    party_a: Mapped[User] = relationship(foreign_keys=[party_a_id])
    party_b: Mapped[User] = relationship(foreign_keys=[party_b_id])
    signatures: Mapped[list[LetterSignature]] = relationship(back_populates="letter", order_by="LetterSignature.id")

    __table_args__ = (
        Index("ix_letter_cycle_unit_status", "cycle_id", "unit_id", "status"),
        Index("ix_letter_party_a", "party_a_id"),
    )


class LetterSignature(Base):
    """Who signed, when, and the SHA-256 of the text they signed (append-only)."""

    __tablename__ = "letter_signature"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"))
    party: Mapped[str] = mapped_column(String(1))  # "a" | "b"
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    digest: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    letter: Mapped[Letter] = relationship(back_populates="signatures")
    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("letter_id", "party", name="uq_letter_signature_letter_party"),)
