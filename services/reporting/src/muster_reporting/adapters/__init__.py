"""Adapters of the reporting service: clients of other services' HTTP APIs."""
