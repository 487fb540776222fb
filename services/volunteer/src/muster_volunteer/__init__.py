"""Volunteer-facing service: registration, profiles, sign-ups, check-in and check-out."""
