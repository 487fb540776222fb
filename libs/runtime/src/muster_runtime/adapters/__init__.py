"""Adapters: the ports of `muster_runtime.ports` on a real store, or in memory.

Only composition roots (a service's `bootstrap`), other adapters and tests import these.
"""
