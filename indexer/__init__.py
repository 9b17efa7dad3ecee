"""Batch indexing of a collection folder: reader -> mapper -> writer stages and their runner.

Importing this package loads no model and opens no database.
"""
