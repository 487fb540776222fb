"""HTTP: the inbox, its live stream and the organisers' counts."""
