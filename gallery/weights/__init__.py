"""Weights: a registry of named weight files and a checksummed local cache."""
