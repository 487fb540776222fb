"""Outbound webhooks: what a delivery carries, how it is signed, which destinations are
allowed, and how failed deliveries are retried. Pure: no I/O."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from muster_notify.domain.messages import Language, Message
from muster_notify.domain.texts import render

SIGNATURE_HEADER = "Muster-Signature"
TIMESTAMP_HEADER = "Muster-Timestamp"
DELIVERY_HEADER = "Muster-Delivery-Id"
# A receiver refuses a signature older (or newer) than this: a replayed delivery is stale.
REPLAY_TOLERANCE = timedelta(minutes=5)
SIGNATURE_SCHEME = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256, keyed by the subscription's secret, of the Unix
    timestamp, a dot and the exact body bytes."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def verify(secret: str, timestamp: str, body: bytes, given: str, now: datetime) -> bool:
    """What a receiver checks: the signature matches the body and timestamp, and the
    timestamp is within the replay tolerance of its clock. (A receiver that also keeps the
    delivery ids it accepted within the tolerance refuses every replay.)"""
    if not timestamp.isdigit():
        return False
    age = abs(now.timestamp() - int(timestamp))
    if age > REPLAY_TOLERANCE.total_seconds():
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), given)


def webhook_body(delivery_id: str, message: Message, area_id: str | None) -> dict[str, Any]:
    """What leaves Muster: the message's kind, ids and texts in both languages, and the
    volunteer's pseudonymous id. Never a name, phone, ID number or email address."""
    texts = {}
    for language in Language:
        title, body = render(message.kind, message.params, language)
        texts[language.value] = {"title": title, "body": body}
    return {
        "delivery_id": delivery_id,
        "message_id": message.message_id,
        "kind": message.kind.value,
        "volunteer_id": message.volunteer_id,
        "drive_id": message.drive_id,
        "activity_id": message.activity_id,
        "area_id": area_id,
        "caused_at": message.cause.at.isoformat(),
        "texts": texts,
    }


# --- destinations ---------------------------------------------------------------------------------


class DestinationRefusedError(ValueError):
    """A webhook URL that may not be called; `reason` says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AllowList:
    """Where webhooks may go. By default only public addresses: never loopback, private,
    link-local, multicast, reserved or unspecified ones, and never the stack's own ports
    (Kafka, the store, the services, metrics), so a subscription cannot reach inside."""

    own_ports: frozenset[int] = frozenset()
    allow_internal: bool = False  # development mode: receivers on this machine

    def check_url(self, url: str) -> tuple[str, int]:
        """The host and port of an acceptable URL (its addresses are checked apart)."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http"):
            raise DestinationRefusedError("a webhook URL is http(s)", "scheme")
        if not parts.hostname or parts.username or parts.password:
            raise DestinationRefusedError("a webhook URL names a host, and no credentials", "host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise DestinationRefusedError("the port is not a number", "port") from exc
        if port in self.own_ports:
            raise DestinationRefusedError(f"port {port} is one of the stack's own", "own_port")
        return parts.hostname, port

    def check_address(self, address: str) -> None:
        """Refuse an address the URL's host resolves to, unless it is public."""
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if self.allow_internal:
            return
        if not ip.is_global or ip.is_multicast:
            raise DestinationRefusedError(f"{address} is not a public address", "internal_address")


# --- retries --------------------------------------------------------------------------------------

FIRST_RETRY = timedelta(seconds=5)
LONGEST_WAIT = timedelta(hours=1)


def retry_at(attempts: int, failed_at: datetime, first: timedelta = FIRST_RETRY) -> datetime:
    """After the `attempts`-th failure, the next try: the wait doubles from `first`, up to
    an hour."""
    wait: timedelta = min(first * (2 ** max(attempts - 1, 0)), LONGEST_WAIT)
    return failed_at + wait
