"""Event schemas shared by every Muster service, and the area hierarchy reference data."""
