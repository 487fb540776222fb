"""What the issuer of development tokens (`muster token`) and the services that verify them
agree on by default: the issuer and audience claims, and the published development secret
(which no production deployment may keep). No dependencies: the CLI imports it."""

from __future__ import annotations

DEV_JWT_SECRET = "muster-dev-secret-change-me-in-production-0123456789"
DEFAULT_ISSUER = "muster"
DEFAULT_AUDIENCE = "muster"
