"""Alembic revisions, written as SQL files beside thin Python wrappers."""
