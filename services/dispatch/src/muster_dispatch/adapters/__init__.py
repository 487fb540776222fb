"""Dispatch's storage of its own, on the document store."""
