"""`muster`: the operator's command line (tokens, demo, reports, benchmarks)."""

from muster_cli.main import main

__all__ = ["main"]
