"""Command handlers of the volunteer context."""
