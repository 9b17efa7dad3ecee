"""Looking after a collection: backup, restore and schema upgrades."""
