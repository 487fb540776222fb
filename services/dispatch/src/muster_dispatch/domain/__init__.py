"""Dispatch's pure domain: drives, sign-up decisions, waitlists and team formation."""
