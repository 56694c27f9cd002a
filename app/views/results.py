"""Results (office and committee): ledger, group rankings, committee review, exports, archive."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("results", __name__, url_prefix="/results")
