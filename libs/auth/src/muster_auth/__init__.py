"""Muster's security: who may call a service (bearer tokens, roles, area scope, revocations)
and the keys that wrap personal data's keys. Built on `muster_runtime`, never imported by it."""
