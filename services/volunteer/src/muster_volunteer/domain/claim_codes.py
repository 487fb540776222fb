"""One-time claim codes of invitations: 16 characters a person can type or scan.

A code is 80 random bits in Crockford's base32 (digits and capitals without I, L, O, U),
shown as four groups of four: `7KQ2-M9XD-4HRT-PV3A`. Reading one forgives what people do
when they type: lower case, spaces, hyphens, `O` for zero and `I` or `L` for one. Only a
keyed hash of a code is ever stored, so a copy of the store does not yield working codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16  # 16 × 5 = 80 bits
GROUP = 4
_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -_")
# Keeps these digests apart from anything else the same key is used for.
_DIGEST_LABEL = b"muster/invitation-claim-code/v1\x00"


class ClaimCodeFormatError(ValueError):
    """Not a claim code: wrong length or a character no code contains."""


def new_claim_code() -> str:
    """A fresh code, grouped for reading aloud or typing."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def normalise_claim_code(typed: str) -> str:
    """The 16 characters of a typed code, in canonical form.

    Raises:
        ClaimCodeFormatError: it cannot be a code.
    """
    canonical = typed.upper().translate(_SEPARATORS).translate(_TYPOS)
    if len(canonical) != LENGTH or any(c not in ALPHABET for c in canonical):
        raise ClaimCodeFormatError(
            f"a claim code is {LENGTH} letters and digits, as `7KQ2-M9XD-4HRT-PV3A`"
        )
    return canonical


def claim_code_digest(key: bytes, code: str) -> str:
    """The keyed hash a code is stored and looked up by (of its canonical form)."""
    canonical = normalise_claim_code(code)
    return hmac.new(key, _DIGEST_LABEL + canonical.encode(), hashlib.sha256).hexdigest()
