"""The collection database (SQLAlchemy 2.0, Alembic migrations): sitters, artworks, faces,
identifications, embedding sets and their vectors, ingest errors.

Importing this package opens nothing; `open_database(url)` does.
"""

from db.engine import Database, DatabaseError, open_database

__all__ = ["Database", "DatabaseError", "open_database"]
