"""HTTP entry points of the volunteer service."""
