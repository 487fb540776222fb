"""Projections, deliveries, broadcasts and timers, behind small ports."""
