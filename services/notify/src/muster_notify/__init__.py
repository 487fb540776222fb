"""Notify: tells volunteers what concerns them, exactly once, in an inbox and a live stream."""
