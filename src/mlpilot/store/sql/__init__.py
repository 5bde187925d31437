"""The SQL implementation of the storage interfaces (SQLite and PostgreSQL)."""
