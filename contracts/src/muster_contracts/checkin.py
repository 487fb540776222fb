"""Proof of presence at an activity: rotating check-in codes and distance on the ground.

Codes are TOTP-like (RFC 4226 truncation of an HMAC-SHA256 over the activity id and the
time step), so the organiser's device and the volunteer service agree with no shared state
beyond the per-activity secret carried in `activity.scheduled`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote, urlsplit

DEFAULT_STEP_SECONDS = 60
DEFAULT_DIGITS = 6
DEFAULT_WINDOW_STEPS = 1
# How far back a code is still recognised as one that was shown once (expired, not wrong).
DEFAULT_EXPIRED_LOOKBACK_STEPS = 60
EARTH_RADIUS_METRES = 6_371_008.8  # mean radius (IUGG)
SECRET_BYTES = 32


class CodeCheck(StrEnum):
    """What a presented check-in code turned out to be."""

    VALID = "valid"
    EXPIRED = "expired"
    WRONG = "wrong"


@dataclass(frozen=True)
class Coordinates:
    """A WGS-84 position in decimal degrees."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ValueError(f"coordinates out of range: {self.latitude}, {self.longitude}")


def new_checkin_secret() -> bytes:
    """A fresh random per-activity secret."""
    return secrets.token_bytes(SECRET_BYTES)


def encode_secret(secret: bytes) -> str:
    """The secret as carried in `activity.scheduled` (standard base64)."""
    return base64.b64encode(secret).decode("ascii")


def decode_secret(encoded: str) -> bytes:
    return base64.b64decode(encoded, validate=True)


def _time_step(at: datetime, step_seconds: int) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("check-in codes need a timezone-aware time")
    if step_seconds <= 0:
        raise ValueError("step_seconds must be positive")
    return math.floor(at.timestamp()) // step_seconds


def _code_at_step(secret: bytes, activity_id: str, step: int, digits: int) -> str:
    if not 1 <= digits <= 9:
        # 31 bits of truncated HMAC carry at most 9 uniform decimal digits.
        raise ValueError("digits must be between 1 and 9")
    # The separator keeps (id, step) pairs unambiguous whatever the id contains.
    message = activity_id.encode("utf-8") + b"\x00" + step.to_bytes(8, "big", signed=True)
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFF_FFFF
    return str(value % 10**digits).zfill(digits)


def checkin_code(
    secret: bytes,
    activity_id: str,
    at: datetime,
    step_seconds: int = DEFAULT_STEP_SECONDS,
    digits: int = DEFAULT_DIGITS,
) -> str:
    """The code the organiser's device shows at `at` (it changes every `step_seconds`)."""
    return _code_at_step(secret, activity_id, _time_step(at, step_seconds), digits)


def classify_checkin_code(
    secret: bytes,
    activity_id: str,
    code: str,
    at: datetime,
    step_seconds: int = DEFAULT_STEP_SECONDS,
    window_steps: int = DEFAULT_WINDOW_STEPS,
    digits: int = DEFAULT_DIGITS,
    expired_lookback_steps: int = DEFAULT_EXPIRED_LOOKBACK_STEPS,
) -> CodeCheck:
    """Whether `code` is valid at `at`, was valid earlier (expired), or never was (wrong).

    Valid: the code of the current step or of one of the `window_steps` steps before it (a
    code scanned just before it rotated). Expired: the code of one of the
    `expired_lookback_steps` steps before that window. Codes of future steps are wrong.
    """
    if window_steps < 0 or expired_lookback_steps < 0:
        raise ValueError("window_steps and expired_lookback_steps must not be negative")
    current = _time_step(at, step_seconds)
    presented = code.strip()
    if len(presented) != digits or not (presented.isascii() and presented.isdigit()):
        return CodeCheck.WRONG
    presented_bytes = presented.encode("ascii")
    for back in range(window_steps + 1 + expired_lookback_steps):
        expected = _code_at_step(secret, activity_id, current - back, digits)
        if hmac.compare_digest(expected.encode("ascii"), presented_bytes):
            return CodeCheck.VALID if back <= window_steps else CodeCheck.EXPIRED
    return CodeCheck.WRONG


def verify_checkin_code(
    secret: bytes,
    activity_id: str,
    code: str,
    at: datetime,
    step_seconds: int = DEFAULT_STEP_SECONDS,
    window_steps: int = DEFAULT_WINDOW_STEPS,
    digits: int = DEFAULT_DIGITS,
) -> bool:
    """Whether `code` is the code of the current step or of one of `window_steps` before it."""
    return (
        classify_checkin_code(
            secret,
            activity_id,
            code,
            at,
            step_seconds=step_seconds,
            window_steps=window_steps,
            digits=digits,
            expired_lookback_steps=0,
        )
        is CodeCheck.VALID
    )


def distance_metres(a: Coordinates, b: Coordinates) -> float:
    """Great-circle (haversine) distance between two points, in metres."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    d_lat = lat2 - lat1
    d_lon = math.radians(b.longitude - a.longitude)
    h = math.sin(d_lat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(d_lon / 2) ** 2
    # min() guards asin against rounding just above 1 for antipodal points.
    return 2 * EARTH_RADIUS_METRES * math.asin(min(1.0, math.sqrt(h)))


def check_in_link(page_url: str, activity_id: str, code: str) -> str:
    """What the organiser's QR code encodes: the volunteer page at the activity, with the
    code of the moment (`https://muster.example/check-in/<activity>?code=123456`), so a
    phone's camera opens it; the page sends the code with the check-in."""
    return f"{page_url.rstrip('/')}/check-in/{quote(activity_id, safe='')}?code={quote(code)}"


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def page_url_problem(page_url: str) -> str | None:
    """Why a volunteer page address cannot go in a QR code, or None: it must be `https`
    (a phone asks for its location only on a secure page), except on this very machine."""
    parts = urlsplit(page_url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    return f"the volunteer page must be an https:// address, not {page_url!r}"
