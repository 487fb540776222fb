"""Muster event-sourcing runtime shared by every service."""
