"""The performance office's pages (绩效办): cycles, schemes, the indicator catalogue, negotiation board."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("office", __name__, url_prefix="/office")
