"""Leadership service: rollups by area, period and category, served as reports."""
