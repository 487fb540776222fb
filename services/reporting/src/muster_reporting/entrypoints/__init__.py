"""HTTP entry points of the reporting service."""
