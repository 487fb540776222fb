"""Fault tests reuse the end-to-end system: real services, broker and store as processes."""

from tests.e2e.conftest import system

__all__ = ["system"]
