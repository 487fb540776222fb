"""Command handlers and projections of the dispatch context."""
