"""Placeholder; filled in by the api blueprint work."""

from flask import Blueprint

bp = Blueprint("api", __name__)
