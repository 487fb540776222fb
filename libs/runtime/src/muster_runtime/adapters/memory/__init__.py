"""In-memory adapters: the ports in one process's memory, for fast unit tests of
application code. They keep every promise of the port (the contract suite runs on them)
and nothing survives the process."""
