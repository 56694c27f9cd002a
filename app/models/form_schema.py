"""JSON schemas of generic step forms, uploaded with the BPMN file of a process deployed without code."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.models.base import Base


class FormSchema(Base):
    """One JSON schema file (``formJsonSchemaFilename``) of one deployed definition version."""

    __tablename__ = "process_form_schema"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    __table_args__ = (UniqueConstraint("definition_id", "filename", name="uq_process_form_schema_definition_file"),)
