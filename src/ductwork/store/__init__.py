"""Persistence: SQLAlchemy Core tables, engine, queries, queue claims, migrations."""
