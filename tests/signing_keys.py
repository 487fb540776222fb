"""Asymmetric signing keys and tokens for tests: what an identity provider would issue."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(kid: str, key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk["alg"] = "RS256"
    else:
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        jwk["alg"] = "ES256"
    return jwk | {"kid": kid, "use": "sig"}


def signed_token(
    kid: str,
    key: PrivateKey,
    *,
    exp: timedelta = timedelta(minutes=10),
    iss: str = "https://idp.example",
    **extra: Any,
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "organiser-li",
        "role": "organiser",
        "area": "130203001",
        "iss": iss,
        "aud": "muster",
        "iat": now,
        "exp": now + exp,
        "jti": f"jti-{kid}-{time.monotonic_ns()}",
    } | extra
    algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})
