"""Placeholder; filled in by the admin blueprint work."""

from flask import Blueprint

bp = Blueprint("admin", __name__)
