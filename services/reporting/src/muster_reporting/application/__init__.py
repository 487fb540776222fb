"""Rollups and read models of the reporting context."""
