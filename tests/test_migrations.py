"""The migrations build exactly the schema the models describe (every change is a revision)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from app.models import Base


def _fk_shape(fk: Any) -> tuple[Any, ...]:
    return (
        fk.table.name,
        tuple(c.name for c in fk.columns),
        tuple(e.target_fullname for e in fk.elements),
    )


def _without_sqlite_unnamed_fks(differences: list[Any]) -> list[Any]:
    """SQLite's ADD COLUMN … REFERENCES (no table rebuild) cannot name the constraint, so such a
    foreign key reflects without its name (nor its inline ON DELETE, which SQLite keeps: PRAGMA
    foreign_key_list shows it); it is the same constraint when columns and target agree."""
    unnamed = {_fk_shape(d[1]) for d in differences if d[0] == "remove_fk" and d[1].name is None}
    renamed = {_fk_shape(d[1]) for d in differences if d[0] == "add_fk"} & unnamed
    return [d for d in differences if not (d[0] in ("remove_fk", "add_fk") and _fk_shape(d[1]) in renamed)]


def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    if db.engine.dialect.name == "sqlite":
        differences = _without_sqlite_unnamed_fks(differences)
    assert differences == [], "\n".join(map(str, differences))
