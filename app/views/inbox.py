"""Placeholder; filled in by the inbox blueprint work."""

from flask import Blueprint

bp = Blueprint("inbox", __name__)
