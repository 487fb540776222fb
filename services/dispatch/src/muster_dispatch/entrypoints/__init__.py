"""HTTP entry points of the dispatch service."""
