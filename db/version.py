"""The collection schema this release reads and writes: the newest migration in
db/migrations/versions (tests/test_upgrade.py holds the two equal). Opening a collection compares
against it without loading the migrations; `gallery --version` names it without loading SQLAlchemy."""

SCHEMA_HEAD = "0007"
