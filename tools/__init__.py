"""Repository tools (documentation generators) that see every service at once."""
