"""Organiser-facing service: drives, sign-up decisions, teams, activities, hours."""
