"""The document store behind the ports."""
