"""Placeholder; filled in by the public blueprint work."""

from flask import Blueprint

bp = Blueprint("public", __name__)
