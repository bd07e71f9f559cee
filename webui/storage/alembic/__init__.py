"""Alembic's scripts for the database's schema (run by storage.upgrade at start, no alembic.ini needed)."""
