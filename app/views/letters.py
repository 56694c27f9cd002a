"""Letters: a party's letter page, signing, the PDF, and the per-unit signing board."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("letters", __name__, url_prefix="/letters")
