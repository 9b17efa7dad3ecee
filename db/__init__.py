"""The collection database (SQLAlchemy 2.0, Alembic migrations): sitters, artworks, faces,
identifications, embedding sets and their vectors, ingest errors.

Importing this package opens nothing and loads nothing: `db.engine.open_database(url)` opens the
collection, `db.migrate` upgrades it.
"""
