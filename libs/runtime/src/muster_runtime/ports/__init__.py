"""Ports: what application code needs from storage, as small abstract interfaces.

Application and domain code depend on these alone; `muster_runtime.adapters` holds their
implementations (the document store, and memory for unit tests). See docs/architecture.md.
"""
