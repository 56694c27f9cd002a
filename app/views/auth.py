"""Placeholder; filled in by the auth blueprint work."""

from flask import Blueprint

bp = Blueprint("auth", __name__)
