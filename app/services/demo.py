"""Demo data (placeholder)."""


def seed() -> bool:
    return False
